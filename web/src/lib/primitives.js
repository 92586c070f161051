// @ts-check
/**
 * @file The protocol's primitives on WebCrypto (`globalThis.crypto.subtle`,
 * so the same code runs in browsers and Node 20): SHA-256, HMAC-SHA256,
 * HKDF-SHA256, seal/open (AES-256-CBC + HMAC, encrypt-then-MAC), RSA
 * identity keys (RSASSA-PKCS1-v1_5 SHA-256 signatures, RSA-OAEP SHA-256
 * key transport) and P-256 ECDH — each exactly as docs/protocol.md and
 * crates/crypto state it.
 */

import { b64urlEncode, bytesEqual, concat, toHex, u64be, utf8Encode, randomBytes, copyBytes } from './bytes.js';
import { LABELS } from './postcard.js';
import { PeerError } from './errors.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */

const subtle = () => globalThis.crypto.subtle;

/** @param {ArrayBuffer} b @returns {Bytes} */
const u8 = (b) => new Uint8Array(b);

/** @param {Uint8Array} data @returns {Promise<Bytes>} */
export async function sha256(data) {
  return u8(await subtle().digest('SHA-256', copyBytes(data)));
}

/** @param {Uint8Array} key @param {string[]} usages @returns {Promise<CryptoKey>} */
function hmacKey(key, usages) {
  return subtle().importKey('raw', copyBytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, /** @type {KeyUsage[]} */ (usages));
}

/**
 * HMAC-SHA256 of `data` under a 32-byte key.
 * @param {Uint8Array} key
 * @param {Uint8Array} data
 * @returns {Promise<Bytes>}
 */
export async function hmacSha256(key, data) {
  return u8(await subtle().sign('HMAC', await hmacKey(key, ['sign']), copyBytes(data)));
}

/**
 * Checks an HMAC-SHA256 tag (WebCrypto's verify compares in constant time).
 * @param {Uint8Array} key
 * @param {Uint8Array} data
 * @param {Uint8Array} tag
 * @returns {Promise<boolean>}
 */
export async function hmacSha256Verify(key, data, tag) {
  if (tag.length !== 32) return false;
  return subtle().verify('HMAC', await hmacKey(key, ['verify']), copyBytes(tag), copyBytes(data));
}

/**
 * HKDF-SHA256. `salt` null means none (HKDF's default: 32 zero bytes, the
 * same HMAC key as an empty salt).
 * @param {Uint8Array} ikm
 * @param {Uint8Array|null} salt
 * @param {Uint8Array} info
 * @param {number} length bytes
 * @returns {Promise<Bytes>}
 */
export async function hkdf(ikm, salt, info, length) {
  const key = await subtle().importKey('raw', copyBytes(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: salt ? copyBytes(salt) : new Uint8Array(32), info: copyBytes(info) },
    key,
    length * 8,
  );
  return u8(bits);
}

/**
 * PBKDF2-HMAC-SHA256 (identity files).
 * @param {Uint8Array} password
 * @param {Uint8Array} salt
 * @param {number} iterations
 * @param {number} length bytes
 * @returns {Promise<Bytes>}
 */
export async function pbkdf2Sha256(password, salt, iterations, length) {
  const key = await subtle().importKey('raw', copyBytes(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle().deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: copyBytes(salt), iterations },
    key,
    length * 8,
  );
  return u8(bits);
}

// ------------------------------------------------------------------ seal

/** Bytes of the IV at the start of sealed bytes. */
export const IV_LEN = 16;
/** Bytes of the tag at the end. */
export const TAG_LEN = 32;
/** The shortest sealed value. */
export const MIN_SEALED_LEN = IV_LEN + 16 + TAG_LEN;

/**
 * `k_enc ‖ k_mac = HKDF(key, no salt, "peergroup/seal/v1")`.
 * @param {Uint8Array} key 32 bytes
 * @returns {Promise<{kEnc: Bytes, kMac: Bytes}>}
 */
export async function sealKeys(key) {
  const okm = await hkdf(key, null, utf8Encode(LABELS.SEAL), 64);
  return { kEnc: okm.slice(0, 32), kMac: okm.slice(32, 64) };
}

/** @param {Uint8Array} aad @param {Uint8Array} iv @param {Uint8Array} ct @returns {Bytes} */
function sealMacInput(aad, iv, ct) {
  return concat(u64be(aad.length), aad, iv, ct);
}

/**
 * seal with a given IV (test vectors; callers use {@link seal}).
 * @param {Uint8Array} key 32 bytes
 * @param {Uint8Array} iv 16 bytes
 * @param {Uint8Array} plaintext
 * @param {Uint8Array} aad
 * @returns {Promise<Bytes>} iv ‖ ct ‖ tag
 */
