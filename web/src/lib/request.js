// @ts-check
/**
 * @file Per-request authentication, client side (docs/protocol.md,
 * "Per-request authentication"): the {@link ClientSession} a handshake
 * yields, {@link ClientSession#prepareRequest} (fresh P-256 key per request
 * in ecdh sessions, HKDF request keys, the `Peer-*` headers, a sealed body
 * on request) and the one-shot {@link ResponseVerifier}.
 */

import { b64urlDecode, b64urlEncode, concat, u64be, utf8Encode } from './bytes.js';
import { LABELS, canonical } from './postcard.js';
import { ecdh, generateEcdh, hkdf, hmacSha256, hmacSha256Verify, open, sealWithIv, sha256, IV_LEN } from './primitives.js';
import { randomBytes } from './bytes.js';
import { PeerError } from './errors.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */

/** The content type of sealed bodies. */
export const SEALED_CONTENT_TYPE = 'application/vnd.peergroup.sealed';

/**
 * `k_mac ‖ k_req ‖ k_resp = HKDF(ikm, salt = auth_key, info = "peergroup/request-keys/v1" ‖ session_id ‖ u64_be(seq))`.
 * @param {Uint8Array} ikm
 * @param {Uint8Array} authKey
 * @param {Uint8Array} sessionId
 * @param {number} seq
 * @returns {Promise<{kMac: Bytes, kReq: Bytes, kResp: Bytes}>}
 */
export async function requestKeys(ikm, authKey, sessionId, seq) {
  const okm = await hkdf(ikm, authKey, concat(utf8Encode(LABELS.REQUEST_KEYS), sessionId, u64be(seq)), 96);
  const keys = { kMac: okm.slice(0, 32), kReq: okm.slice(32, 64), kResp: okm.slice(64, 96) };
  okm.fill(0);
  return keys;
}

/**
 * canonical(REQUEST, (method, path_and_query, seq, SHA-256(body_wire))).
 * @param {string} method
 * @param {string} pathAndQuery
 * @param {number} seq
 * @param {Uint8Array} bodyHash
 * @returns {Bytes}
 */
export function requestMacInput(method, pathAndQuery, seq, bodyHash) {
  return canonical(LABELS.REQUEST).str(method).str(pathAndQuery).varint(seq).raw(bodyHash).finish();
}

/**
 * canonical(RESPONSE, (status, seq, SHA-256(body_wire))).
 * @param {number} status
 * @param {number} seq
 * @param {Uint8Array} bodyHash
 * @returns {Bytes}
 */
export function responseMacInput(status, seq, bodyHash) {
  return canonical(LABELS.RESPONSE).varint(status).varint(seq).raw(bodyHash).finish();
}

/**
 * Checks one response (consume once): the `Peer-Auth` tag over
 * (status, seq, SHA-256(body as received)) in constant time, then, for a
 * sealed request, opens the body under k_resp.
 */
export class ResponseVerifier {
  /**
   * @param {number} seq
   * @param {boolean} sealed
   * @param {Bytes} kMac
   * @param {Bytes} kResp
   */
  constructor(seq, sealed, kMac, kResp) {
    this.seq = seq;
    this.sealed = sealed;
    /** @private */
    this.kMac = kMac;
    /** @private */
    this.kResp = kResp;
  }

  /**
   * @param {number} status
   * @param {string|null} peerAuth the `Peer-Auth` header, null when absent
   * @param {Uint8Array} body the body as received
   * @returns {Promise<Bytes>} the body (opened when sealed)
   * @throws {PeerError} `bad_authenticator` (missing, malformed or wrong tag), `invalid_sealed_body`
   */
  async verify(status, peerAuth, body) {
    try {
      if (peerAuth === null) throw new PeerError('bad_authenticator', 'the response carries no Peer-Auth');
      if (peerAuth.length !== 43) throw new PeerError('bad_authenticator', 'the response Peer-Auth is malformed');
      /** @type {Bytes} */
      let tag;
      try {
        tag = b64urlDecode(peerAuth);
      } catch {
        throw new PeerError('bad_authenticator', 'the response Peer-Auth is malformed');
      }
      const input = responseMacInput(status, this.seq, await sha256(body));
      if (!(await hmacSha256Verify(this.kMac, input, tag))) {
        throw new PeerError('bad_authenticator', 'the response Peer-Auth does not verify');
      }
      return this.sealed ? await open(this.kResp, body) : new Uint8Array(body);
    } finally {
      this.kMac.fill(0);
      this.kResp.fill(0);
    }
  }
}

