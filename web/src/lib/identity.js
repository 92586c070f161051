// @ts-check
/**
 * @file Identities in the browser: an RSA key pair (RSASSA-PKCS1-v1_5 for
 * signatures and RSA-OAEP for key transport use the same key), generated
 * here, kept in IndexedDB, exported to and imported from the
 * passphrase-protected identity file that `peerctl export` / `peerctl
 * import` read and write (docs/protocol.md, "Identity files").
 *
 * Key storage and its trade-off: the keys the client uses every day
 * (`signKey`, `decryptKey`) are non-extractable CryptoKeys, stored in
 * IndexedDB as they are (structured clone keeps them non-extractable), so a
 * script on the page can use them but cannot read their bytes. Exporting
 * the identity needs the private key's bytes, so by default one extractable
 * copy (`exportKey`) is stored beside them; {@link IdentityStore#forgetExportKey}
 * drops it (after the user exported a file), after which the identity can no
 * longer be exported from this browser. Either way, clearing the site's data
 * deletes the identity: export it first.
 */

import { b64urlDecode, b64urlEncode, bytesEqual, randomBytes, utf8Encode } from './bytes.js';
import { LABELS, canonical } from './postcard.js';
import { importPrivateKey, importPublicKey, open, pbkdf2Sha256, seal, sealWithIv } from './primitives.js';
import { PeerError } from './errors.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */
/** @typedef {import('./primitives.js').PublicKey} PublicKey */

/**
 * A user's identity.
 * @typedef {object} Identity
 * @property {Bytes} spki SubjectPublicKeyInfo DER
 * @property {Bytes} userId 16 bytes: SHA-256(spki)[..16]
 * @property {string} userIdText base64url of userId
 * @property {PublicKey} publicKey
 * @property {CryptoKey} signKey RSASSA-PKCS1-v1_5 SHA-256, non-extractable
 * @property {CryptoKey} decryptKey RSA-OAEP SHA-256, non-extractable
 * @property {CryptoKey|null} exportKey extractable copy for {@link exportIdentity}, or null
 */

/** The `format` field of identity files. */
export const IDENTITY_FORMAT = 'peergroup-identity';
/** The version this code writes and reads. */
export const IDENTITY_VERSION = 1;
/** PBKDF2 iterations written by export. */
export const EXPORT_ITERATIONS = 600000;
/** Iterations accepted on import (bounds the work a file can ask for). */
export const MIN_ITERATIONS = 1000;
export const MAX_ITERATIONS = 10000000;
/** Salt bytes written; accepted 16..=64. */
export const SALT_LEN = 16;
/** The shortest passphrase export accepts (characters). */
export const MIN_PASSPHRASE_CHARS = 8;

const RSA_SIGN_GEN = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]) };

/**
 * Makes an Identity from its keys.
 * @param {Uint8Array} pkcs8 PKCS#8 DER of the private key
 * @param {Uint8Array} spki its public key
 * @param {boolean} keepExportKey keep an extractable copy for export
 * @returns {Promise<Identity>}
 */
async function assemble(pkcs8, spki, keepExportKey) {
  const publicKey = await importPublicKey(spki);
  const { signKey, decryptKey } = await importPrivateKey(pkcs8, false);
  const exportKey = keepExportKey ? (await importPrivateKey(pkcs8, true)).signKey : null;
  return {
    spki: publicKey.spki, userId: publicKey.id, userIdText: b64urlEncode(publicKey.id),
    publicKey, signKey, decryptKey, exportKey,
  };
}

/**
 * Generates a new identity (RSA, e = 65537).
 * @param {{bits?: 2048|3072|4096, exportable?: boolean}} [opts] bits default 2048; exportable (keep an export copy) default true
 * @returns {Promise<Identity>}
 */
