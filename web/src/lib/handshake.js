// @ts-check
/**
 * @file The client side of the handshake (docs/protocol.md, "Handshake"):
 * {@link startHandshake} makes the signed hello, {@link finishHandshake}
 * checks the node's reply against the pinned node key and yields a
 * {@link ClientSession}.
 */

import { b64urlDecode, b64urlEncode, bytesEqual, concat, randomBytes, utf8Encode } from './bytes.js';
import { LABELS, Writer, canonical } from './postcard.js';
import {
  ecdh, generateEcdh, hkdf, importPoint, oaepUnwrap, open, sha256, signWith, verifySignature,
} from './primitives.js';
import { PeerError } from './errors.js';
import { ClientSession } from './request.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */
/** @typedef {import('./primitives.js').PublicKey} PublicKey */
/** @typedef {import('./identity.js').Identity} Identity */
/** @typedef {'ecdh-p256'|'rsa-oaep'} Kex */

/** The protocol version. */
export const PROTOCOL_VERSION = 1;

/** @param {Kex} kex */
function kexTag(kex) {
  if (kex === 'ecdh-p256') return 0;
  if (kex === 'rsa-oaep') return 1;
  throw new PeerError('invalid_argument', `unknown key exchange ${String(kex)}`);
}

/**
 * `hello_signed`: canonical(HELLO, (version, kex, user_id, client_eph?, client_nonce, timestamp, node_id)).
 * @param {{kex: Kex, userId: Uint8Array, clientEph: Uint8Array|null, clientNonce: Uint8Array, timestamp: number, nodeId: Uint8Array}} f
 * @returns {Bytes}
 */
export function helloSignedBytes(f) {
  const w = canonical(LABELS.HELLO).varint(PROTOCOL_VERSION).varint(kexTag(f.kex)).raw(f.userId);
  w.optionTag(f.clientEph !== null);
  if (f.clientEph !== null) w.bytes(f.clientEph);
  return w.raw(f.clientNonce).varint(f.timestamp).raw(f.nodeId).finish();
}

/**
 * `reply_params` = postcard((session_id, Some(slot), server_nonce, expires_at)), no label.
 * @param {Uint8Array} sessionId
 * @param {Uint8Array} slot
 * @param {Uint8Array} serverNonce
 * @param {number} expiresAt
 * @returns {Bytes}
 */
export function replyParamsBytes(sessionId, slot, serverNonce, expiresAt) {
  return new Writer().raw(sessionId).optionTag(true).bytes(slot).raw(serverNonce).varint(expiresAt).finish();
}

/**
 * The node's signed reply tuple: canonical(REPLY, (th, session_id, Some(slot), server_nonce, expires_at)).
 * @param {Uint8Array} th
 * @param {Uint8Array} sessionId
 * @param {Uint8Array} slot
 * @param {Uint8Array} serverNonce
 * @param {number} expiresAt
 * @returns {Bytes}
 */
export function replySignedBytes(th, sessionId, slot, serverNonce, expiresAt) {
  return canonical(LABELS.REPLY).raw(th).raw(sessionId).optionTag(true).bytes(slot).raw(serverNonce).varint(expiresAt).finish();
}

/**
 * The client's state between hello and reply.
 * @typedef {object} ExpectReply
 * @property {Identity} identity
 * @property {Bytes} nodeId
 * @property {Kex} kex
 * @property {Bytes} clientNonce
 * @property {CryptoKey|null} clientEphPrivate
 * @property {Bytes} helloSigned
 * @property {Bytes} helloSignature
 */

/**
 * The hello as JSON (`POST /api/v1/handshake`).
 * @typedef {{version: number, kex: Kex, user_id: string, client_eph?: string, client_nonce: string, timestamp: number, node_id: string, signature: string}} HelloJson
 */

/**
 * Starts a handshake: a fresh nonce (and, for ecdh, a fresh P-256 key), the
 * hello signed by the user key.
 * @param {Identity} identity
 * @param {Uint8Array} nodeId 16 bytes
 * @param {Kex} kex
 * @param {number} now unix seconds
 * @param {{clientNonce?: Uint8Array, clientEph?: {privateKey: CryptoKey, point: Uint8Array}}} [fixed] test vectors only
 * @returns {Promise<{expect: ExpectReply, hello: HelloJson}>}
 */
export async function startHandshake(identity, nodeId, kex, now, fixed = {}) {
  const clientNonce = fixed.clientNonce ? new Uint8Array(fixed.clientNonce) : randomBytes(32);
  /** @type {{privateKey: CryptoKey, point: Uint8Array}|null} */
  let eph = null;
  if (kex === 'ecdh-p256') eph = fixed.clientEph ?? (await generateEcdh());
  else kexTag(kex);
  const helloSigned = helloSignedBytes({
    kex, userId: identity.userId, clientEph: eph ? eph.point : null, clientNonce, timestamp: now, nodeId,
  });
  const helloSignature = await signWith(identity.signKey, helloSigned);
  /** @type {HelloJson} */
  const hello = {
    version: PROTOCOL_VERSION,
    kex,
    user_id: b64urlEncode(identity.userId),
    client_nonce: b64urlEncode(clientNonce),
    timestamp: now,
    node_id: b64urlEncode(nodeId),
    signature: b64urlEncode(helloSignature),
  };
  if (eph) hello.client_eph = b64urlEncode(eph.point);
  return {
    expect: {
      identity, nodeId: new Uint8Array(nodeId), kex, clientNonce,
      clientEphPrivate: eph ? eph.privateKey : null, helloSigned, helloSignature,
    },
    hello,
  };
}