export async function sealWithIv(key, iv, plaintext, aad) {
  const { kEnc, kMac } = await sealKeys(key);
  const aes = await subtle().importKey('raw', kEnc, 'AES-CBC', false, ['encrypt']);
  const ct = u8(await subtle().encrypt({ name: 'AES-CBC', iv: copyBytes(iv) }, aes, copyBytes(plaintext)));
  const tag = await hmacSha256(kMac, sealMacInput(aad, iv, ct));
  kEnc.fill(0);
  kMac.fill(0);
  return concat(iv, ct, tag);
}

/**
 * Seals `plaintext` under a 32-byte key, bound to `aad` (random IV).
 * @param {Uint8Array} key
 * @param {Uint8Array} plaintext
 * @param {Uint8Array} [aad] default empty
 * @returns {Promise<Bytes>}
 */
export function seal(key, plaintext, aad = new Uint8Array(0)) {
  return sealWithIv(key, randomBytes(IV_LEN), plaintext, aad);
}

/**
 * Opens sealed bytes: refuses short input and partial blocks, checks the
 * tag in constant time before decrypting. Every failure is the same
 * `invalid_sealed_body` error (no padding oracle).
 * @param {Uint8Array} key
 * @param {Uint8Array} sealed
 * @param {Uint8Array} [aad] default empty
 * @returns {Promise<Bytes>}
 */
export async function open(key, sealed, aad = new Uint8Array(0)) {
  const fail = () => new PeerError('invalid_sealed_body', 'the sealed data does not open');
  if (sealed.length < MIN_SEALED_LEN || (sealed.length - IV_LEN - TAG_LEN) % 16 !== 0) throw fail();
  const iv = sealed.subarray(0, IV_LEN);
  const ct = sealed.subarray(IV_LEN, sealed.length - TAG_LEN);
  const tag = sealed.subarray(sealed.length - TAG_LEN);
  const { kEnc, kMac } = await sealKeys(key);
  try {
    if (!(await hmacSha256Verify(kMac, sealMacInput(aad, iv, ct), tag))) throw fail();
    const aes = await subtle().importKey('raw', kEnc, 'AES-CBC', false, ['decrypt']);
    try {
      return u8(await subtle().decrypt({ name: 'AES-CBC', iv: copyBytes(iv) }, aes, copyBytes(ct)));
    } catch {
      throw fail();
    }
  } finally {
    kEnc.fill(0);
    kMac.fill(0);
  }
}

// ------------------------------------------------------------------ RSA

/** Smallest and largest accepted RSA modulus. */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

const RSA_SIGN = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const RSA_OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };

/**
 * A checked public identity key (user or node).
 * @typedef {object} PublicKey
 * @property {Bytes} spki SubjectPublicKeyInfo DER (canonical)
 * @property {Bytes} spkiHash SHA-256 of it
 * @property {Bytes} id first 16 bytes of spkiHash (user or node id)
 * @property {number} bits modulus size
 * @property {CryptoKey} verifyKey RSASSA-PKCS1-v1_5 SHA-256
 * @property {CryptoKey} encryptKey RSA-OAEP SHA-256
 */

/**
 * The id of an SPKI: first 16 bytes of its SHA-256.
 * @param {Uint8Array} spki
 * @returns {Promise<Bytes>}
 */
export async function userIdOf(spki) {
  return (await sha256(spki)).slice(0, 16);
}

/** @param {Uint8Array} spki @returns {Promise<Bytes>} */
export function spkiHash(spki) {
  return sha256(spki);
}

/**
 * Parses and checks an RSA key in SPKI DER like `PublicIdentity::from_spki_der`:
 * 2048..=4096 bits, odd exponent in 3..2^32, canonical DER (re-encoding gives
 * the same bytes). Anything else: `invalid_field`.
 * @param {Uint8Array} spki
 * @returns {Promise<PublicKey>}
 */
export async function importPublicKey(spki) {
  const bad = () => new PeerError('invalid_field', 'not an acceptable RSA public key');
  const der = copyBytes(spki);
  /** @type {CryptoKey} */
  let verifyKey;
  try {
    verifyKey = await subtle().importKey('spki', der, RSA_SIGN, true, ['verify']);
  } catch {
    throw bad();
  }
  const alg = /** @type {RsaHashedKeyAlgorithm} */ (verifyKey.algorithm);
  const bits = alg.modulusLength;
  const e = alg.publicExponent;
  let eBits = 0;
  for (let i = 0; i < e.length; i++) if (e[i] !== 0) { eBits = (e.length - i - 1) * 8 + (32 - Math.clz32(e[i])); break; }
  const odd = e.length > 0 && (e[e.length - 1] & 1) === 1;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS || eBits < 2 || eBits > 32 || !odd) throw bad();
  const again = u8(await subtle().exportKey('spki', verifyKey));
  if (!bytesEqual(again, der)) throw bad();
  const encryptKey = await subtle().importKey('spki', der, RSA_OAEP, false, ['encrypt']);
  const hash = await sha256(der);
  return { spki: der, spkiHash: hash, id: hash.slice(0, 16), bits, verifyKey, encryptKey };
}