export async function generateIdentity(opts = {}) {
  const bits = opts.bits ?? 2048;
  if (![2048, 3072, 4096].includes(bits)) throw new PeerError('invalid_argument', 'key size must be 2048, 3072 or 4096 bits');
  const pair = /** @type {CryptoKeyPair} */ (
    await globalThis.crypto.subtle.generateKey({ ...RSA_SIGN_GEN, modulusLength: bits }, true, ['sign', 'verify'])
  );
  const pkcs8 = new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', pair.privateKey));
  const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', pair.publicKey));
  try {
    return await assemble(pkcs8, spki, opts.exportable ?? true);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * The SPKI of a PKCS#8 RSA private key (through JWK: WebCrypto exports no
 * public key from a private one).
 * @param {Uint8Array} pkcs8
 * @returns {Promise<Bytes>}
 */
async function spkiOfPkcs8(pkcs8) {
  const subtle = globalThis.crypto.subtle;
  const priv = await subtle.importKey('pkcs8', new Uint8Array(pkcs8), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign']);
  const jwk = await subtle.exportKey('jwk', priv);
  const pub = await subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, ext: true }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
  return new Uint8Array(await subtle.exportKey('spki', pub));
}

/**
 * An identity from a PKCS#8 DER private key (e.g. a test fixture).
 * @param {Uint8Array} pkcs8
 * @param {{exportable?: boolean}} [opts]
 * @returns {Promise<Identity>}
 */
export async function identityFromPkcs8(pkcs8, opts = {}) {
  /** @type {Bytes} */
  let spki;
  try {
    spki = await spkiOfPkcs8(pkcs8);
  } catch {
    throw new PeerError('invalid_identity_file', 'the private key is not an RSA key in PKCS#8');
  }
  return assemble(pkcs8, spki, opts.exportable ?? true);
}

/**
 * The associated data binding a file's header to its sealed key:
 * canonical("peergroup/identity-file/v1", (version, iterations, salt, spki)).
 * @param {number} version
 * @param {number} iterations
 * @param {Uint8Array} salt
 * @param {Uint8Array} spki
 * @returns {Bytes}
 */
export function identityFileAad(version, iterations, salt, spki) {
  return canonical(LABELS.IDENTITY).varint(version).varint(iterations).bytes(salt).bytes(spki).finish();
}

/**
 * The file key: PBKDF2-HMAC-SHA256(UTF-8 passphrase as given, salt, iterations), 32 bytes.
 * @param {string} passphrase
 * @param {Uint8Array} salt
 * @param {number} iterations
 * @returns {Promise<Bytes>}
 */
export function identityFileKey(passphrase, salt, iterations) {
  return pbkdf2Sha256(utf8Encode(passphrase), salt, iterations, 32);
}

/**
 * An identity file (JSON).
 * @typedef {object} IdentityFile
 * @property {'peergroup-identity'} format
 * @property {1} version
 * @property {string} user_id base64url (informative; checked on import)
 * @property {string} spki base64url SPKI DER
 * @property {{name: 'pbkdf2-sha256', iterations: number, salt: string}} kdf
 * @property {'peergroup-seal-v1'} cipher
 * @property {string} sealed_key base64url of seal(file key, PKCS#8 DER, aad)
 */

/**
 * Exports an identity as a passphrase-protected file (JSON text).
 * @param {Identity} identity must hold its export key
 * @param {string} passphrase at least 8 characters
 * @param {{iterations?: number, salt?: Uint8Array, iv?: Uint8Array}} [opts] iterations default 600,000; salt/iv for tests only
 * @returns {Promise<string>}
 */
export async function exportIdentity(identity, passphrase, opts = {}) {
  if (!identity.exportKey) {
    throw new PeerError('invalid_argument', 'this identity was stored without its export key and cannot be exported from here');
  }
  if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
    throw new PeerError('invalid_argument', `the passphrase must have at least ${MIN_PASSPHRASE_CHARS} characters`);
  }
  const iterations = opts.iterations ?? EXPORT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new PeerError('invalid_argument', 'iterations out of range');
  }
  const salt = opts.salt ? new Uint8Array(opts.salt) : randomBytes(SALT_LEN);
  const pkcs8 = new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', identity.exportKey));
  const key = await identityFileKey(passphrase, salt, iterations);
  const aad = identityFileAad(IDENTITY_VERSION, iterations, salt, identity.spki);
  const sealed = opts.iv ? await sealWithIv(key, opts.iv, pkcs8, aad) : await seal(key, pkcs8, aad);
  pkcs8.fill(0);
  key.fill(0);
  /** @type {IdentityFile} */
  const file = {
    format: IDENTITY_FORMAT,
    version: IDENTITY_VERSION,
    user_id: identity.userIdText,
    spki: b64urlEncode(identity.spki),
    kdf: { name: 'pbkdf2-sha256', iterations, salt: b64urlEncode(salt) },
    cipher: 'peergroup-seal-v1',
    sealed_key: b64urlEncode(sealed),
  };
  return JSON.stringify(file, null, 2) + '\n';
}

