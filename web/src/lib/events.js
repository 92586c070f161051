// @ts-check
/**
 * @file The user's event stream as read with fetch: SSE parsing, unknown
 * event types skipped, the resume point (`Last-Event-ID`) tracked, and a
 * silent stream (no heartbeat) treated as broken. The authenticated
 * request that opens it is `PeerClient#events` (client.js); the events are
 * hints, never trusted data: what they point at is fetched with
 * authenticated calls.
 */

import { SseParser } from './sse.js';
import { PeerError } from './errors.js';

/** @typedef {import('./client.js').PeerEvent} PeerEvent */

/** The event types this client understands; others (from a newer node) are skipped. */
const KNOWN_EVENTS = new Set([
  'message', 'message_deleted', 'member_joined', 'member_left', 'key_request',
  'key_granted', 'key_rotated', 'room_updated', 'room_deleted', 'error',
]);

/** An event stream with no bytes for this long (3 missed heartbeats) is dead. */
const STREAM_IDLE_MS = 45000;

/**
 * A live event stream ({@link PeerClient#events}). Iterate it with
 * `for await`; it ends when the node closes the stream, throws on a
 * transport failure or when no byte (not even a heartbeat) came for 45 s
 * (reopen with `lastEventId` to resume).
 */
export class EventStream {
  /**
   * @param {ReadableStreamDefaultReader<Uint8Array>} reader
   * @param {AbortController} abort
   * @param {number|null} lastEventId
   */
  constructor(reader, abort, lastEventId) {
    /** @private */
    this.reader = reader;
    /** @private */
    this.abort = abort;
    /** @private */
    this.parser = new SseParser();
    /** @private */
    this.decoder = new TextDecoder();
    /** @private @type {import('./sse.js').SseEvent[]} */
    this.queue = [];
    /** @private @type {number|null} */
    this.last = lastEventId;
    /** @private */
    this.ended = false;
  }

  /** @returns {AsyncIterator<PeerEvent>} */
  [Symbol.asyncIterator]() {
    return {
      next: async () => {
        const e = await this.next();
        return e === null ? { done: true, value: undefined } : { done: false, value: e };
      },
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** The next event, or null when the stream ended. @returns {Promise<PeerEvent|null>} */
  async next() {
    for (;;) {
      const sse = this.queue.shift();
      if (sse) {
        if (!KNOWN_EVENTS.has(sse.event)) continue;
        /** @type {PeerEvent} */
        let event;
        try {
          event = JSON.parse(sse.data);
        } catch {
          throw new PeerError('invalid_response', 'event data is not JSON');
        }
        if (!event || typeof event !== 'object' || typeof event.type !== 'string') {
          throw new PeerError('invalid_response', 'event data is not an event');
        }
        // Error events carry id 0: they do not move the resume point.
        if (typeof event.id === 'number' && event.id !== 0) this.last = event.id;
        return event;
      }
      if (this.ended) return null;
      /** @type {ReturnType<typeof setTimeout>|undefined} */
      let timer;
      const idle = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new PeerError('network', 'the event stream went silent')), STREAM_IDLE_MS);
      });
      try {
        const r = /** @type {ReadableStreamReadResult<Uint8Array>} */ (await Promise.race([this.reader.read(), idle]));
        if (r.done) {
          this.ended = true;
          this.queue.push(...this.parser.push(this.decoder.decode()));
        } else {
          this.queue.push(...this.parser.push(this.decoder.decode(r.value, { stream: true })));
        }
      } catch (e) {
        this.close();
        if (e instanceof PeerError) throw e;
        throw new PeerError('network', 'the event stream broke');
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** The id of the last event returned (pass to `events()` to resume). @returns {number|null} */
  get lastEventId() {
    return this.last;
  }

  /** Closes the stream (aborts the fetch). */
  close() {
    this.ended = true;
    this.abort.abort();
    this.reader.cancel().catch(() => {});
  }
}
