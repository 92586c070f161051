// @ts-check
/**
 * @file Self-signed registration (docs/protocol.md, "Registration").
 */

import { b64urlEncode } from './bytes.js';
import { LABELS, canonical } from './postcard.js';
import { signWith } from './primitives.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */

/**
 * canonical(REGISTER, (node_id, name, spki, timestamp)).
 * @param {Uint8Array} nodeId
 * @param {string} name
 * @param {Uint8Array} spki
 * @param {number} timestamp
 * @returns {Bytes}
 */
export function registrationSignedBytes(nodeId, name, spki, timestamp) {
  return canonical(LABELS.REGISTER).raw(nodeId).str(name).bytes(spki).varint(timestamp).finish();
}

/**
 * The body of `POST /api/v1/users`, signed by the user's key for `nodeId`.
 * @param {{spki: Uint8Array, signKey: CryptoKey}} identity
 * @param {Uint8Array} nodeId
 * @param {string} name
 * @param {number} now
 * @returns {Promise<{name: string, spki: string, timestamp: number, signature: string}>}
 */
export async function registrationBody(identity, nodeId, name, now) {
  const signature = await signWith(identity.signKey, registrationSignedBytes(nodeId, name, identity.spki, now));
  return { name, spki: b64urlEncode(identity.spki), timestamp: now, signature: b64urlEncode(signature) };
}