/**
 * @typedef {object} PreparedRequest
 * @property {Record<string, string>} headers `Peer-Session`, `Peer-Key` (ecdh), `Peer-Seq`, `Peer-Auth`
 * @property {Bytes} body the body to send (sealed when asked)
 * @property {string|null} contentType the sealed type when sealed
 * @property {ResponseVerifier} verifier
 */

/** A client's session with a node. */
export class ClientSession {
  /**
   * @param {{sessionId: Bytes, nodeId: Bytes, userId: Bytes,
   *   kex: {kind: 'ecdh', serverEph: CryptoKey} | {kind: 'rsa-oaep', secret: Bytes},
   *   authKey: Bytes, expiresAt: number}} init
   */
  constructor(init) {
    this.sessionId = init.sessionId;
    this.sessionIdText = b64urlEncode(init.sessionId);
    this.nodeId = init.nodeId;
    this.userId = init.userId;
    /** @private */
    this.kexState = init.kex;
    /** @private */
    this.authKey = init.authKey;
    this.expiresAt = init.expiresAt;
    /** @private */
    this.nextSeq = 1;
  }

  /** @returns {'ecdh-p256'|'rsa-oaep'} */
  get kex() {
    return this.kexState.kind === 'ecdh' ? 'ecdh-p256' : 'rsa-oaep';
  }

  /** @param {number} now @returns {boolean} */
  isExpired(now) {
    return now >= this.expiresAt;
  }

  /**
   * Authenticates one request: the next seq, (ecdh) a fresh P-256 key, the
   * request keys, the body sealed under k_req when `sealed`, and the tag.
   * @param {string} method upper case, as sent
   * @param {string} pathAndQuery the request target exactly as sent
   * @param {Uint8Array} body
   * @param {boolean} sealed
   * @param {{requestKey?: {privateKey: CryptoKey, point: Uint8Array}, iv?: Uint8Array}} [fixed] test vectors only
   * @returns {Promise<PreparedRequest>}
   */
  async prepareRequest(method, pathAndQuery, body, sealed, fixed = {}) {
    if (!/^[A-Z]+$/.test(method)) throw new PeerError('invalid_argument', 'the method must be upper case');
    const seq = this.nextSeq++;
    if (!Number.isSafeInteger(seq)) throw new PeerError('internal', 'sequence numbers exhausted');
    /** @type {Bytes} */
    let ikm;
    /** @type {Record<string, string>} */
    const headers = { 'Peer-Session': this.sessionIdText };
    if (this.kexState.kind === 'ecdh') {
      const r = fixed.requestKey ?? (await generateEcdh());
      ikm = await ecdh(r.privateKey, this.kexState.serverEph);
      headers['Peer-Key'] = b64urlEncode(r.point);
    } else {
      ikm = new Uint8Array(this.kexState.secret);
    }
    const { kMac, kReq, kResp } = await requestKeys(ikm, this.authKey, this.sessionId, seq);
    ikm.fill(0);
    const wire = sealed ? await sealWithIv(kReq, fixed.iv ?? randomBytes(IV_LEN), body, new Uint8Array(0)) : new Uint8Array(body);
    kReq.fill(0);
    const tag = await hmacSha256(kMac, requestMacInput(method, pathAndQuery, seq, await sha256(wire)));
    headers['Peer-Seq'] = String(seq);
    headers['Peer-Auth'] = b64urlEncode(tag);
    return {
      headers,
      body: wire,
      contentType: sealed ? SEALED_CONTENT_TYPE : null,
      verifier: new ResponseVerifier(seq, sealed, kMac, kResp),
    };
  }
}