/**
 * The reply as JSON.
 * @typedef {{session_id: string, server_eph?: string, wrapped_secret?: string, server_nonce: string, expires_at: number, sealed_auth_key: string, node_signature: string}} ReplyJson
 */

/** @param {unknown} v @param {string} field @param {number} [len] @returns {Bytes} */
function field(v, field, len) {
  try {
    if (typeof v !== 'string') throw new TypeError();
    const b = b64urlDecode(v);
    if (len !== undefined && b.length !== len) throw new TypeError();
    return b;
  } catch {
    throw new PeerError('invalid_field', `handshake reply: ${field} is malformed`);
  }
}

/**
 * Checks the node's reply (in protocol.md's order) and derives the session:
 * the pinned key's id must be the node the hello targeted (`wrong_node`),
 * the shape must fit the kex (`invalid_field`), the node's signature over
 * the recomputed transcript must verify (`bad_signature`), the session must
 * not be expired (`session_expired`), the slot must be a valid point or
 * OAEP-decrypt to 32 bytes, and sealed_auth_key must open under k_token to
 * 32 bytes (`invalid_sealed_body`).
 * @param {ExpectReply} expect
 * @param {ReplyJson} reply
 * @param {PublicKey} trustedNodeKey the pinned node key
 * @param {number} now
 * @returns {Promise<ClientSession>}
 */
export async function finishHandshake(expect, reply, trustedNodeKey, now) {
  if (!bytesEqual(trustedNodeKey.id, expect.nodeId)) {
    throw new PeerError('wrong_node', 'the pinned node key is not the key of the node the handshake targeted');
  }
  const hasEph = reply.server_eph !== undefined && reply.server_eph !== null;
  const hasWrapped = reply.wrapped_secret !== undefined && reply.wrapped_secret !== null;
  /** @type {Bytes} */
  let slot;
  if (expect.kex === 'ecdh-p256' && hasEph && !hasWrapped) slot = field(reply.server_eph, 'server_eph');
  else if (expect.kex === 'rsa-oaep' && hasWrapped && !hasEph) slot = field(reply.wrapped_secret, 'wrapped_secret');
  else throw new PeerError('invalid_field', 'handshake reply: the key exchange fields do not fit the mode');
  const sessionId = field(reply.session_id, 'session_id', 16);
  const serverNonce = field(reply.server_nonce, 'server_nonce', 32);
  const sealedAuthKey = field(reply.sealed_auth_key, 'sealed_auth_key');
  const nodeSignature = field(reply.node_signature, 'node_signature');
  const expiresAt = reply.expires_at;
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new PeerError('invalid_field', 'handshake reply: expires_at is malformed');
  const params = replyParamsBytes(sessionId, slot, serverNonce, expiresAt);
  const th = await sha256(concat(expect.helloSigned, expect.helloSignature, params));
  await verifySignature(trustedNodeKey, replySignedBytes(th, sessionId, slot, serverNonce, expiresAt), nodeSignature);
  if (now >= expiresAt) throw new PeerError('session_expired', 'the session the node offered has expired');
  /** @type {Bytes} */
  let ikm;
  /** @type {{kind: 'ecdh', serverEph: CryptoKey} | {kind: 'rsa-oaep', secret: Bytes}} */
  let kexState;
  if (expect.kex === 'ecdh-p256') {
    const serverEph = await importPoint(slot);
    if (!expect.clientEphPrivate) throw new PeerError('internal', 'no client key');
    ikm = await ecdh(expect.clientEphPrivate, serverEph);
    kexState = { kind: 'ecdh', serverEph };
  } else {
    const secret = await oaepUnwrap(expect.identity.decryptKey, slot);
    if (secret.length !== 32) throw new PeerError('invalid_field', 'handshake reply: wrapped_secret is malformed');
    ikm = secret;
    kexState = { kind: 'rsa-oaep', secret: new Uint8Array(secret) };
  }
  const kToken = await tokenKey(ikm, expect.clientNonce, serverNonce, th);
  const authKey = await open(kToken, sealedAuthKey, sessionId);
  kToken.fill(0);
  if (authKey.length !== 32) throw new PeerError('invalid_field', 'handshake reply: sealed_auth_key is malformed');
  return new ClientSession({ sessionId, nodeId: expect.nodeId, userId: expect.identity.userId, kex: kexState, authKey, expiresAt });
}

/**
 * `k_token = HKDF(ikm, salt = client_nonce ‖ server_nonce, info = "peergroup/session/v1" ‖ th)`.
 * @param {Uint8Array} ikm
 * @param {Uint8Array} clientNonce
 * @param {Uint8Array} serverNonce
 * @param {Uint8Array} th
 * @returns {Promise<Bytes>}
 */
export function tokenKey(ikm, clientNonce, serverNonce, th) {
  return hkdf(ikm, concat(clientNonce, serverNonce), concat(utf8Encode(LABELS.SESSION), th), 32);
}
