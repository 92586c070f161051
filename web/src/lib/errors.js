// @ts-check
/**
 * @file The one error type of the library: a stable `code` (api.md's codes,
 * plus client-side ones) and a message for people. Messages never hold
 * secrets (keys, passphrases, plaintext).
 */

/**
 * Client-side codes, besides api.md's:
 * - `tampered_response`: an answer to an authenticated request without a
 *   valid `Peer-Auth` (or a sealed body that does not open);
 * - `invalid_response`: an answer that is not what the endpoint returns;
 * - `network`: the request did not get an answer;
 * - `not_a_member`, `no_room_key`, `not_encrypted`, `user_key_mismatch`,
 *   `invalid_argument`;
 * - `wrong_passphrase`, `invalid_identity_file` (identity files).
 * Crypto-level codes reuse api.md's: `bad_signature`, `invalid_sealed_body`,
 * `invalid_envelope`, `invalid_field`, `wrong_node`, `session_expired`,
 * `bad_authenticator`.
 */
export class PeerError extends Error {
  /**
   * @param {string} code stable code
   * @param {string} message for people
   * @param {{status?: number, authenticated?: boolean, retryAfter?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'PeerError';
    /** @type {string} */
    this.code = code;
    /** HTTP status of an API error, else 0. @type {number} */
    this.status = extra.status ?? 0;
    /** For API errors: whether the answer carried a valid `Peer-Auth`. @type {boolean} */
    this.authenticated = extra.authenticated ?? false;
    /** `Retry-After` seconds, when given. @type {number|undefined} */
    this.retryAfter = extra.retryAfter;
  }
}

/** @param {unknown} e @param {string} code @returns {boolean} */
export function isCode(e, code) {
  return e instanceof PeerError && e.code === code;
}
