// @ts-check
/**
 * @file Node keys pinned on first use (like SSH's known_hosts): a node that
 * later presents another key for a pinned URL or node id is refused
 * (`wrong_node`), never re-pinned silently.
 */

import { toHex } from './bytes.js';
import { PeerError } from './errors.js';

/** @typedef {import('./primitives.js').PublicKey} PublicKey */

/**
 * Where node keys are pinned. Keys are strings such as
 * `url:http://host:port` and `node:<node id>`; values the SPKI SHA-256 as
 * lowercase hex. {@link MemoryPins} and {@link LocalStoragePins} implement it.
 * @typedef {object} PinStore
 * @property {(key: string) => (string|null|Promise<string|null>)} get
 * @property {(key: string, value: string) => (void|Promise<void>)} set
 */

/** Pins kept in memory. */
export class MemoryPins {
  constructor() {
    /** @type {Map<string, string>} */
    this.map = new Map();
  }
  /** @param {string} key */
  get(key) {
    return this.map.get(key) ?? null;
  }
  /** @param {string} key @param {string} value */
  set(key, value) {
    this.map.set(key, value);
  }
}

/** Pins kept in `localStorage` under `peergroup.pin.<key>`. */
export class LocalStoragePins {
  /** @param {Storage} [storage] */
  constructor(storage) {
    this.storage = storage ?? globalThis.localStorage;
  }
  /** @param {string} key */
  get(key) {
    return this.storage.getItem(`peergroup.pin.${key}`);
  }
  /** @param {string} key @param {string} value */
  set(key, value) {
    this.storage.setItem(`peergroup.pin.${key}`, value);
  }
}

/**
 * Pins `key` for `url` and `nodeId`, or fails (`wrong_node`) if either is
 * pinned to another key.
 * @param {PinStore} pins
 * @param {string} url
 * @param {string} nodeId
 * @param {PublicKey} key
 */
export async function pin(pins, url, nodeId, key) {
  const hash = toHex(key.spkiHash);
  for (const k of [`url:${url}`, `node:${nodeId}`]) {
    const pinned = await pins.get(k);
    if (pinned !== null && pinned !== hash) {
      throw new PeerError('wrong_node', `the node key of ${url || 'this origin'} changed since it was pinned: refusing to talk to it (if the node was really re-keyed, forget its pin)`);
    }
  }
  await pins.set(`url:${url}`, hash);
  await pins.set(`node:${nodeId}`, hash);
}
