// @ts-check
/**
 * @file The browser peer client: one user talking to one node, every
 * end-to-end step done here (WebCrypto only), mirroring the Rust
 * `peer-client` crate (crates/client) and the key duties of
 * `peerctl agent` (bins/peerctl/src/lifecycle.rs).
 *
 * What it does:
 * - connects to a node and pins the node's key on first use (a changed key
 *   is a hard error, code `wrong_node`);
 * - registers the user (self-signed), runs the handshake (`ecdh-p256` by
 *   default, `rsa-oaep` on request) and authenticates every request with a
 *   fresh per-request P-256 key; every authenticated answer's `Peer-Auth`
 *   is verified (a missing or wrong one is `tampered_response`), bodies are
 *   sealed on request;
 * - encrypts and signs messages, verifies and decrypts them, reporting every
 *   failure per message (`verified: "failed"` and an `error`);
 * - makes room keys, wraps them for members, rotates them, and does an
 *   owner's or admin's key duties while it runs ({@link PeerClient#agentStep},
 *   {@link PeerClient#handleEvent}, {@link PeerClient#catchUp});
 * - follows the user's event stream (fetch + SSE parsing, `Last-Event-ID`
 *   resume) with a long-poll fallback ({@link PeerClient#poll}).
 *
 * What it does not do: store anything (the caller keeps the identity, see
 * identity.js, and supplies a pin store), discover nodes, or talk node to
 * node.
 *
 * Shapes of the node's JSON (ids are 22-char base64url strings, times unix
 * seconds) are the typedefs below; they are exactly api.md's.
 *
 * Beside it: events.js (the event stream), exchange.js (plain calls, API
 * errors, judging unauthenticated answers), pins.js (node key pinning); the
 * protocol steps are in handshake.js, request.js, room.js, envelope.js,
 * register.js on primitives.js; identities in identity.js.
 */

import { b64urlDecode, b64urlEncode, randomBytes, utf8Encode } from './bytes.js';
import { importPublicKey } from './primitives.js';
import { registrationBody } from './register.js';
import { finishHandshake, startHandshake, PROTOCOL_VERSION } from './handshake.js';
import { decryptMessage, encryptMessage, epochKey, generateRoomKey } from './room.js';
import { unwrapEnvelope, verifyEnvelope, wrapEnvelope } from './envelope.js';
import { PeerError, isCode } from './errors.js';
import { EventStream } from './events.js';
import { apiError, parseJson, plainRequest, send, tampered, unauthenticatedAnswer } from './exchange.js';
import { MemoryPins, pin } from './pins.js';

export { PeerError } from './errors.js';
export { EventStream } from './events.js';
export { LocalStoragePins, MemoryPins } from './pins.js';

/** @typedef {import('./identity.js').Identity} Identity */
/** @typedef {import('./primitives.js').PublicKey} PublicKey */
/** @typedef {import('./request.js').ClientSession} ClientSession */
/** @typedef {import('./envelope.js').Envelope} Envelope */
/** @typedef {import('./bytes.js').Bytes} Bytes */

/**
 * @typedef {object} NodeInfo
 * @property {string} node_id
 * @property {string} name
 * @property {string} spki base64url SPKI DER of the node key
 * @property {string} version
 * @property {number} protocol_version
 * @property {'main'|'follower'|'standalone'} role
 * @property {string} group
 * @property {string} store
 * @property {number} uptime_secs
 * @property {boolean} registration_open
 * @property {boolean} bearer_tokens
 * @property {{node_id: string, url: string, spki: string, reachable: boolean, last_seen: number}} [main_peer]
 */

/**
 * @typedef {object} User
 * @property {string} id
 * @property {string} name
 * @property {string} spki
 * @property {number} created_at
 */

/**
 * @typedef {'owner'|'admin'|'member'} Role
 */

/**
 * @typedef {object} Member
 * @property {string} user_id
 * @property {string} name
 * @property {Role} role
 * @property {number} join_epoch
 * @property {number} joined_at
 */

/**
 * @typedef {object} Room
 * @property {string} id
 * @property {string} name
 * @property {string} topic
 * @property {'public'|'private'} visibility
 * @property {'open'|'password'|'invite'} join_rule
 * @property {number} capacity
 * @property {boolean} encrypted
 * @property {string} owner_id
 * @property {number} epoch current key epoch (0: unencrypted)
 * @property {boolean} rotation_due
 * @property {number} member_count
 * @property {number} last_seq
 * @property {number} created_at
 * @property {Role} [my_role] absent when the caller is not a member
 * @property {Member[]} [members] only when the caller is a member
 */

/**
 * What a new room looks like (all of `POST /api/v1/rooms`' options).
 * @typedef {object} RoomSettings
 * @property {string} name 1-64 characters
 * @property {string} [topic] at most 512 characters
 * @property {'public'|'private'} [visibility] default public
 * @property {'open'|'password'|'invite'} [join_rule] default open ("password" when `password` is given)
 * @property {string} [password] for the password rule
 * @property {number} [capacity] 2-10,000 (node default 256)
 * @property {boolean} [encrypted] default true
 */

/**
 * @typedef {object} RoomUpdate
 * @property {string} [name]
 * @property {string} [topic]
 * @property {'public'|'private'} [visibility]
 * @property {'open'|'password'|'invite'} [join_rule]
 * @property {string} [password]
 * @property {number} [capacity]
 */

/** @typedef {{room: Room, key_pending: boolean}} Joined */
/** @typedef {{room_id: string, user_id: string, reason: 'left'|'kicked'|'banned'}} Removed */
/** @typedef {{room_id: string, code: string, uses: number, expires_at: number}} Invite */
/** @typedef {{seq: number, id: string, created_at: number}} Posted */
/** @typedef {{current_epoch: number, stored: number, rotated: boolean}} KeysPosted */

/**
 * A stored message as the node lists it.
 * @typedef {object} StoredMessage
 * @property {string} room_id
 * @property {number} seq
 * @property {string} id
 * @property {string} sender_id
 * @property {number} created_at
 * @property {number} [epoch]
 * @property {string} [ciphertext]
 * @property {string} [signature]
 * @property {string} [text]
 * @property {boolean} deleted
 */

