// @ts-check
/**
 * @file A Server-Sent Events parser (the WHATWG event-stream format) for
 * streams read with fetch: feed it text chunks, take whole events out.
 * Handles `id:`, `event:`, `data:` (multi-line), `retry:`, comments and
 * CRLF / LF / CR line ends, and chunks split anywhere.
 */

/** @typedef {{event: string, data: string, id: string|null}} SseEvent */

/** Largest buffered partial line (bounds memory on a hostile stream). */
const MAX_LINE = 1 << 20;

export class SseParser {
  constructor() {
    /** @private */
    this.buf = '';
    /** @private */
    this.event = '';
    /** @private @type {string[]} */
    this.data = [];
    /** @private @type {string|null} */
    this.id = null;
    /** @private */
    this.sawCr = false;
    /** The last `retry:` value (ms), if any. @type {number|null} */
    this.retry = null;
  }

  /**
   * Feeds decoded text; returns the events it completed.
   * @param {string} chunk
   * @returns {SseEvent[]}
   */
  push(chunk) {
    /** @type {SseEvent[]} */
    const out = [];
    let text = chunk;
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A trailing CR may be the first half of CRLF.
      if (m[0] === '\r' && m.index === this.buf.length - 1) {
        this.sawCr = true;
      }
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    if (this.buf.length > MAX_LINE) throw new RangeError('event stream line too long');
    return out;
  }

  /** @private @param {string} line @returns {SseEvent|null} */
  line(line) {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const ev = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
      this.event = '';
      this.data = [];
      this.id = null;
      return ev;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (name) {
      case 'event': this.event = value; break;
      case 'data': this.data.push(value); break;
      case 'id': if (!value.includes('\0')) this.id = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break;
    }
    return null;
  }
}
