// @ts-check
/**
 * @file Key envelopes (docs/protocol.md, "Key envelopes"): a room's epoch
 * master key RSA-OAEP-wrapped for one member, signed by the owner or admin
 * who hands it out.
 */

import { b64urlDecode, b64urlEncode, bytesEqual } from './bytes.js';
import { LABELS, canonical } from './postcard.js';
import { oaepUnwrap, oaepWrap, signWith, verifySignature } from './primitives.js';
import { PeerError } from './errors.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */
/** @typedef {import('./primitives.js').PublicKey} PublicKey */

/** The largest wrapped key accepted. */
export const MAX_WRAPPED_KEY_BYTES = 512;

/**
 * An envelope as JSON.
 * @typedef {{room_id: string, epoch: number, member_id: string, wrapped_key: string, distributor_id: string, signature: string}} Envelope
 */

/**
 * canonical(ENVELOPE, (room_id, epoch, member_id, wrapped_key, distributor_id)).
 * @param {Uint8Array} roomId
 * @param {number} epoch
 * @param {Uint8Array} memberId
 * @param {Uint8Array} wrappedKey
 * @param {Uint8Array} distributorId
 * @returns {Bytes}
 */
export function envelopeSignedBytes(roomId, epoch, memberId, wrappedKey, distributorId) {
  return canonical(LABELS.ENVELOPE).raw(roomId).varint(epoch).raw(memberId).bytes(wrappedKey).raw(distributorId).finish();
}

/**
 * Wraps `master` for `member` and signs the envelope as `distributor`.
 * @param {{userId: Uint8Array, signKey: CryptoKey}} distributor
 * @param {Uint8Array} roomId
 * @param {number} epoch
 * @param {PublicKey} member
 * @param {Uint8Array} master 32 bytes
 * @returns {Promise<Envelope>}
 */
export async function wrapEnvelope(distributor, roomId, epoch, member, master) {
  const wrapped = await oaepWrap(member, master);
  const signature = await signWith(distributor.signKey, envelopeSignedBytes(roomId, epoch, member.id, wrapped, distributor.userId));
  return {
    room_id: b64urlEncode(roomId),
    epoch,
    member_id: b64urlEncode(member.id),
    wrapped_key: b64urlEncode(wrapped),
    distributor_id: b64urlEncode(distributor.userId),
    signature: b64urlEncode(signature),
  };
}

/**
 * Checks an envelope against its distributor's key: distributor_id is that
 * key's id, epoch ≥ 1, 1 ≤ len(wrapped_key) ≤ 512, signature valid. Any
 * failure is `invalid_envelope`.
 * @param {Envelope} env
 * @param {PublicKey} distributor
 * @returns {Promise<void>}
 */
export async function verifyEnvelope(env, distributor) {
  const bad = () => new PeerError('invalid_envelope', 'the key envelope does not verify');
  try {
    const roomId = b64urlDecode(env.room_id);
    const memberId = b64urlDecode(env.member_id);
    const distributorId = b64urlDecode(env.distributor_id);
    const wrapped = b64urlDecode(env.wrapped_key);
    const signature = b64urlDecode(env.signature);
    if (roomId.length !== 16 || memberId.length !== 16 || !bytesEqual(distributorId, distributor.id)) throw bad();
    if (!Number.isInteger(env.epoch) || env.epoch < 1 || env.epoch > 0xffffffff) throw bad();
    if (wrapped.length < 1 || wrapped.length > MAX_WRAPPED_KEY_BYTES) throw bad();
    await verifySignature(distributor, envelopeSignedBytes(roomId, env.epoch, memberId, wrapped, distributorId), signature);
  } catch {
    throw bad();
  }
}

/**
 * Opens a (verified) envelope addressed to this member: the 32-byte master key.
 * @param {Envelope} env
 * @param {{userId: Uint8Array, decryptKey: CryptoKey}} member
 * @returns {Promise<Bytes>}
 */
export async function unwrapEnvelope(env, member) {
  if (env.member_id !== b64urlEncode(member.userId)) throw new PeerError('invalid_envelope', 'the envelope is not addressed to this user');
  const key = await oaepUnwrap(member.decryptKey, b64urlDecode(env.wrapped_key));
  if (key.length !== 32) throw new PeerError('invalid_envelope', 'the envelope does not hold a room key');
  return key;
}