/**
 * Reads an identity file's header without the passphrase: who it is.
 * @param {string} text
 * @returns {Promise<{userId: string, spki: Bytes, iterations: number, salt: Bytes, sealed: Bytes}>}
 * @throws {PeerError} `invalid_identity_file`
 */
export async function readIdentityFile(text) {
  const bad = (/** @type {string} */ why) => new PeerError('invalid_identity_file', `not a peergroup identity file: ${why}`);
  /** @type {any} */
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (!f || typeof f !== 'object' || f.format !== IDENTITY_FORMAT) throw bad('wrong format');
  if (f.version !== IDENTITY_VERSION) throw bad(`unsupported version ${String(f.version)}`);
  if (!f.kdf || f.kdf.name !== 'pbkdf2-sha256') throw bad('unsupported key derivation');
  if (f.cipher !== 'peergroup-seal-v1') throw bad('unsupported cipher');
  const iterations = f.kdf.iterations;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) throw bad('iterations out of range');
  /** @type {Bytes} */ let salt;
  /** @type {Bytes} */ let spki;
  /** @type {Bytes} */ let sealed;
  try {
    salt = b64urlDecode(f.kdf.salt);
    spki = b64urlDecode(f.spki);
    sealed = b64urlDecode(f.sealed_key);
  } catch {
    throw bad('malformed base64url');
  }
  if (salt.length < 16 || salt.length > 64) throw bad('salt length');
  if (sealed.length > 16384) throw bad('sealed key too large');
  /** @type {PublicKey} */
  let pub;
  try {
    pub = await importPublicKey(spki);
  } catch {
    throw bad('unacceptable public key');
  }
  if (f.user_id !== b64urlEncode(pub.id)) throw bad('user_id is not the id of its key');
  return { userId: f.user_id, spki, iterations, salt, sealed };
}

/**
 * Imports an identity file. A wrong passphrase (or a damaged file) is
 * `wrong_passphrase`; a file that is not an identity file is
 * `invalid_identity_file`.
 * @param {string} text
 * @param {string} passphrase
 * @param {{exportable?: boolean}} [opts] keep an export copy (default true)
 * @returns {Promise<Identity>}
 */
export async function importIdentity(text, passphrase, opts = {}) {
  const h = await readIdentityFile(text);
  const key = await identityFileKey(passphrase, h.salt, h.iterations);
  /** @type {Bytes} */
  let pkcs8;
  try {
    pkcs8 = await open(key, h.sealed, identityFileAad(IDENTITY_VERSION, h.iterations, h.salt, h.spki));
  } catch {
    throw new PeerError('wrong_passphrase', 'wrong passphrase, or the identity file is damaged');
  } finally {
    key.fill(0);
  }
  try {
    /** @type {Bytes} */
    let spki;
    try {
      spki = await spkiOfPkcs8(pkcs8);
    } catch {
      throw new PeerError('invalid_identity_file', 'the sealed key is not an RSA key in PKCS#8');
    }
    if (!bytesEqual(spki, h.spki)) throw new PeerError('invalid_identity_file', 'the sealed key does not match the file\'s public key');
    return await assemble(pkcs8, spki, opts.exportable ?? true);
  } finally {
    pkcs8.fill(0);
  }
}

// ------------------------------------------------------------ IndexedDB

