// @ts-check
/**
 * @file Byte helpers: base64url (no padding, canonical), hex, UTF-8,
 * concatenation, comparison, big-endian integers, randomness.
 */

/** Bytes backed by a plain ArrayBuffer (what WebCrypto takes). @typedef {Uint8Array<ArrayBuffer>} Bytes */

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** @type {Int16Array} */
const B64URL_INV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64URL.length; i++) t[B64URL.charCodeAt(i)] = i;
  return t;
})();

/**
 * base64url without padding.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function b64urlEncode(bytes) {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
  }
  return out;
}

/**
 * Decodes base64url without padding, refusing anything non-canonical
 * (padding, other alphabets, a length of 1 mod 4, non-zero trailing bits).
 * @param {string} text
 * @returns {Bytes}
 * @throws {TypeError} on malformed input
 */
export function b64urlDecode(text) {
  if (typeof text !== 'string' || text.length % 4 === 1) throw new TypeError('malformed base64url');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_INV[c] : -1;
    if (v < 0) throw new TypeError('malformed base64url');
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) throw new TypeError('malformed base64url');
  return out;
}

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** @param {string} hex @returns {Bytes} */
export function fromHex(hex) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('malformed hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8', { fatal: true });

/** @param {string} s @returns {Bytes} */
export function utf8Encode(s) {
  return /** @type {Bytes} */ (ENCODER.encode(s));
}

/**
 * Strict UTF-8 decoding.
 * @param {Uint8Array} b
 * @returns {string}
 * @throws {TypeError} on invalid UTF-8
 */
export function utf8Decode(b) {
  return DECODER.decode(b);
}

/** @param {...Uint8Array} parts @returns {Bytes} */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Equality in time independent of where the inputs differ.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** A copy backed by its own ArrayBuffer. @param {Uint8Array} b @returns {Bytes} */
export function copyBytes(b) {
  return new Uint8Array(b);
}

/** @param {number} n u32 @returns {Bytes} 4 bytes big-endian */
export function u32be(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0, false);
  return out;
}

/** @param {number|bigint} n u64 @returns {Bytes} 8 bytes big-endian */
export function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

/** @param {number} n @returns {Bytes} n random bytes */
export function randomBytes(n) {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** Overwrites bytes with zeros (best effort: JS may hold copies). @param {Uint8Array|null|undefined} b */
export function wipe(b) {
  if (b) b.fill(0);
}
