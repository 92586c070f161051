// @ts-check
/**
 * @file The postcard subset the protocol signs and MACs (docs/protocol.md,
 * "Encodings"): varints (unsigned LEB128), strings and byte strings with a
 * varint length, fixed arrays as raw bytes, `Option` as `00` / `01 ‖ T`.
 * Canonical bytes are `postcard((label, tuple))`: the label as a string,
 * then the fields in order.
 */

import { concat, utf8Encode, utf8Decode } from './bytes.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */

/** Labels, each for exactly one purpose (`peer_proto::labels`). */
export const LABELS = Object.freeze({
  REGISTER: 'peergroup/register/v1',
  HELLO: 'peergroup/handshake/hello/v1',
  REPLY: 'peergroup/handshake/reply/v1',
  SESSION: 'peergroup/session/v1',
  REQUEST_KEYS: 'peergroup/request-keys/v1',
  REQUEST: 'peergroup/request/v1',
  RESPONSE: 'peergroup/response/v1',
  SEAL: 'peergroup/seal/v1',
  ENVELOPE: 'peergroup/envelope/v1',
  ROOM: 'peergroup/room/v1',
  MESSAGE: 'peergroup/message/v1',
  MESSAGE_SIG: 'peergroup/message-sig/v1',
  IDENTITY: 'peergroup/identity-file/v1',
});

/** Builds postcard bytes field by field. */
export class Writer {
  constructor() {
    /** @type {Uint8Array[]} */
    this.parts = [];
  }

  /**
   * An unsigned varint (u16/u32/u64).
   * @param {number|bigint} value non-negative, at most 2^64-1
   * @returns {this}
   */
  varint(value) {
    let v = BigInt(value);
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError('varint out of range');
    /** @type {number[]} */
    const out = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    this.parts.push(Uint8Array.from(out));
    return this;
  }

  /** Raw bytes (ids, nonces, hashes: fixed arrays). @param {Uint8Array} b @returns {this} */
  raw(b) {
    this.parts.push(b);
    return this;
  }

  /** A byte string: varint length then the bytes. @param {Uint8Array} b @returns {this} */
  bytes(b) {
    return this.varint(b.length).raw(b);
  }

  /** A string: varint length then UTF-8. @param {string} s @returns {this} */
  str(s) {
    return this.bytes(utf8Encode(s));
  }

  /** @param {boolean} present @returns {this} the `Option` tag */
  optionTag(present) {
    this.parts.push(Uint8Array.of(present ? 1 : 0));
    return this;
  }

  /** @returns {Bytes} */
  finish() {
    return concat(...this.parts);
  }
}

/** Starts canonical bytes with `label`. @param {string} label @returns {Writer} */
export function canonical(label) {
  return new Writer().str(label);
}

/** Reads postcard bytes exactly (used for message bodies). */
export class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.b = bytes;
    this.i = 0;
  }

  /**
   * A varint of at most `maxBits` bits, decoded as postcard does (which
   * accepts zero-padded encodings; its writer never makes them).
   * @param {number} [maxBits] 64 default
   * @returns {bigint}
   */
  varint(maxBits = 64) {
    let v = 0n;
    let shift = 0n;
    const maxBytes = Math.ceil(maxBits / 7);
    for (let n = 0; n < maxBytes; n++) {
      if (this.i >= this.b.length) throw new RangeError('truncated');
      const byte = this.b[this.i++];
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (v >> BigInt(maxBits) !== 0n) throw new RangeError('varint out of range');
        return v;
      }
      shift += 7n;
    }
    throw new RangeError('varint too long');
  }

  /** A varint that fits a JS number exactly. @param {number} [maxBits] @returns {number} */
  number(maxBits = 64) {
    const v = this.varint(maxBits);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('number too large');
    return Number(v);
  }

  /** @param {number} n @returns {Uint8Array} */
  raw(n) {
    if (this.i + n > this.b.length) throw new RangeError('truncated');
    const out = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return out;
  }

  /** @returns {Uint8Array} */
  bytes() {
    return this.raw(this.number(64));
  }

  /** @returns {string} */
  str() {
    return utf8Decode(this.bytes());
  }

  /** @returns {boolean} */
  optionTag() {
    const t = this.raw(1)[0];
    if (t > 1) throw new RangeError('bad option tag');
    return t === 1;
  }

  /** Throws unless every byte was read. */
  end() {
    if (this.i !== this.b.length) throw new RangeError('trailing bytes');
  }
}