/**
 * How far a message can be trusted:
 * - `verified`: encrypted room, the sender's signature verified and the text
 *   decrypted: the sender wrote exactly this;
 * - `unencrypted`: unencrypted room, the text as the node stored it, nobody signed it;
 * - `deleted`: tombstoned, no content;
 * - `failed`: could not be verified or decrypted; `error` says why, `text` is null.
 * @typedef {'verified'|'unencrypted'|'deleted'|'failed'} Verification
 */

/**
 * Why a message could not be read.
 * @typedef {'bad_signature'|'undecryptable'|'malformed'|'no_key'|'invalid_envelope'|'unknown_sender'|'incomplete'} MessageError
 */

/**
 * A message as read.
 * @typedef {object} ReadMessage
 * @property {number} seq
 * @property {string} room room id
 * @property {string} id message id
 * @property {string} sender_id as recorded by the node (`verified` means its key signed it)
 * @property {string|null} sender_name when the sender's record could be fetched
 * @property {string|null} text null unless verified or unencrypted
 * @property {number} sent_at the sender's clock (unencrypted: when stored)
 * @property {number} stored_at when the node stored it
 * @property {number|null} reply_to
 * @property {number|null} epoch
 * @property {Verification} verified
 * @property {MessageError|null} error
 */

/**
 * @typedef {object} ReadPage
 * @property {ReadMessage[]} messages ascending after `after`, descending before `before`
 * @property {number} last_seq the room's highest seq when read
 * @property {boolean} more more messages lie in the direction read
 */

/**
 * A history query: `after` (ascending, default 0) or `before` (descending),
 * `limit` 1-500 (default 100), `wait` long-poll seconds (≤ 60, with `after`).
 * @typedef {{after?: number, before?: number, limit?: number, wait?: number}} MessageQuery
 */

/**
 * An event of the user's stream (api.md "Events"): flat JSON with `id`,
 * `at`, `type` and the type's fields (`room_id`, `seq`, `sender_id`,
 * `user_id`, `epoch`, `join_epoch`, `reason`, `code`, `message`).
 * @typedef {object} PeerEvent
 * @property {number} id 0 for `error` events
 * @property {number} at
 * @property {'message'|'message_deleted'|'member_joined'|'member_left'|'key_request'|'key_granted'|'key_rotated'|'room_updated'|'room_deleted'|'error'} type
 * @property {string} [room_id]
 * @property {number} [seq]
 * @property {string} [sender_id]
 * @property {string} [user_id]
 * @property {number} [epoch]
 * @property {number} [join_epoch]
 * @property {string} [reason]
 * @property {string} [code] error events
 * @property {string} [message] error events
 */

/**
 * What a key duty did (as `peerctl agent` reports it).
 * @typedef {object} AgentReport
 * @property {'key_distributed'|'rotated'|'keys_received'|'error'} event
 * @property {string} room room id
 * @property {string|null} room_name
 * @property {string} [user] the member who got a key (a key_request answered)
 * @property {number} [epoch]
 * @property {number} [stored] envelopes the node stored
 * @property {string} [error] what failed
 * @property {string} [code] the API code of a failure
 */

/** @typedef {import('./pins.js').PinStore} PinStore */

/**
 * @typedef {object} ClientOptions
 * @property {PinStore} [pins] default: a fresh MemoryPins (pins for this object's life only)
 * @property {'ecdh-p256'|'rsa-oaep'} [kex] default 'ecdh-p256'
 * @property {boolean} [sealed] seal request bodies and their answers (default false). GET
 *   requests are never sealed in this client (fetch cannot send a GET body), so their
 *   answers are not sealed either; they are still authenticated.
 * @property {typeof fetch} [fetch] default globalThis.fetch
 * @property {() => number} [now] unix seconds (default Date.now()/1000)
 */

/** How often a rotation that raced a membership change is retried. */
const ROTATION_RETRIES = 3;
/** Envelopes per request when handing a key to many members. */
const ENVELOPES_PER_REQUEST = 500;
/** @param {Role|undefined} role */
const isManager = (role) => role === 'owner' || role === 'admin';

