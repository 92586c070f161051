// @ts-check
/**
 * @file Room keys and end-to-end encrypted messages (docs/protocol.md,
 * "Rooms"): a random 32-byte master key per epoch, made by an owner's or
 * admin's client; messages sealed under the epoch key and signed by their
 * sender. Receivers verify the signature first, then open, then decode the
 * body exactly.
 */

import { bytesEqual, concat, randomBytes, u32be, utf8Encode } from './bytes.js';
import { LABELS, Reader, Writer, canonical } from './postcard.js';
import { IV_LEN, hkdf, open, sealWithIv, sha256, signWith, verifySignature } from './primitives.js';
import { PeerError } from './errors.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */
/** @typedef {import('./primitives.js').PublicKey} PublicKey */

/** @returns {Bytes} a fresh random room master key */
export function generateRoomKey() {
  return randomBytes(32);
}

/** @param {number} epoch @returns {Bytes} HKDF info of an epoch key */
export function epochKeyInfo(epoch) {
  return concat(utf8Encode(LABELS.ROOM), u32be(epoch));
}

/**
 * `k_epoch = HKDF(master, salt = room_id, info = "peergroup/room/v1" ‖ u32_be(epoch))`.
 * @param {Uint8Array} master
 * @param {Uint8Array} roomId
 * @param {number} epoch
 * @returns {Promise<Bytes>}
 */
export function epochKey(master, roomId, epoch) {
  return hkdf(master, roomId, epochKeyInfo(epoch), 32);
}

/**
 * @typedef {{text: string, sent_at: number, reply_to: number|null}} MessageBody
 */

/** @param {MessageBody} body @returns {Bytes} postcard(MessageBody) */
export function encodeMessageBody(body) {
  const w = new Writer().str(body.text).varint(body.sent_at);
  w.optionTag(body.reply_to !== null && body.reply_to !== undefined);
  if (body.reply_to !== null && body.reply_to !== undefined) w.varint(body.reply_to);
  return w.finish();
}

/**
 * Decodes a message body exactly (no trailing bytes): `invalid_field` otherwise.
 * @param {Uint8Array} bytes
 * @returns {MessageBody}
 */
export function decodeMessageBody(bytes) {
  try {
    const r = new Reader(bytes);
    const text = r.str();
    const sentAt = r.number(64);
    const replyTo = r.optionTag() ? r.number(64) : null;
    r.end();
    return { text, sent_at: sentAt, reply_to: replyTo };
  } catch {
    throw new PeerError('invalid_field', 'the message body is malformed');
  }
}

/** @param {Uint8Array} roomId @param {number} epoch @param {Uint8Array} senderId @returns {Bytes} */
export function messageAad(roomId, epoch, senderId) {
  return canonical(LABELS.MESSAGE).raw(roomId).varint(epoch).raw(senderId).finish();
}

/** @param {Uint8Array} roomId @param {number} epoch @param {Uint8Array} ciphertextHash @returns {Bytes} */
export function messageSignedBytes(roomId, epoch, ciphertextHash) {
  return canonical(LABELS.MESSAGE_SIG).raw(roomId).varint(epoch).raw(ciphertextHash).finish();
}

/**
 * Encrypts and signs a message under an epoch key.
 * @param {Uint8Array} kEpoch the epoch key (not the master key)
 * @param {Uint8Array} roomId
 * @param {number} epoch
 * @param {{userId: Uint8Array, signKey: CryptoKey}} sender
 * @param {MessageBody} body
 * @param {{iv?: Uint8Array}} [fixed] test vectors only
 * @returns {Promise<{ciphertext: Bytes, signature: Bytes}>}
 */
export async function encryptMessage(kEpoch, roomId, epoch, sender, body, fixed = {}) {
  const plain = encodeMessageBody(body);
  const ciphertext = await sealWithIv(kEpoch, fixed.iv ?? randomBytes(IV_LEN), plain, messageAad(roomId, epoch, sender.userId));
  plain.fill(0);
  const signature = await signWith(sender.signKey, messageSignedBytes(roomId, epoch, await sha256(ciphertext)));
  return { ciphertext, signature };
}

/**
 * Verifies the sender's signature (`bad_signature`; the key must be the
 * claimed sender's), opens (`invalid_sealed_body`), decodes (`invalid_field`).
 * @param {Uint8Array} kEpoch
 * @param {Uint8Array} roomId
 * @param {number} epoch
 * @param {PublicKey} senderKey
 * @param {Uint8Array} senderId the sender the node recorded
 * @param {Uint8Array} ciphertext
 * @param {Uint8Array} signature
 * @returns {Promise<MessageBody>}
 */
export async function decryptMessage(kEpoch, roomId, epoch, senderKey, senderId, ciphertext, signature) {
  if (!bytesEqual(senderKey.id, senderId)) throw new PeerError('bad_signature', 'the key is not the sender\'s');
  await verifySignature(senderKey, messageSignedBytes(roomId, epoch, await sha256(ciphertext)), signature);
  const plain = await open(kEpoch, ciphertext, messageAad(roomId, epoch, senderId));
  try {
    return decodeMessageBody(plain);
  } finally {
    plain.fill(0);
  }
}