/**
 * Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature; its length must be the
 * modulus length. Failure: `bad_signature`.
 * @param {PublicKey} key
 * @param {Uint8Array} message
 * @param {Uint8Array} signature
 * @returns {Promise<void>}
 */
export async function verifySignature(key, message, signature) {
  const ok = signature.length === key.bits / 8 &&
    (await subtle().verify(RSA_SIGN, key.verifyKey, copyBytes(signature), copyBytes(message)));
  if (!ok) throw new PeerError('bad_signature', 'the signature does not verify');
}

/**
 * Signs with an RSASSA-PKCS1-v1_5 SHA-256 private key.
 * @param {CryptoKey} signKey
 * @param {Uint8Array} message
 * @returns {Promise<Bytes>}
 */
export async function signWith(signKey, message) {
  return u8(await subtle().sign(RSA_SIGN, signKey, copyBytes(message)));
}

/**
 * RSA-OAEP (SHA-256, MGF1-SHA256, empty label) encryption to a public key.
 * @param {PublicKey} key
 * @param {Uint8Array} secret
 * @returns {Promise<Bytes>}
 */
export async function oaepWrap(key, secret) {
  return u8(await subtle().encrypt(RSA_OAEP, key.encryptKey, copyBytes(secret)));
}

/**
 * RSA-OAEP decryption with a private key.
 * @param {CryptoKey} decryptKey
 * @param {Uint8Array} ciphertext
 * @returns {Promise<Bytes>}
 * @throws {PeerError} `invalid_sealed_body` when it does not decrypt
 */
export async function oaepUnwrap(decryptKey, ciphertext) {
  try {
    return u8(await subtle().decrypt(RSA_OAEP, decryptKey, copyBytes(ciphertext)));
  } catch {
    throw new PeerError('invalid_sealed_body', 'the wrapped secret does not decrypt');
  }
}

/**
 * Imports a PKCS#8 DER RSA private key for signing and for OAEP decryption
 * (WebCrypto keys have one algorithm each, so the same key is imported
 * twice).
 * @param {Uint8Array} pkcs8
 * @param {boolean} extractable
 * @returns {Promise<{signKey: CryptoKey, decryptKey: CryptoKey}>}
 */
export async function importPrivateKey(pkcs8, extractable) {
  const der = copyBytes(pkcs8);
  const signKey = await subtle().importKey('pkcs8', der, RSA_SIGN, extractable, ['sign']);
  const decryptKey = await subtle().importKey('pkcs8', der, RSA_OAEP, extractable, ['decrypt']);
  der.fill(0);
  return { signKey, decryptKey };
}

// ------------------------------------------------------------------ P-256

/** Bytes of an uncompressed P-256 point. */
export const POINT_LEN = 65;

/**
 * Imports a received P-256 point: 65 bytes, `04 ‖ x ‖ y`, on the curve
 * (WebCrypto checks it). Failure: `invalid_field`.
 * @param {Uint8Array} point
 * @returns {Promise<CryptoKey>}
 */
export async function importPoint(point) {
  const bad = () => new PeerError('invalid_field', 'not a valid P-256 point');
  if (point.length !== POINT_LEN || point[0] !== 4) throw bad();
  try {
    return await subtle().importKey('raw', copyBytes(point), { name: 'ECDH', namedCurve: 'P-256' }, true, []);
  } catch {
    throw bad();
  }
}

/**
 * A fresh P-256 key pair and its public point.
 * @returns {Promise<{privateKey: CryptoKey, point: Bytes}>}
 */
export async function generateEcdh() {
  const pair = /** @type {CryptoKeyPair} */ (
    await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
  );
  const point = u8(await subtle().exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, point };
}

/**
 * Imports a P-256 private scalar with its public point (test vectors).
 * @param {Uint8Array} d 32 bytes
 * @param {Uint8Array} point 65 bytes
 * @returns {Promise<{privateKey: CryptoKey, point: Bytes}>}
 */
export async function importEcdhPrivate(d, point) {
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    d: b64urlEncode(d),
    x: b64urlEncode(point.subarray(1, 33)),
    y: b64urlEncode(point.subarray(33, 65)),
  };
  const privateKey = await subtle().importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  return { privateKey, point: copyBytes(point) };
}

/**
 * ECDH: the 32-byte x-coordinate.
 * @param {CryptoKey} privateKey
 * @param {CryptoKey} publicKey
 * @returns {Promise<Bytes>}
 */
export async function ecdh(privateKey, publicKey) {
  return u8(await subtle().deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256));
}

export { toHex };
