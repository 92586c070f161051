// @ts-check
/**
 * @file The app's state and screens: identity and connection, the room
 * list with unread counts, routing by the URL fragment (`#room=ID`,
 * `#create`, `#join=ID&invite=CODE`, `#account`), and the live connection.
 * All cryptography is the library's (../lib/); this module only decides
 * what to show.
 */

import { PeerClient, LocalStoragePins } from '../lib/client.js';
import { IdentityStore, generateIdentity } from '../lib/identity.js';
import { h, replace, describe, codeOf } from './dom.js';
import { registerScreen } from './register.js';
import { accountView, exportWarning } from './account.js';
import { roomListItems, createRoomView, joinRoomView } from './rooms.js';
import { ChatView } from './chat.js';
import { Live } from './live.js';

/** @typedef {import('../lib/client.js').Room} Room */
/** @typedef {import('../lib/client.js').PeerEvent} PeerEvent */
/** @typedef {import('../lib/client.js').AgentReport} AgentReport */
/** @typedef {import('../lib/identity.js').Identity} Identity */

/** What the URL fragment asks for. */
/** @typedef {{view: 'home'} | {view: 'room', room: string} | {view: 'create'} | {view: 'join', room: string, invite: string} | {view: 'account'}} Route */

/**
 * Parses `location.hash`.
 * @param {string} hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const room = p.get('room');
  if (room) return { view: 'room', room };
  const join = p.get('join');
  if (join !== null) return { view: 'join', room: join, invite: p.get('invite') ?? '' };
  if (p.has('create')) return { view: 'create' };
  if (p.has('account')) return { view: 'account' };
  return { view: 'home' };
}

export class App {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    this.store = new IdentityStore();
    /** @type {PeerClient|null} */
    this.client = null;
    /** @type {Identity|null} */
    this.identity = null;
    /** @type {{name: string|null, exported: boolean, canExport: boolean}} */
    this.meta = { name: null, exported: false, canExport: false };
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    /** @type {ChatView|null} */
    this.chat = null;
    /** @type {Live|null} */
    this.live = null;
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.refreshTimer = null;
    this.status = h('span', { class: 'status', role: 'status', 'data-testid': 'status' }, 'connecting…');
    this.sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Rooms' });
    this.main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
    this.banner = h('div', { class: 'banners' });
    this.layout = h('div', { class: 'layout', 'data-pane': 'list' }, this.sidebar, this.main);
  }

  /** Loads the identity, connects, and shows the right screen. */
  async boot() {
    replace(this.root, h('p', { class: 'loading' }, 'Loading…'));
    const stored = await this.store.load();
    if (!stored) {
      this.showRegister(null);
      return;
    }
    this.identity = stored.identity;
    this.meta = { name: stored.name, exported: stored.exported, canExport: stored.identity.exportKey !== null };
    this.client = await PeerClient.connect('', stored.identity, { pins: new LocalStoragePins() });
    const who = await this.client.whoami();
    if (!who.user) {
      this.showRegister(stored.name);
      return;
    }
    if (who.user.name !== stored.name) {
      this.meta.name = who.user.name;
      await this.store.update({ name: who.user.name });
    }
    await this.start();
  }

  /**
   * The registration screen (first visit, or an identity not registered on
   * this node yet).
   * @param {string|null} suggested
   */
  showRegister(suggested) {
    replace(this.root, registerScreen(this, suggested));
  }

  /**
   * Registers `name` with the node: makes and stores a new identity first
   * when there is none.
   * @param {string} name
   */
  async register(name) {
    if (!this.identity) {
      const identity = await generateIdentity();
      await this.store.save(identity, { name, exported: false });
      this.identity = identity;
      this.meta = { name, exported: false, canExport: identity.exportKey !== null };
    }
    if (!this.client) {
      this.client = await PeerClient.connect('', this.identity, { pins: new LocalStoragePins() });
    }
    const user = await this.client.register(name);
    this.meta.name = user.name;
    await this.store.update({ name: user.name });
    await this.start();
  }

  /**
   * Replaces the stored identity with `identity` (from a file) and starts over.
   * @param {Identity} identity
   */
  async adopt(identity) {
    await this.store.save(identity, { name: null, exported: true, replace: true });
    this.live?.stop();
    location.hash = '';
    location.reload();
  }

  /** The signed-in app: top bar, room list, main pane, live updates. */
  async start() {
    const client = this.need();
    const top = h(
      'header',
      { class: 'topbar' },
      h('h1', { class: 'brand' }, 'peergroup'),
      this.status,
      h('a', { class: 'me', href: '#account', 'data-testid': 'me', title: 'Your identity: export, import' }, this.meta.name ?? client.userId),
    );
    replace(this.root, top, this.banner, this.layout);
    this.renderBanner();
    await this.refreshRooms();
    window.addEventListener('hashchange', () => this.route());
    await this.route();
    this.live = new Live(this);
    this.live.start();
  }

  /** @returns {PeerClient} */
  need() {
    if (!this.client) throw new Error('not connected');
    return this.client;
  }

  /** The export warning while the identity exists only here. */
  renderBanner() {
    replace(this.banner, this.meta.exported ? null : exportWarning(this));
  }

  /** @param {string} text @param {'ok'|'warn'|'error'} [kind] */
  setStatus(text, kind = 'ok') {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  /**
   * Shows an agent report (keys handed out, rotations) in the status line.
   * @param {AgentReport[]} reports
   */
  report(reports) {
    for (const r of reports) {
      const room = r.room_name ?? r.room;
      if (r.event === 'key_distributed') this.setStatus(`handed the key of ${room} to a member`);
      else if (r.event === 'rotated') this.setStatus(`rotated the key of ${room} to epoch ${r.epoch ?? '?'}`);
      else if (r.event === 'error') this.setStatus(`key duty in ${room} failed: ${r.error ?? r.code ?? ''}`, 'warn');
    }
  }

  // ----- rooms -------------------------------------------------------------

  /** Reloads the room list from the node. */
  async refreshRooms() {
    const rooms = await this.need().listAllRooms();
    this.rooms = new Map(rooms.map((r) => [r.id, r]));
    this.renderSidebar();
  }

  /** Reloads the room list soon (events come in bursts). */
  refreshRoomsSoon() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refreshRooms().catch((e) => this.setStatus(`cannot list rooms: ${describe(e)}`, 'warn'));
    }, 150);
  }

  /** @param {string} roomId @returns {number} the last seq this tab showed */
  seen(roomId) {
    return Number(localStorage.getItem(this.seenKey(roomId)) ?? '0') || 0;
  }

  /** @param {string} roomId @param {number} seq */
  markSeen(roomId, seq) {
    if (seq > this.seen(roomId)) localStorage.setItem(this.seenKey(roomId), String(seq));
    const room = this.rooms.get(roomId);
    if (room && seq > room.last_seq) room.last_seq = seq;
    this.renderSidebar();
  }

  /** @param {string} roomId */
  seenKey(roomId) {
    return `peergroup.seen.${this.need().userId}.${roomId}`;
  }

  /** @param {Room} room @returns {number} */
  unread(room) {
    if (!room.my_role) return 0;
    return Math.max(0, room.last_seq - this.seen(room.id));
  }

  renderSidebar() {
    const mine = [...this.rooms.values()].filter((r) => r.my_role);
    const others = [...this.rooms.values()].filter((r) => !r.my_role);
    const current = this.chat?.roomId ?? null;
    replace(
      this.sidebar,
      h(
        'div',
        { class: 'side-actions' },
        h('a', { class: 'button primary', href: '#create', 'data-testid': 'new-room' }, 'New room'),
        h('a', { class: 'button', href: '#join=' }, 'Join by id'),
      ),
      h('h2', { class: 'side-title' }, 'My rooms'),
      mine.length ? roomListItems(this, mine, current, 'mine') : h('p', { class: 'empty' }, 'None yet.'),
      h('h2', { class: 'side-title' }, 'Public rooms'),
      others.length ? roomListItems(this, others, current, 'public') : h('p', { class: 'empty' }, 'No other public rooms.'),
    );
  }

  // ----- routing -----------------------------------------------------------

  /** Shows what the URL fragment asks for. */
  async route() {
    const route = parseRoute(location.hash);
    if (this.chat && (route.view !== 'room' || route.room !== this.chat.roomId)) {
      this.chat.close();
      this.chat = null;
    }
    this.layout.dataset.pane = route.view === 'home' ? 'list' : 'main';
    try {
      switch (route.view) {
        case 'home':
          replace(this.main, this.welcome());
          break;
        case 'create':
          replace(this.main, createRoomView(this));
          break;
        case 'join':
          replace(this.main, joinRoomView(this, route.room, route.invite));
          break;
        case 'account':
          replace(this.main, accountView(this));
          break;
        case 'room': {
          if (this.chat?.roomId === route.room) break;
          const chat = new ChatView(this, route.room);
          this.chat = chat;
          replace(this.main, chat.el);
          await chat.load();
          break;
        }
      }
    } catch (e) {
      replace(this.main, this.backLink(), h('p', { class: 'error', role: 'alert' }, describe(e)));
    }
    this.renderSidebar();
  }

  /** A "back to rooms" link (the only way back at phone width). */
  backLink() {
    return h('a', { class: 'back', href: '#', 'aria-label': 'Back to the room list' }, '← Rooms');
  }

  welcome() {
    const client = this.need();
    return h(
      'section',
      { class: 'welcome' },
      h('h2', {}, `Hello, ${this.meta.name ?? 'there'}`),
      h('p', {}, 'Pick a room on the left, or make one. Messages in encrypted rooms are encrypted and signed in this browser: the node stores only ciphertext.'),
      h('p', { class: 'muted' }, `Node ${client.node.name} (${client.nodeId}).`),
    );
  }

  // ----- live --------------------------------------------------------------

  /**
   * One event of the user's stream: key duties first (as `peerctl agent`),
   * then what the screen shows.
   * @param {PeerEvent} ev
   */
  async onEvent(ev) {
    const client = this.need();
    this.report(await client.agentStep(ev));
    const roomId = ev.room_id;
    /** The open chat, when the event is about its room. */
    const chat = this.chat && roomId && this.chat.roomId === roomId ? this.chat : null;
    switch (ev.type) {
      case 'message': {
        const room = roomId ? this.rooms.get(roomId) : undefined;
        if (room && ev.seq && ev.seq > room.last_seq) room.last_seq = ev.seq;
        if (chat) await chat.pull();
        else this.renderSidebar();
        break;
      }
      case 'message_deleted':
        if (chat && ev.seq) chat.markDeleted(ev.seq);
        break;
      case 'member_left':
        if (ev.user_id === client.userId && roomId) {
          this.rooms.delete(roomId);
          if (chat) chat.removed(ev.reason ?? 'left');
        } else if (chat) {
          await chat.refreshRoom();
        }
        this.refreshRoomsSoon();
        break;
      case 'room_deleted':
        if (roomId) this.rooms.delete(roomId);
        if (chat) chat.removed('deleted');
        this.refreshRoomsSoon();
        break;
      case 'key_granted':
      case 'key_rotated':
        if (chat) await chat.keysChanged();
        this.refreshRoomsSoon();
        break;
      case 'member_joined':
      case 'room_updated':
        if (chat) await chat.refreshRoom();
        this.refreshRoomsSoon();
        break;
      case 'error':
        // A gap: events were lost. Catch up like the agent does.
        this.report(await client.agentStep());
        if (this.chat) await this.chat.pull();
        this.refreshRoomsSoon();
        break;
      default:
        break;
    }
  }

  /** The stream (re)connected: catch up on anything missed meanwhile. */
  async onOnline() {
    const client = this.need();
    this.setStatus('online');
    this.report(await client.agentStep());
    await this.refreshRooms();
    if (this.chat) await this.chat.pull();
  }

  /**
   * Shows an error that stops the app (no connection, a changed node key).
   * @param {unknown} e
   */
  fatal(e) {
    const code = codeOf(e);
    const help =
      code === 'wrong_node'
        ? 'This node presents a different key than the one this browser pinned for it. That is what an impostor would do; if the node\'s key really changed, clear this site\'s pins (site data) — which also deletes an unexported identity.'
        : 'Check that the node is running and reload.';
    replace(
      this.root,
      h(
        'section',
        { class: 'fatal', role: 'alert' },
        h('h1', {}, 'peergroup cannot start'),
        h('p', { class: 'error' }, describe(e)),
        h('p', {}, help),
        h('button', { type: 'button', onclick: () => location.reload() }, 'Reload'),
      ),
    );
  }
}
