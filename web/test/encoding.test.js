// @ts-check
// The event-stream parser: events split anywhere across chunks, every line
// end, comments, multi-line data, ids and retry.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SseParser } from '../src/lib/sse.js';
import { b64urlDecode, b64urlEncode } from '../src/lib/bytes.js';
import { Reader, Writer } from '../src/lib/postcard.js';

const STREAM = 'retry: 3000\n\n: ping\n\nid: 7\nevent: message\ndata: {"a":1}\n\nevent: error\ndata: line one\ndata: line two\n\n';
const WANT = [
  { event: 'message', data: '{"a":1}', id: '7' },
  { event: 'error', data: 'line one\nline two', id: null },
];

test('sse: whole stream, and split at every position', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(STREAM.slice(0, cut)), ...p.push(STREAM.slice(cut))];
    assert.deepEqual(got, WANT, `cut at ${cut}`);
    assert.equal(p.retry, 3000);
  }
});

test('sse: CRLF and CR line ends, split between CR and LF', () => {
  for (const eol of ['\r\n', '\r']) {
    const text = STREAM.replaceAll('\n', eol);
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      assert.deepEqual(got, WANT, `eol ${JSON.stringify(eol)} cut at ${cut}`);
    }
  }
});

test('sse: a block without data is no event; a field without colon', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('event: x\n\ndata\n\n'), [{ event: 'message', data: '', id: null }]);
});

test('base64url: canonical only', () => {
  assert.equal(b64urlEncode(Uint8Array.of(0xff, 0xfe)), '__4');
  assert.deepEqual(b64urlDecode('__4'), Uint8Array.of(0xff, 0xfe));
  for (const bad of ['__5', '__4=', '_', '+/4', 'a b']) assert.throws(() => b64urlDecode(bad), TypeError, bad);
  for (let n = 0; n < 40; n++) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(b64urlDecode(b64urlEncode(b)), b);
  }
});

test('postcard varints: boundaries and exact decoding', () => {
  /** @type {Array<[number, string]>} */
  const cases = [[0, '00'], [127, '7f'], [128, '8001'], [300, 'ac02'], [2 ** 32 - 1, 'ffffffff0f']];
  for (const [n, hex] of cases) {
    const b = new Writer().varint(n).finish();
    assert.equal(Buffer.from(b).toString('hex'), hex);
    assert.equal(new Reader(b).number(), n);
  }
  assert.equal(Buffer.from(new Writer().varint(0xffffffffffffffffn).finish()).toString('hex'), 'ffffffffffffffffff01');
  assert.throws(() => new Writer().varint(-1), RangeError);
  assert.throws(() => new Writer().varint(2n ** 64n), RangeError);
  assert.throws(() => new Reader(Uint8Array.of(0x80)).varint(), RangeError);
  assert.throws(() => new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f)).varint(32), RangeError);
});

test('postcard varints decode like postcard does: padded forms are read', () => {
  assert.equal(new Reader(Uint8Array.of(0x81, 0x00)).number(), 1);
});