/** @param {Record<string, string|number|undefined|null>} q @returns {string} */
function queryString(q) {
  const parts = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** @param {string} id @param {string} what @returns {Bytes} */
function idBytes(id, what) {
  try {
    const b = b64urlDecode(id);
    if (b.length === 16) return b;
  } catch {
    // fall through
  }
  throw new PeerError('invalid_argument', `${what} is not an id`);
}

/**
 * @typedef {object} KnownUser
 * @property {string} id
 * @property {string} name
 * @property {PublicKey} key
 */

/**
 * @typedef {object} RoomKeys
 * @property {number} current
 * @property {Map<number, Bytes>} keys epoch → master key
 * @property {Set<number>} invalid epochs whose envelope failed verification
 */

/**
 * One user's connection to one node. Every method may run concurrently.
 * Errors are {@link PeerError}s with a stable `code` (api.md's codes, plus
 * client-side ones: `tampered_response`, `invalid_response`,
 * `not_a_member`, `no_room_key`, `user_key_mismatch`, `network`).
 */
export class PeerClient {
  /**
   * @private
   * @param {{base: string, identity: Identity, info: NodeInfo, nodeKey: PublicKey, options: ClientOptions}} init
   */
  constructor(init) {
    /** @private */
    this.base = init.base;
    /** @private */
    this.identity = init.identity;
    /** @private */
    this.info = init.info;
    /** @private */
    this.nodeKey = init.nodeKey;
    /** @private */
    this.kex = init.options.kex ?? 'ecdh-p256';
    /** @private */
    this.sealed = init.options.sealed ?? false;
    /** @private */
    this.fetchFn = init.options.fetch ?? globalThis.fetch.bind(globalThis);
    /** @private */
    this.clock = init.options.now ?? (() => Math.floor(Date.now() / 1000));
    /** @private @type {ClientSession|null} */
    this.session = null;
    /** @private @type {Promise<ClientSession>|null} */
    this.handshaking = null;
    /** @private @type {Map<string, KnownUser>} */
    this.directory = new Map();
    /** @private @type {Map<string, RoomKeys>} */
    this.keyring = new Map();
    /** @private @type {Map<string, string>} */
    this.roomNames = new Map();
  }

  /**
   * Connects to the node at `url` (`http://host:port`, or '' for the page's
   * own origin) as `identity`: fetches `GET /api/v1/node`, checks that the
   * node id is the hash of its key and the key against the pins (pinned on
   * first use; a different key for a pinned URL or node id is `wrong_node`).
   * Through a follower, the main peer's key (reported by the follower) is
   * checked and pinned the same way and used for the handshake. No session
   * is made yet; the user need not be registered yet.
   * @param {string} url
   * @param {Identity} identity
   * @param {ClientOptions} [options]
   * @returns {Promise<PeerClient>}
   */
  static async connect(url, identity, options = {}) {
    const base = url.replace(/\/+$/, '');
    const pins = options.pins ?? new MemoryPins();
    const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    const info = /** @type {NodeInfo} */ (await plainRequest(fetchFn, base, 'GET', '/api/v1/node', undefined));
    const bad = (/** @type {string} */ problem) => new PeerError('invalid_response', `the node at ${base || 'this origin'} is not usable: ${problem}`);
    if (info.protocol_version !== PROTOCOL_VERSION) throw bad('it speaks another protocol version');
    /** @type {PublicKey} */
    let key;
    try {
      key = await importPublicKey(b64urlDecode(info.spki));
    } catch {
      throw bad('its key is not an acceptable RSA key');
    }
    if (b64urlEncode(key.id) !== info.node_id) throw bad('its node id is not the hash of its key');
    const pinUrl = base || (globalThis.location ? globalThis.location.origin : '');
    await pin(pins, pinUrl, info.node_id, key);
    let nodeKey = key;
    if (info.role === 'follower' && info.main_peer) {
      const main = info.main_peer;
      try {
        nodeKey = await importPublicKey(b64urlDecode(main.spki));
      } catch {
        throw bad('its main peer\'s key is not an acceptable RSA key');
      }
      if (b64urlEncode(nodeKey.id) !== main.node_id) throw bad('its main peer\'s id is not the hash of its key');
      await pin(pins, main.url.replace(/\/+$/, ''), main.node_id, nodeKey);
    }
    return new PeerClient({ base, identity, info, nodeKey, options });
  }

  /** This user's id (base64url). @returns {string} */
  get userId() {
    return this.identity.userIdText;
  }

  /** The node's id (base64url). @returns {string} */
  get nodeId() {
    return this.info.node_id;
  }

  /** The node as it described itself when connecting. @returns {NodeInfo} */
  get node() {
    return this.info;
  }

  /** The current session id, if a session is open. @returns {string|null} */
  get sessionId() {
    return this.session ? this.session.sessionIdText : null;
  }

  /** @private @returns {number} */
  now() {
    return this.clock();
  }

  /**
   * `POST /api/v1/users`: registers this key under `name` (signed, for this
   * node, timestamped now).
   * @param {string} name
   * @returns {Promise<User>}
   */
  async register(name) {
    const body = await registrationBody(this.identity, this.nodeKey.id, name, this.now());
    const user = /** @type {User} */ (await plainRequest(this.fetchFn, this.base, 'POST', '/api/v1/users', body));
    if (user.id !== this.userId) throw new PeerError('invalid_response', 'the registered user id is not this key\'s id');
    this.directory.set(user.id, { id: user.id, name: user.name, key: this.identity.publicKey });
    return user;
  }

  /**
   * Makes a new session now (`POST /api/v1/handshake`), replacing any
   * current one. Authenticated calls do this by themselves when needed.
   * @returns {Promise<string>} the session id
   */
  async handshake() {
    this.session = null;
    const s = await this.currentSession();
    return s.sessionIdText;
  }

  /** @private @returns {Promise<ClientSession>} */
  async currentSession() {
    if (this.session && !this.session.isExpired(this.now())) return this.session;
    if (!this.handshaking) {
      this.handshaking = (async () => {
        try {
          const { expect, hello } = await startHandshake(this.identity, this.nodeKey.id, this.kex, this.now());
          const reply = await plainRequest(this.fetchFn, this.base, 'POST', '/api/v1/handshake', hello);
          const session = await finishHandshake(expect, reply, this.nodeKey, this.now());
          this.session = session;
          return session;
        } finally {
          this.handshaking = null;
        }
      })();
    }
    return this.handshaking;
  }

  /** `DELETE /api/v1/session`: ends the current session, if any. @returns {Promise<void>} */
  async endSession() {
    const s = this.session;
    if (!s) return;
    try {
      await this.authed('DELETE', '/api/v1/session');
    } finally {
      if (this.session === s) this.session = null;
    }
  }

  /**
   * One authenticated exchange with the single retry on `session_expired`.
   * @private
   * @param {string} method
   * @param {string} target
   * @param {unknown} [body]
   * @param {{signal?: AbortSignal}} [opts]
   * @returns {Promise<any>} the parsed JSON answer
   */
  async authed(method, target, body, opts = {}) {
    const bytes = body === undefined ? new Uint8Array(0) : utf8Encode(JSON.stringify(body));
    return this.withSession(async (session) =>
      parseJson(await this.exchangeOnce(session, method, target, bytes, body !== undefined, opts.signal)));
  }

  /**
   * Runs `once` in the current session; when the node answers
   * `session_expired`, opens a new session and runs it once more.
   * @private
   * @template T
   * @param {(session: ClientSession) => Promise<T>} once
   * @returns {Promise<T>}
   */
  async withSession(once) {
    let retried = false;
    for (;;) {
      const session = await this.currentSession();
      try {
        return await once(session);
      } catch (e) {
        if (isCode(e, 'session_expired') && !retried) {
          retried = true;
          if (this.session === session) this.session = null;
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * @private
   * @param {ClientSession} session
   * @param {string} method
   * @param {string} target
   * @param {Uint8Array} body
   * @param {boolean} json
   * @param {AbortSignal} [signal]
   * @returns {Promise<Bytes>}
   */
  async exchangeOnce(session, method, target, body, json, signal) {
    // fetch cannot send a body with GET: those requests (and so their
    // answers) are never sealed, whatever the option says.
    const sealed = this.sealed && method !== 'GET' && method !== 'HEAD';
    const prepared = await session.prepareRequest(method, target, body, sealed);
    /** @type {Record<string, string>} */
    const headers = { ...prepared.headers };
    if (prepared.contentType) headers['Content-Type'] = prepared.contentType;
    else if (json) headers['Content-Type'] = 'application/json';
    const resp = await send(this.fetchFn, this.base + target, {
      method, headers, body: prepared.body.length || json ? prepared.body : undefined, signal,
    });
    const raw = new Uint8Array(await resp.arrayBuffer());
    const tag = resp.headers.get('peer-auth');
    if (tag === null) throw unauthenticatedAnswer(method, target, resp.status, raw, resp.headers);
    /** @type {Bytes} */
    let opened;
    try {
      opened = await prepared.verifier.verify(resp.status, tag, raw);
    } catch {
      throw tampered(method, target, resp.status);
    }
    if (resp.status >= 200 && resp.status < 300) return opened;
    throw apiError(resp.status, opened, resp.headers, true);
  }

  /**
   * Who this user is on this node: the user record (null when not
   * registered: `unknown_identity`), the node, the session id.
   * @returns {Promise<{user: User|null, node: NodeInfo, session_id: string|null}>}
   */
  async whoami() {
    /** @type {User|null} */
    let user = null;
    try {
      user = await this.authed('GET', `/api/v1/users/${this.userId}`);
    } catch (e) {
      if (!isCode(e, 'unknown_identity') && !isCode(e, 'user_not_found')) throw e;
    }
    return { user, node: this.info, session_id: this.sessionId };
  }

  /**
   * A user's name and key, checked against the id (cached).
   * @param {string} id
   * @returns {Promise<KnownUser>}
   */
  async knownUser(id) {
    const cached = this.directory.get(id);
    if (cached) return cached;
    const user = /** @type {User} */ (await this.authed('GET', `/api/v1/users/${id}`));
    /** @type {PublicKey} */
    let key;
    try {
      key = await importPublicKey(b64urlDecode(user.spki));
    } catch {
      throw new PeerError('user_key_mismatch', `the key served for user ${id} is not acceptable`);
    }
    if (user.id !== id || b64urlEncode(key.id) !== id) {
      throw new PeerError('user_key_mismatch', `the key served for user ${id} is not that user's`);
    }
    const known = { id, name: user.name, key };
    this.directory.set(id, known);
    return known;
  }

  /**
   * `GET /api/v1/users`: users by name prefix.
   * @param {{name?: string, limit?: number, cursor?: string}} [query]
   * @returns {Promise<{users: User[], next_cursor?: string}>}
   */
  async listUsers(query = {}) {
    return this.authed('GET', `/api/v1/users${queryString(query)}`);
  }

  /** @private @param {Room} room @returns {Room} */
  seen(room) {
    this.roomNames.set(room.id, room.name);
    return room;
  }

  /**
   * `GET /api/v1/rooms`: one page of public rooms and this user's rooms.
   * @param {{limit?: number, cursor?: string}} [query]
   * @returns {Promise<{rooms: Room[], next_cursor?: string}>}
   */
  async listRooms(query = {}) {
    const page = await this.authed('GET', `/api/v1/rooms${queryString(query)}`);
    for (const r of page.rooms) this.seen(r);
    return page;
  }

  /** Every page of {@link PeerClient#listRooms}. @returns {Promise<Room[]>} */
  async listAllRooms() {
    /** @type {Room[]} */
    const out = [];
    /** @type {string|undefined} */
    let cursor;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await this.listRooms({ limit: 500, cursor });
      out.push(...page.rooms);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    return out;
  }

  /** `GET /api/v1/rooms/{id}` (members included when this user is one). @param {string} roomId @returns {Promise<Room>} */
  async getRoom(roomId) {
    idBytes(roomId, 'the room');
    return this.seen(await this.authed('GET', `/api/v1/rooms/${roomId}`));
  }

  /**
   * `POST /api/v1/rooms`: creates a room with a random id; for an encrypted
   * room also the epoch-1 key, wrapped for this user (the owner), kept here.
   * @param {RoomSettings} settings
   * @returns {Promise<Room>}
   */
  async createRoom(settings) {
    const roomId = randomBytes(16);
    const encrypted = settings.encrypted ?? true;
    const master = encrypted ? generateRoomKey() : null;
    /** @type {Record<string, unknown>} */
    const req = {
      id: b64urlEncode(roomId),
      name: settings.name,
      topic: settings.topic ?? '',
      visibility: settings.visibility ?? 'public',
      join_rule: settings.join_rule ?? (settings.password !== undefined ? 'password' : 'open'),
      encrypted,
    };
    if (settings.password !== undefined) req.password = settings.password;
    if (settings.capacity !== undefined) req.capacity = settings.capacity;
    if (master) req.envelope = await wrapEnvelope(this.identity, roomId, 1, this.identity.publicKey, master);
    const room = /** @type {Room} */ (await this.authed('POST', '/api/v1/rooms', req));
    if (room.id !== req.id) throw new PeerError('invalid_response', 'the created room has another id');
    const r = this.roomKeys(room.id);
    if (master) {
      r.keys.set(1, master);
      r.current = Math.max(r.current, 1);
    }
    return this.seen(room);
  }

  /** `PATCH /api/v1/rooms/{id}` (owner or admin). @param {string} roomId @param {RoomUpdate} update @returns {Promise<Room>} */
  async updateRoom(roomId, update) {
    idBytes(roomId, 'the room');
    return this.seen(await this.authed('PATCH', `/api/v1/rooms/${roomId}`, update));
  }

  /** `DELETE /api/v1/rooms/{id}` (owner); forgets its keys. @param {string} roomId @returns {Promise<void>} */
  async deleteRoom(roomId) {
    idBytes(roomId, 'the room');
    await this.authed('DELETE', `/api/v1/rooms/${roomId}`);
    this.forgetRoom(roomId);
  }

  /** @private @param {string} roomId */
  forgetRoom(roomId) {
    const r = this.keyring.get(roomId);
    if (r) for (const k of r.keys.values()) k.fill(0);
    this.keyring.delete(roomId);
  }

  /**
   * `POST /api/v1/rooms/{id}/join` with a password or invite code when the
   * room needs one. In an encrypted room `key_pending` is true until an
   * owner or admin hands out the key (then a `key_granted` event comes).
   * @param {string} roomId
   * @param {{password?: string, invite?: string}} [how]
   * @returns {Promise<Joined>}
   */
  async join(roomId, how = {}) {
    idBytes(roomId, 'the room');
    /** @type {Record<string, string>} */
    const body = {};
    if (how.password !== undefined) body.password = how.password;
    if (how.invite !== undefined) body.invite = how.invite;
    const joined = /** @type {Joined} */ (await this.authed('POST', `/api/v1/rooms/${roomId}/join`, body));
    this.seen(joined.room);
    return joined;
  }

  /** `POST /api/v1/rooms/{id}/leave`. @param {string} roomId @returns {Promise<Removed>} */
  async leave(roomId) {
    idBytes(roomId, 'the room');
    return this.authed('POST', `/api/v1/rooms/${roomId}/leave`);
  }

  /** The room's members (this user must be one). @param {string} roomId @returns {Promise<Member[]>} */
  async members(roomId) {
    const room = await this.getRoom(roomId);
    if (!room.members) throw new PeerError('not_a_member', 'only members see the member list');
    return room.members;
  }

  /**
   * `POST /api/v1/rooms/{id}/invites` (owner or admin).
   * @param {string} roomId
   * @param {{uses?: number, expires_in_secs?: number}} [opts]
   * @returns {Promise<Invite>}
   */
  async invite(roomId, opts = {}) {
    idBytes(roomId, 'the room');
    /** @type {Record<string, number>} */
    const body = {};
    if (opts.uses !== undefined) body.uses = opts.uses;
    if (opts.expires_in_secs !== undefined) body.expires_in_secs = opts.expires_in_secs;
    return this.authed('POST', `/api/v1/rooms/${roomId}/invites`, body);
  }

  /**
   * `POST /api/v1/rooms/{id}/kick` (owner or admin); with `ban` the user
   * cannot come back. Like `peerctl rooms kick`, an encrypted room is then
   * rotated at once (unless `rotate: false`), so no later message is
   * readable with a key the removed member holds.
   * @param {string} roomId
   * @param {string} userId
   * @param {{ban?: boolean, rotate?: boolean}} [opts]
   * @returns {Promise<Removed & {epoch: number|null}>} `epoch`: the room's epoch afterwards (null: unencrypted)
   */
  async kick(roomId, userId, opts = {}) {
    idBytes(roomId, 'the room');
    idBytes(userId, 'the user');
    const removed = /** @type {Removed} */ (
      await this.authed('POST', `/api/v1/rooms/${roomId}/kick`, { user_id: userId, ban: opts.ban ?? false })
    );
    /** @type {number|null} */
    let epoch = null;
    if (opts.rotate ?? true) {
      const room = await this.getRoom(roomId);
      if (room.encrypted) {
        const posted = await this.rotateIfDue(roomId);
        epoch = posted ? posted.current_epoch : (await this.getRoom(roomId)).epoch;
      }
    }
    return { ...removed, epoch };
  }

  /** {@link PeerClient#kick} with `ban: true`. @param {string} roomId @param {string} userId @returns {Promise<Removed & {epoch: number|null}>} */
  async ban(roomId, userId) {
    return this.kick(roomId, userId, { ban: true });
  }

  /** `POST /api/v1/rooms/{id}/roles` (owner). @param {string} roomId @param {string} userId @param {'admin'|'member'} role @returns {Promise<Member>} */
  async setRole(roomId, userId, role) {
    idBytes(roomId, 'the room');
    return this.authed('POST', `/api/v1/rooms/${roomId}/roles`, { user_id: userId, role });
  }

  // ------------------------------------------------------------ keys

  /** @private @param {string} roomId @returns {RoomKeys} */
  roomKeys(roomId) {
    let r = this.keyring.get(roomId);
    if (!r) {
      r = { current: 0, keys: new Map(), invalid: new Set() };
      this.keyring.set(roomId, r);
    }
    return r;
  }

  /**
   * @private
   * @param {string} roomId
   * @param {number} epoch
   * @returns {{key: Bytes} | {invalid: true} | null}
   */
  lookup(roomId, epoch) {
    const r = this.keyring.get(roomId);
    const k = r?.keys.get(epoch);
    if (k) return { key: k };
    if (r?.invalid.has(epoch)) return { invalid: true };
    return null;
  }

  /**
   * Fetches this user's envelopes of a room, verifies and unwraps the new
   * ones; returns the room's current epoch (0: unencrypted). An envelope
   * that fails verification is remembered as invalid for its epoch.
   * @param {string} roomId
   * @returns {Promise<number>}
   */
  async refreshKeys(roomId) {
    idBytes(roomId, 'the room');
    const list = /** @type {{current_epoch: number, envelopes: Envelope[]}} */ (
      await this.authed('GET', `/api/v1/rooms/${roomId}/keys`)
    );
    const r = this.roomKeys(roomId);
    for (const env of list.envelopes) {
      if (r.keys.has(env.epoch)) continue;
      try {
        if (env.room_id !== roomId || env.member_id !== this.userId) throw new PeerError('invalid_envelope', 'not this user\'s envelope');
        const distributor = await this.knownUser(env.distributor_id);
        await verifyEnvelope(env, distributor.key);
        const master = await unwrapEnvelope(env, this.identity);
        r.keys.set(env.epoch, master);
        r.invalid.delete(env.epoch);
      } catch {
        if (!r.keys.has(env.epoch)) r.invalid.add(env.epoch);
      }
    }
    r.current = Math.max(r.current, list.current_epoch);
    return list.current_epoch;
  }

  /** @private @param {string} roomId @param {number} epoch @returns {Promise<Bytes>} */
  async keyFor(roomId, epoch) {
    if (this.lookup(roomId, epoch) === null) await this.refreshKeys(roomId);
    const k = this.lookup(roomId, epoch);
    if (k && 'key' in k) return k.key;
    if (k) throw new PeerError('invalid_envelope', `the key envelope of epoch ${epoch} is invalid`);
    throw new PeerError('no_room_key', `no key for epoch ${epoch} of this room yet: an owner or admin hands it out when online`);
  }

  /** @private @param {string} roomId @returns {Promise<number>} */
  async currentEpoch(roomId) {
    const r = this.keyring.get(roomId);
    if (r) return r.current;
    return this.refreshKeys(roomId);
  }

  /** True when this client holds the key of the room's current epoch (or the room is unencrypted). @param {string} roomId @returns {Promise<boolean>} */
  async hasCurrentKey(roomId) {
    const epoch = await this.refreshKeys(roomId);
    return epoch === 0 || this.keyring.get(roomId)?.keys.has(epoch) === true;
  }

  /** @private @param {string} roomId @returns {Promise<Room & {members: Member[]}>} */
  async roomWithMembers(roomId) {
    const room = await this.getRoom(roomId);
    if (!room.members) throw new PeerError('not_a_member', 'this user is not a member of the room');
    if (!room.encrypted) throw new PeerError('not_encrypted', 'the room is not encrypted');
    return /** @type {Room & {members: Member[]}} */ (room);
  }

  /** @private @param {string} roomId @param {number} epoch @param {Envelope[]} envelopes @param {boolean} rotate @returns {Promise<KeysPosted>} */
  async postKeys(roomId, epoch, envelopes, rotate) {
    return /** @type {KeysPosted} */ (
      await this.authed('POST', `/api/v1/rooms/${roomId}/keys`, { epoch, envelopes, rotate })
    );
  }

  /** Hands the current key to one member (owner or admin). @param {string} roomId @param {string} memberId @returns {Promise<KeysPosted>} */
  async distributeKey(roomId, memberId) {
    const room = await this.roomWithMembers(roomId);
    if (!room.members.some((m) => m.user_id === memberId)) {
      throw new PeerError('not_a_member', 'that user is not a member of the room');
    }
    const master = await this.keyFor(roomId, room.epoch);
    const member = await this.knownUser(memberId);
    const env = await wrapEnvelope(this.identity, idBytes(roomId, 'the room'), room.epoch, member.key, master);
    return this.postKeys(roomId, room.epoch, [env], false);
  }

  /**
   * Hands the current key to every other member (owner or admin); the node
   * stores only the envelopes members lack. Null when alone in the room.
   * @param {string} roomId
   * @returns {Promise<KeysPosted|null>}
   */
  async distributeKeyToMembers(roomId) {
    const room = await this.roomWithMembers(roomId);
    const epoch = room.epoch;
    const others = room.members.filter((m) => m.user_id !== this.userId && m.join_epoch <= epoch).map((m) => m.user_id);
    if (others.length === 0) return null;
    const master = await this.keyFor(roomId, epoch);
    const rid = idBytes(roomId, 'the room');
    /** @type {KeysPosted|null} */
    let total = null;
    for (let i = 0; i < others.length; i += ENVELOPES_PER_REQUEST) {
      /** @type {Envelope[]} */
      const envelopes = [];
      for (const id of others.slice(i, i + ENVELOPES_PER_REQUEST)) {
        const member = await this.knownUser(id);
        envelopes.push(await wrapEnvelope(this.identity, rid, epoch, member.key, master));
      }
      const posted = await this.postKeys(roomId, epoch, envelopes, false);
      total = total === null ? posted : { ...posted, stored: total.stored + posted.stored };
    }
    return total;
  }

  /**
   * Rotates the room key now (owner or admin): a new key for epoch n+1,
   * wrapped for every current member. `rotated: false` when another manager
   * rotated to that epoch first.
   * @param {string} roomId
   * @returns {Promise<KeysPosted>}
   */
  async rotate(roomId) {
    return this.rotateFrom(await this.roomWithMembers(roomId));
  }

  /** @private @param {Room & {members: Member[]}} room @returns {Promise<KeysPosted>} */
  async rotateFrom(room) {
    const epoch = room.epoch + 1;
    if (epoch > 0xffffffff) throw new PeerError('invalid_argument', 'the room\'s epoch cannot grow');
    const master = generateRoomKey();
    const rid = idBytes(room.id, 'the room');
    /** @type {Envelope[]} */
    const envelopes = [];
    for (const m of room.members) {
      const member = await this.knownUser(m.user_id);
      envelopes.push(await wrapEnvelope(this.identity, rid, epoch, member.key, master));
    }
    try {
      const posted = await this.postKeys(room.id, epoch, envelopes, true);
      if (posted.rotated) {
        const r = this.roomKeys(room.id);
        r.keys.set(epoch, master);
        r.invalid.delete(epoch);
        r.current = Math.max(r.current, epoch);
      }
      return posted;
    } catch (e) {
      if (isCode(e, 'conflict')) {
        // Either another manager rotated to this epoch first (its key
        // stands), or the room changed under this rotation (retry).
        const now = await this.getRoom(room.id);
        if (now.epoch >= epoch) return { current_epoch: now.epoch, stored: 0, rotated: false };
      }
      throw e;
    }
  }

  /**
   * Rotates when due (a member left or was removed) and this user manages
   * the room; null when there is nothing to do. Retries races a few times.
   * @param {string} roomId
   * @returns {Promise<KeysPosted|null>}
   */
  async rotateIfDue(roomId) {
    for (let retries = 0; ; retries++) {
      const room = await this.getRoom(roomId);
      if (!(room.encrypted && room.rotation_due && isManager(room.my_role) && room.members)) return null;
      try {
        const posted = await this.rotateFrom(/** @type {Room & {members: Member[]}} */ (room));
        return posted.rotated ? posted : null;
      } catch (e) {
        const race = ['conflict', 'incomplete_envelopes', 'wrong_epoch'].some((c) => isCode(e, c));
        if (!(race && retries < ROTATION_RETRIES)) throw e;
      }
    }
  }

  // ------------------------------------------------------------ messages

  /**
   * Sends `text`: encrypted and signed under the current epoch (plain in an
   * unencrypted room). `epoch_outdated` refreshes keys and sends once more;
   * `rotation_pending` makes a manager rotate first and send again (as
   * peerctl does); others get the error. No key yet: `no_room_key`.
   * @param {string} roomId
   * @param {string} text
   * @param {{replyTo?: number}} [opts]
   * @returns {Promise<Posted>}
   */
  async sendText(roomId, text, opts = {}) {
    try {
      return await this.sendOnce(roomId, text, opts.replyTo ?? null);
    } catch (e) {
      if (!isCode(e, 'rotation_pending')) throw e;
      const room = await this.getRoom(roomId);
      if (!isManager(room.my_role)) {
        throw new PeerError('rotation_pending', 'a member left or was removed, so the room key must be rotated before anyone posts: an owner or admin must come online', { status: 409, authenticated: true });
      }
      await this.rotateIfDue(roomId);
      return this.sendOnce(roomId, text, opts.replyTo ?? null);
    }
  }

  /** @private @param {string} roomId @param {string} text @param {number|null} replyTo @returns {Promise<Posted>} */
  async sendOnce(roomId, text, replyTo) {
    const rid = idBytes(roomId, 'the room');
    let refreshed = false;
    for (;;) {
      const epoch = await this.currentEpoch(roomId);
      /** @type {Record<string, unknown>} */
      let post;
      if (epoch === 0) {
        post = { text };
      } else {
        const master = await this.keyFor(roomId, epoch);
        const k = await epochKey(master, rid, epoch);
        const sealed = await encryptMessage(k, rid, epoch, this.identity, { text, sent_at: this.now(), reply_to: replyTo });
        k.fill(0);
        post = { epoch, ciphertext: b64urlEncode(sealed.ciphertext), signature: b64urlEncode(sealed.signature) };
      }
      try {
        return await this.authed('POST', `/api/v1/rooms/${roomId}/messages`, post);
      } catch (e) {
        if (isCode(e, 'epoch_outdated') && !refreshed) {
          refreshed = true;
          await this.refreshKeys(roomId);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * `GET /api/v1/rooms/{id}/messages` with `query`, each message verified
   * and decrypted (failures per message, never dropped). Page upwards with
   * `{before: oldestSeq}`; forwards with `{after: lastSeq}`.
   * @param {string} roomId
   * @param {MessageQuery} [query]
   * @param {{signal?: AbortSignal}} [opts]
   * @returns {Promise<ReadPage>}
   */
  async history(roomId, query = {}, opts = {}) {
    idBytes(roomId, 'the room');
    const q = queryString({ after: query.after, before: query.before, limit: query.limit, wait: query.wait });
    const list = /** @type {{messages: StoredMessage[], last_seq: number, more: boolean}} */ (
      await this.authed('GET', `/api/v1/rooms/${roomId}/messages${q}`, undefined, opts)
    );
    await this.fetchMissingKeys(roomId, list.messages);
    /** @type {ReadMessage[]} */
    const messages = [];
    for (const m of list.messages) messages.push(await this.openFetched(m));
    return { messages, last_seq: list.last_seq, more: list.more };
  }

  /**
   * Long-poll fallback for live updates: the messages after `after`,
   * waiting up to `wait` seconds (default 25) for one to arrive.
   * @param {string} roomId
   * @param {number} after
   * @param {{wait?: number, limit?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<ReadPage>}
   */
  async poll(roomId, after, opts = {}) {
    return this.history(roomId, { after, wait: opts.wait ?? 25, limit: opts.limit }, { signal: opts.signal });
  }

  /** @private @param {string} roomId @param {StoredMessage[]} messages */
  async fetchMissingKeys(roomId, messages) {
    const missing = messages.some((m) => typeof m.epoch === 'number' && this.lookup(roomId, m.epoch) === null);
    if (missing) await this.refreshKeys(roomId);
  }

  /** Verifies and decrypts one stored message. @param {StoredMessage} m @returns {Promise<ReadMessage>} */
  async openMessage(m) {
    await this.fetchMissingKeys(m.room_id, [m]);
    return this.openFetched(m);
  }

  /** @private @param {StoredMessage} m @returns {Promise<ReadMessage>} */
  async openFetched(m) {
    /** @type {KnownUser|null} */
    let sender = null;
    try {
      sender = await this.knownUser(m.sender_id);
    } catch {
      sender = null;
    }
    /** @type {ReadMessage} */
    const out = {
      seq: m.seq, room: m.room_id, id: m.id, sender_id: m.sender_id,
      sender_name: sender ? sender.name : null, text: null,
      sent_at: m.created_at, stored_at: m.created_at, reply_to: null,
      epoch: typeof m.epoch === 'number' ? m.epoch : null, verified: 'failed', error: null,
    };
    if (m.deleted) {
      out.verified = 'deleted';
      return out;
    }
    if (typeof m.epoch !== 'number') {
      if (typeof m.text === 'string') {
        out.text = m.text;
        out.verified = 'unencrypted';
      } else {
        out.error = 'incomplete';
      }
      return out;
    }
    if (typeof m.ciphertext !== 'string' || typeof m.signature !== 'string') {
      out.error = 'incomplete';
      return out;
    }
    const k = this.lookup(m.room_id, m.epoch);
    if (k === null) {
      out.error = 'no_key';
      return out;
    }
    if (!('key' in k)) {
      out.error = 'invalid_envelope';
      return out;
    }
    if (!sender) {
      out.error = 'unknown_sender';
      return out;
    }
    try {
      const rid = idBytes(m.room_id, 'the room');
      const kEpoch = await epochKey(k.key, rid, m.epoch);
      const body = await decryptMessage(
        kEpoch, rid, m.epoch, sender.key, idBytes(m.sender_id, 'the sender'),
        b64urlDecode(m.ciphertext), b64urlDecode(m.signature),
      );
      kEpoch.fill(0);
      out.text = body.text;
      out.sent_at = body.sent_at;
      out.reply_to = body.reply_to;
      out.verified = 'verified';
    } catch (e) {
      out.error = isCode(e, 'bad_signature') ? 'bad_signature'
        : isCode(e, 'invalid_field') ? 'malformed'
          : e instanceof TypeError ? 'incomplete' : 'undecryptable';
    }
    return out;
  }

  // ------------------------------------------------------------ events

  /**
   * Opens this user's event stream (`GET /api/v1/events`, authenticated;
   * the answer's `Peer-Auth` is verified before any event is read),
   * resuming after `lastEventId` when given.
   * @param {{lastEventId?: number|null, signal?: AbortSignal}} [opts]
   * @returns {Promise<EventStream>}
   */
  async events(opts = {}) {
    return this.withSession((session) => this.streamOnce(session, '/api/v1/events', opts));
  }

  /**
   * @private
   * @param {ClientSession} session
   * @param {string} target
   * @param {{lastEventId?: number|null, signal?: AbortSignal}} opts
   * @returns {Promise<EventStream>}
   */
  async streamOnce(session, target, opts) {
    const prepared = await session.prepareRequest('GET', target, new Uint8Array(0), false);
    /** @type {Record<string, string>} */
    const headers = { ...prepared.headers, Accept: 'text/event-stream' };
    if (opts.lastEventId !== undefined && opts.lastEventId !== null) headers['Last-Event-ID'] = String(opts.lastEventId);
    const abort = new AbortController();
    if (opts.signal) {
      if (opts.signal.aborted) abort.abort();
      opts.signal.addEventListener('abort', () => abort.abort(), { once: true });
    }
    const resp = await send(this.fetchFn, this.base + target, { method: 'GET', headers, signal: abort.signal });
    const tag = resp.headers.get('peer-auth');
    if (tag === null) {
      const raw = new Uint8Array(await resp.arrayBuffer());
      throw unauthenticatedAnswer('GET', target, resp.status, raw, resp.headers);
    }
    if (resp.status === 200 && resp.body) {
      try {
        await prepared.verifier.verify(200, tag, new Uint8Array(0));
      } catch {
        abort.abort();
        throw tampered('GET', target, 200);
      }
      return new EventStream(resp.body.getReader(), abort, opts.lastEventId ?? null);
    }
    const raw = new Uint8Array(await resp.arrayBuffer());
    /** @type {Bytes} */
    let body;
    try {
      body = await prepared.verifier.verify(resp.status, tag, raw);
    } catch {
      throw tampered('GET', target, resp.status);
    }
    throw apiError(resp.status, body, resp.headers, true);
  }

  // ------------------------------------------------------------ agent

  /** @private @param {string} roomId @returns {string|null} */
  roomName(roomId) {
    return this.roomNames.get(roomId) ?? null;
  }

  /**
   * Answers a `key_request` when this user manages the room and `userId` is
   * another current member; null otherwise.
   * @param {string} roomId
   * @param {string} userId
   * @returns {Promise<KeysPosted|null>}
   */
  async handleKeyRequest(roomId, userId) {
    if (userId === this.userId) return null;
    const room = await this.getRoom(roomId);
    const stillMember = (room.members ?? []).some((m) => m.user_id === userId);
    if (!isManager(room.my_role) || !room.encrypted || !stillMember) return null;
    try {
      return await this.distributeKey(roomId, userId);
    } catch (e) {
      if (isCode(e, 'not_a_member')) return null;
      throw e;
    }
  }

  /**
   * Reacts to one event like `peerctl agent`: answers `key_request`s of
   * rooms this user manages, rotates on `room_updated` when due, fetches
   * its own new keys on `key_rotated` and its own `key_granted`, forgets a
   * deleted room's keys. Null when nothing was done. Throws on failure.
   * @param {PeerEvent} event
   * @returns {Promise<AgentReport|null>}
   */
  async handleEvent(event) {
    const room = event.room_id;
    if (!room) return null;
    switch (event.type) {
      case 'key_request': {
        if (!event.user_id) return null;
        const posted = await this.handleKeyRequest(room, event.user_id);
        if (!posted) return null;
        return {
          event: 'key_distributed', room, room_name: this.roomName(room), user: event.user_id,
          epoch: posted.current_epoch, stored: posted.stored,
        };
      }
      case 'room_updated': {
        const posted = await this.rotateIfDue(room);
        if (!posted) return null;
        return { event: 'rotated', room, room_name: this.roomName(room), epoch: posted.current_epoch, stored: posted.stored };
      }
      case 'key_granted':
        if (event.user_id !== this.userId) return null;
      // falls through
      case 'key_rotated': {
        const epoch = await this.refreshKeys(room);
        return { event: 'keys_received', room, room_name: this.roomName(room), epoch };
      }
      case 'room_deleted':
        this.forgetRoom(room);
        return null;
      default:
        return null;
    }
  }

  /**
   * The agent's catch-up (run when coming online or after an event gap):
   * for every encrypted room this user manages, hands the current key to
   * members who lack it, then rotates if due. Failures are reported per
   * room, never thrown.
   * @returns {Promise<AgentReport[]>}
   */
  async catchUp() {
    /** @type {AgentReport[]} */
    const out = [];
    /** @type {Room[]} */
    let rooms;
    try {
      rooms = (await this.listAllRooms()).filter((r) => r.encrypted && isManager(r.my_role));
    } catch (e) {
      return [failure('', null, e, 'cannot list the rooms')];
    }
    for (const room of rooms) {
      try {
        const posted = await this.distributeKeyToMembers(room.id);
        if (posted && posted.stored > 0) {
          out.push({ event: 'key_distributed', room: room.id, room_name: room.name, epoch: posted.current_epoch, stored: posted.stored });
        }
      } catch (e) {
        out.push(failure(room.id, room.name, e, 'cannot hand out the room key'));
      }
      try {
        const posted = await this.rotateIfDue(room.id);
        if (posted) out.push({ event: 'rotated', room: room.id, room_name: room.name, epoch: posted.current_epoch, stored: posted.stored });
      } catch (e) {
        out.push(failure(room.id, room.name, e, 'cannot rotate the room key'));
      }
    }
    return out;
  }

  /**
   * One agent step: `handleEvent(event)` when given (a `conflict` error
   * event, i.e. a gap in the stream, runs `catchUp()`), else `catchUp()`;
   * failures become `error` reports instead of throwing.
   * @param {PeerEvent} [event]
   * @returns {Promise<AgentReport[]>}
   */
  async agentStep(event) {
    if (!event || (event.type === 'error' && event.code === 'conflict')) return this.catchUp();
    try {
      const r = await this.handleEvent(event);
      return r ? [r] : [];
    } catch (e) {
      const room = event.room_id ?? '';
      return [failure(room, this.roomName(room), e, `cannot act on ${event.type}`)];
    }
  }
}

/**
 * @param {string} room
 * @param {string|null} name
 * @param {unknown} e
 * @param {string} doing
 * @returns {AgentReport}
 */
function failure(room, name, e, doing) {
  const msg = e instanceof Error ? e.message : String(e);
  /** @type {AgentReport} */
  const r = { event: 'error', room, room_name: name, error: `${doing}: ${msg}` };
  if (e instanceof PeerError) r.code = e.code;
  return r;
}