const DB_NAME = 'peergroup';
const STORE = 'identity';
const RECORD = 'current';

/**
 * What is stored: the CryptoKeys themselves (non-extractable ones stay so)
 * plus the public key and metadata.
 * @typedef {{spki: Bytes, signKey: CryptoKey, decryptKey: CryptoKey, exportKey: CryptoKey|null, name: string|null, exported: boolean, created_at: number}} StoredIdentity
 */

/** @param {IDBRequest} req @returns {Promise<any>} */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Keeps one identity per origin in IndexedDB (database `peergroup`). */
export class IdentityStore {
  /** @param {IDBFactory} [factory] default globalThis.indexedDB */
  constructor(factory) {
    this.factory = factory ?? globalThis.indexedDB;
  }

  /** @private @returns {Promise<IDBDatabase>} */
  open() {
    const req = this.factory.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(STORE);
    };
    return done(req);
  }

  /**
   * @private
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(s: IDBObjectStore) => IDBRequest} f
   * @returns {Promise<T>}
   */
  async run(mode, f) {
    const db = await this.open();
    try {
      return await done(f(db.transaction(STORE, mode).objectStore(STORE)));
    } finally {
      db.close();
    }
  }

  /**
   * The stored identity with its metadata, or null.
   * @returns {Promise<{identity: Identity, name: string|null, exported: boolean, created_at: number}|null>}
   */
  async load() {
    /** @type {StoredIdentity|undefined} */
    const rec = await this.run('readonly', (s) => s.get(RECORD));
    if (!rec) return null;
    const publicKey = await importPublicKey(rec.spki);
    return {
      identity: {
        spki: publicKey.spki, userId: publicKey.id, userIdText: b64urlEncode(publicKey.id), publicKey,
        signKey: rec.signKey, decryptKey: rec.decryptKey, exportKey: rec.exportKey,
      },
      name: rec.name, exported: rec.exported, created_at: rec.created_at,
    };
  }

  /**
   * Stores `identity` (refuses to replace another one unless `replace`).
   * @param {Identity} identity
   * @param {{name?: string|null, exported?: boolean, replace?: boolean}} [meta]
   * @returns {Promise<void>}
   */
  async save(identity, meta = {}) {
    const existing = await this.run('readonly', (s) => s.get(RECORD));
    if (existing && !meta.replace && !bytesEqual(/** @type {StoredIdentity} */ (existing).spki, identity.spki)) {
      throw new PeerError('invalid_argument', 'another identity is stored here; delete it first');
    }
    /** @type {StoredIdentity} */
    const rec = {
      spki: identity.spki, signKey: identity.signKey, decryptKey: identity.decryptKey, exportKey: identity.exportKey,
      name: meta.name ?? null, exported: meta.exported ?? false, created_at: Math.floor(Date.now() / 1000),
    };
    await this.run('readwrite', (s) => s.put(rec, RECORD));
  }

  /**
   * Updates metadata (the registered name, whether a file was exported).
   * @param {{name?: string|null, exported?: boolean}} meta
   * @returns {Promise<void>}
   */
  async update(meta) {
    /** @type {StoredIdentity|undefined} */
    const rec = await this.run('readonly', (s) => s.get(RECORD));
    if (!rec) throw new PeerError('invalid_argument', 'no identity stored');
    if (meta.name !== undefined) rec.name = meta.name;
    if (meta.exported !== undefined) rec.exported = meta.exported;
    await this.run('readwrite', (s) => s.put(rec, RECORD));
  }

  /** Drops the extractable export copy (the identity can no longer be exported from here). @returns {Promise<void>} */
  async forgetExportKey() {
    /** @type {StoredIdentity|undefined} */
    const rec = await this.run('readonly', (s) => s.get(RECORD));
    if (!rec) return;
    rec.exportKey = null;
    await this.run('readwrite', (s) => s.put(rec, RECORD));
  }

  /** Deletes the stored identity (gone for good unless exported). @returns {Promise<void>} */
  async clear() {
    await this.run('readwrite', (s) => s.delete(RECORD));
  }
}
