// @ts-check
/**
 * @file One exchange with a node over fetch: unauthenticated calls, API
 * errors from answers, and how an answer without `Peer-Auth` is judged
 * (one of the errors a node sends before it can authenticate, or a
 * tampered answer). The authenticated exchange itself is
 * `PeerClient`'s (client.js).
 */

import { utf8Decode } from './bytes.js';
import { SEALED_CONTENT_TYPE } from './request.js';
import { PeerError } from './errors.js';

/** Error codes a node may answer without `Peer-Auth`, with their statuses. */
export const UNAUTHENTICATED_CODES = new Map([
  ['unauthenticated', 401], ['session_expired', 401], ['bad_authenticator', 401],
  ['replayed_request', 401], ['invalid_token', 401], ['invalid_header', 400],
  ['invalid_body', 400], ['not_found', 404], ['method_not_allowed', 405],
  ['body_too_large', 413], ['unsupported_media_type', 415], ['rate_limited', 429],
  ['too_many_streams', 429], ['headers_too_large', 431], ['internal', 500],
  ['store_unavailable', 503], ['main_peer_unavailable', 503],
]);

/** @param {Headers} h @returns {number|undefined} */
function retryAfter(h) {
  const v = h.get('retry-after');
  return v && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/**
 * The API error of an error answer's body.
 * @param {number} status
 * @param {Uint8Array} body
 * @param {Headers} headers
 * @param {boolean} authenticated
 * @returns {PeerError}
 */
export function apiError(status, body, headers, authenticated) {
  if (status === 431 && body.length === 0) {
    return new PeerError('headers_too_large', 'request headers too large', { status, authenticated });
  }
  try {
    const parsed = JSON.parse(utf8Decode(body));
    const e = parsed && parsed.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new PeerError(e.code, e.message, { status, authenticated, retryAfter: retryAfter(headers) });
    }
  } catch {
    // fall through
  }
  return new PeerError('invalid_response', `an error answer (${status}) without an error body`, { status });
}

/** @param {Uint8Array} body @returns {any} */
export function parseJson(body) {
  try {
    return JSON.parse(utf8Decode(body));
  } catch {
    throw new PeerError('invalid_response', 'the answer is not the JSON this endpoint returns');
  }
}

/** @param {string} method @param {string} target @param {number} status @returns {PeerError} */
export function tampered(method, target, status) {
  const path = target.split('?')[0];
  return new PeerError('tampered_response', `the answer to ${method} ${path} (status ${status}) is not authenticated by the node`, { status });
}

/**
 * An answer without `Peer-Auth`: one of the errors a node sends before it
 * can authenticate, or a tampered answer.
 * @param {string} method
 * @param {string} target
 * @param {number} status
 * @param {Uint8Array} body
 * @param {Headers} headers
 * @returns {PeerError}
 */
export function unauthenticatedAnswer(method, target, status, body, headers) {
  const sealed = (headers.get('content-type') ?? '') === SEALED_CONTENT_TYPE;
  if (status >= 400 && !sealed) {
    const e = apiError(status, body, headers, false);
    if (UNAUTHENTICATED_CODES.get(e.code) === status) return e;
  }
  return tampered(method, target, status);
}

/**
 * fetch, with transport failures as `network` errors.
 * @param {typeof fetch} fetchFn
 * @param {string} url
 * @param {RequestInit} init
 * @returns {Promise<Response>}
 */
export async function send(fetchFn, url, init) {
  try {
    return await fetchFn(url, { ...init, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') throw e;
    throw new PeerError('network', `no answer from ${url.split('?')[0]}`);
  }
}

/**
 * An unauthenticated call: 2xx parses as JSON, anything else is an API error.
 * @param {typeof fetch} fetchFn
 * @param {string} base
 * @param {string} method
 * @param {string} target
 * @param {unknown} body
 * @returns {Promise<any>}
 */
export async function plainRequest(fetchFn, base, method, target, body) {
  /** @type {RequestInit} */
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const resp = await send(fetchFn, base + target, init);
  const raw = new Uint8Array(await resp.arrayBuffer());
  if (resp.status >= 200 && resp.status < 300) return parseJson(raw);
  throw apiError(resp.status, raw, resp.headers, false);
}
