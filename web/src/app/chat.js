// @ts-check
/**
 * @file One room: its messages (verified and decrypted by the library; a
 * visible mark on every message that is not verified), history paging
 * upwards, the composer, the member list, and the owner's and admins'
 * tools (invite, kick, ban, roles, rotate, delete).
 */

import { h, replace, describe, codeOf, formatTime, labelled, field } from './dom.js';
import { roomKind } from './rooms.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('../lib/client.js').Room} Room */
/** @typedef {import('../lib/client.js').Member} Member */
/** @typedef {import('../lib/client.js').ReadMessage} ReadMessage */

/** Messages per page. */
const PAGE = 50;

/** What a message error means, for people. */
const WHY = /** @type {Record<string, string>} */ ({
  bad_signature: 'the signature does not verify: the text is not shown',
  undecryptable: 'it does not decrypt: the text is not shown',
  malformed: 'it is malformed',
  no_key: 'no key for it (sent before you joined, or the key has not reached you yet)',
  invalid_envelope: 'its room key came in an invalid envelope',
  unknown_sender: 'its sender is unknown to this node',
  incomplete: 'it is incomplete',
});

export class ChatView {
  /**
   * @param {App} app
   * @param {string} roomId
   */
  constructor(app, roomId) {
    this.app = app;
    this.roomId = roomId;
    /** @type {Room|null} */
    this.room = null;
    /** Highest seq shown (or known to be before anything shown). */
    this.lastSeq = 0;
    /** Lowest seq shown. */
    this.oldest = Infinity;
    this.more = false;
    this.closed = false;
    /** @type {Promise<void>|null} */
    this.pulling = null;
    this.pullAgain = false;
    /** @type {Map<number, HTMLElement>} */
    this.items = new Map();
    this.title = h('h2', { class: 'room-title', 'data-testid': 'room-title' });
    this.subtitle = h('p', { class: 'room-sub' });
    this.notice = h('p', { class: 'notice', role: 'status', 'data-testid': 'chat-notice' });
    this.olderButton = h('button', { type: 'button', class: 'older', 'data-testid': 'older', hidden: true, onclick: () => this.loadOlder() }, 'Load older messages');
    this.list = h('ol', { class: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite', 'data-testid': 'messages' });
    this.scroller = h('div', { class: 'scroller', tabindex: '0', 'aria-label': 'Message history' }, this.olderButton, this.list);
    this.input = h('textarea', {
      name: 'text', rows: 1, required: true, maxlength: 20000, placeholder: 'Write a message…',
      'aria-label': 'Message', 'data-testid': 'composer', enterkeyhint: 'send',
    });
    this.sendButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send');
    this.composer = h('form', { class: 'composer' }, this.input, this.sendButton);
    this.composer.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.send();
    });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.send();
      }
    });
    this.panel = h('div', { class: 'panel', id: `panel-${roomId}` });
    /** What the last tool did (kept across re-renders of the panel). */
    this.toolOut = h('p', { role: 'status', class: 'tool-out', 'data-testid': 'tool-out' });
    this.panelButton = h('button', { type: 'button', class: 'ghost', 'aria-expanded': 'false', 'aria-controls': `panel-${roomId}`, 'data-testid': 'room-tools' }, 'Members');
    this.panelButton.addEventListener('click', () => this.togglePanel());
    this.panel.hidden = true;
    this.el = h(
      'section',
      { class: 'chat', 'aria-labelledby': 'room-title', 'data-testid': 'chat' },
      h('header', { class: 'chat-head' }, app.backLink(), h('div', { class: 'chat-title' }, this.title, this.subtitle), this.panelButton),
      this.panel,
      this.notice,
      this.scroller,
      this.composer,
    );
    this.title.id = 'room-title';
  }

  /** Loads the room and its latest page of messages. */
  async load() {
    const client = this.app.need();
    this.title.textContent = 'Loading…';
    const room = await client.getRoom(this.roomId);
    if (this.closed) return;
    this.setRoom(room);
    if (!room.my_role) {
      location.hash = `join=${encodeURIComponent(room.id)}`;
      return;
    }
    await this.checkKey();
    if (room.last_seq > 0) {
      const page = await client.history(this.roomId, { before: room.last_seq + 1, limit: PAGE });
      if (this.closed) return;
      this.more = page.more;
      this.add([...page.messages].reverse());
    }
    this.lastSeq = Math.max(this.lastSeq, room.last_seq);
    this.olderButton.hidden = !this.more;
    this.scrollToEnd();
    this.app.markSeen(this.roomId, this.lastSeq);
    this.input.focus();
    await this.pull();
  }

  /** @param {Room} room */
  setRoom(room) {
    this.room = room;
    this.app.rooms.set(room.id, room);
    this.title.textContent = room.name;
    replace(this.subtitle, room.topic ? h('span', { class: 'topic' }, room.topic, ' · ') : null, h('span', {}, roomKind(room)),
      room.encrypted ? h('span', {}, ` · key epoch ${room.epoch}`) : null);
    if (!this.panel.hidden) this.renderPanel();
  }

  /** Shows whether this client can read and write (encrypted rooms need the current key). */
  async checkKey() {
    const room = this.room;
    if (!room || !room.encrypted) {
      this.el.dataset.key = 'ready';
      return;
    }
    const ok = await this.app.need().hasCurrentKey(this.roomId).catch(() => false);
    if (this.closed) return;
    this.el.dataset.key = ok ? 'ready' : 'pending';
    this.notice.textContent = ok
      ? ''
      : 'Waiting for the room key: an owner or admin of this room must be online to hand it to you. It comes by itself.';
    this.notice.dataset.kind = ok ? '' : 'wait';
  }

  /**
   * Adds messages (any order), skipping ones already shown.
   * @param {ReadMessage[]} messages
   */
  add(messages) {
    const me = this.app.need().userId;
    for (const m of messages) {
      const existing = this.items.get(m.seq);
      const li = renderMessage(m, m.sender_id === me);
      if (existing) {
        existing.replaceWith(li);
      } else {
        let before = null;
        for (const [seq, el] of this.items) {
          if (seq > m.seq && (!before || seq < Number(before.dataset.seq))) before = el;
        }
        if (before) this.list.insertBefore(li, before);
        else this.list.append(li);
      }
      this.items.set(m.seq, li);
      this.lastSeq = Math.max(this.lastSeq, m.seq);
      this.oldest = Math.min(this.oldest, m.seq);
    }
  }

  /** Fetches what arrived after the last message shown (one fetch at a time). */
  async pull() {
    if (this.pulling) {
      this.pullAgain = true;
      return this.pulling;
    }
    this.pulling = (async () => {
      try {
        do {
          this.pullAgain = false;
          const page = await this.app.need().history(this.roomId, { after: this.lastSeq, limit: 500 });
          if (this.closed) return;
          const atEnd = this.nearEnd();
          this.add(page.messages);
          this.lastSeq = Math.max(this.lastSeq, page.last_seq);
          if (page.more) this.pullAgain = true;
          if (atEnd) this.scrollToEnd();
          this.app.markSeen(this.roomId, this.lastSeq);
        } while (this.pullAgain && !this.closed);
      } catch (e) {
        if (!this.closed) this.handleError(e);
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  /**
   * Long-poll fallback: waits up to `wait` seconds for new messages.
   * @param {number} wait
   * @param {AbortSignal} signal
   */
  async poll(wait, signal) {
    const page = await this.app.need().poll(this.roomId, this.lastSeq, { wait, signal });
    if (this.closed) return;
    const atEnd = this.nearEnd();
    this.add(page.messages);
    this.lastSeq = Math.max(this.lastSeq, page.last_seq);
    if (atEnd) this.scrollToEnd();
    this.app.markSeen(this.roomId, this.lastSeq);
  }

  /** Pages upwards: the messages before the oldest shown. */
  async loadOlder() {
    if (!Number.isFinite(this.oldest) || this.oldest <= 1) return;
    this.olderButton.disabled = true;
    try {
      const page = await this.app.need().history(this.roomId, { before: this.oldest, limit: PAGE });
      const height = this.scroller.scrollHeight;
      this.add(page.messages);
      this.more = page.more;
      this.olderButton.hidden = !this.more;
      // Keep the messages that were in view where they were.
      this.scroller.scrollTop += this.scroller.scrollHeight - height;
    } catch (e) {
      this.handleError(e);
    } finally {
      this.olderButton.disabled = false;
    }
  }

  /** Sends the composer's text. */
  async send() {
    const text = this.input.value.trim();
    if (!text || this.sendButton.disabled) return;
    this.sendButton.disabled = true;
    try {
      const posted = await this.app.need().sendText(this.roomId, text);
      this.input.value = '';
      this.notice.textContent = '';
      this.lastSeq = Math.max(this.lastSeq, posted.seq - 1);
      await this.pull();
      this.scrollToEnd();
    } catch (e) {
      const code = codeOf(e);
      this.notice.dataset.kind = 'error';
      this.notice.textContent =
        code === 'no_room_key' ? 'You do not hold the room key yet: an owner or admin must be online to hand it to you.'
          : code === 'rotation_pending' ? 'Someone left: an owner or admin must rotate the room key before anyone can post.'
            : `Not sent: ${describe(e)}`;
    } finally {
      this.sendButton.disabled = false;
      this.input.focus();
    }
  }

  /** @param {number} seq */
  markDeleted(seq) {
    const el = this.items.get(seq);
    if (!el) return;
    el.classList.add('deleted');
    const text = el.querySelector('.text');
    if (text) text.textContent = 'message deleted';
  }

  /** Reloads the room's details (members, settings). */
  async refreshRoom() {
    try {
      this.setRoom(await this.app.need().getRoom(this.roomId));
    } catch (e) {
      this.handleError(e);
    }
  }

  /** A key arrived or the room rotated: re-read what could not be read. */
  async keysChanged() {
    await this.app.need().refreshKeys(this.roomId).catch(() => 0);
    await this.refreshRoom();
    await this.checkKey();
    const unreadable = [...this.items.keys()].filter((seq) => this.items.get(seq)?.dataset.error === 'no_key');
    if (unreadable.length) {
      const from = Math.min(...unreadable);
      const page = await this.app.need().history(this.roomId, { after: from - 1, limit: 500 }).catch(() => null);
      if (page) this.add(page.messages);
    }
    await this.pull();
  }

  /**
   * This user is no longer a member.
   * @param {string} reason
   */
  removed(reason) {
    this.notice.dataset.kind = 'error';
    this.notice.textContent =
      reason === 'deleted' ? 'This room was deleted.'
        : reason === 'banned' ? 'You were removed from this room and banned. You cannot read anything posted from now on.'
          : reason === 'kicked' ? 'You were removed from this room. You cannot read anything posted from now on.'
            : 'You left this room.';
    this.composer.hidden = true;
    this.panel.hidden = true;
    this.panelButton.hidden = true;
    this.closed = true;
  }

  /** @param {unknown} e */
  handleError(e) {
    const code = codeOf(e);
    if (code === 'not_member' || code === 'room_not_found' || code === 'banned') {
      this.removed(code === 'room_not_found' ? 'deleted' : 'kicked');
      return;
    }
    this.notice.dataset.kind = 'error';
    this.notice.textContent = describe(e);
  }

  close() {
    this.closed = true;
  }

  nearEnd() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  togglePanel() {
    this.panel.hidden = !this.panel.hidden;
    this.panelButton.setAttribute('aria-expanded', String(!this.panel.hidden));
    if (!this.panel.hidden) this.renderPanel();
  }

  /** The member list, and the tools of owners and admins. */
  renderPanel() {
    const room = this.room;
    if (!room) return;
    const role = room.my_role;
    const manager = role === 'owner' || role === 'admin';
    const me = this.app.need().userId;
    const out = this.toolOut;
    /**
     * Runs a tool, showing its outcome.
     * @param {() => Promise<string>} f
     */
    const run = (f) => {
      out.textContent = '…';
      f().then((msg) => {
        out.textContent = msg;
        return this.refreshRoom();
      }, (e) => {
        out.textContent = describe(e);
      });
    };
    const members = (room.members ?? []).slice().sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.name.localeCompare(b.name));
    const list = h('ul', { class: 'members', 'data-testid': 'members' }, members.map((m) => {
      /** @type {HTMLElement[]} */
      const actions = [];
      const removable = m.user_id !== me && m.role !== 'owner' && (role === 'owner' || (role === 'admin' && m.role === 'member'));
      if (manager && removable) {
        actions.push(h('button', { type: 'button', 'data-testid': `kick-${m.name}`, onclick: () => run(async () => {
          const r = await this.app.need().kick(this.roomId, m.user_id);
          return `removed ${m.name}${r.epoch ? `; key rotated to epoch ${r.epoch}` : ''}`;
        }) }, 'Kick'));
        actions.push(h('button', { type: 'button', 'data-testid': `ban-${m.name}`, onclick: () => run(async () => {
          const r = await this.app.need().ban(this.roomId, m.user_id);
          return `banned ${m.name}${r.epoch ? `; key rotated to epoch ${r.epoch}` : ''}`;
        }) }, 'Ban'));
      }
      if (role === 'owner' && m.role !== 'owner') {
        const to = m.role === 'admin' ? 'member' : 'admin';
        actions.push(h('button', { type: 'button', 'data-testid': `role-${m.name}`, onclick: () => run(async () => {
          await this.app.need().setRole(this.roomId, m.user_id, to);
          return `${m.name} is now ${to === 'admin' ? 'an admin' : 'a member'}`;
        }) }, to === 'admin' ? 'Make admin' : 'Make member'));
      }
      return h('li', {}, h('span', { class: 'member-name' }, m.name), h('small', { class: 'role' }, m.role), h('span', { class: 'actions' }, actions));
    }));
    /** @type {(HTMLElement|null)[]} */
    const tools = [];
    if (manager) {
      const inviteForm = h('form', { class: 'inline-form' },
        labelled('Uses', h('input', { type: 'number', name: 'uses', min: 1, max: 1000, value: 1 })),
        labelled('Valid for (hours)', h('input', { type: 'number', name: 'hours', min: 1, max: 720, value: 24 })),
        h('button', { type: 'submit', 'data-testid': 'invite' }, 'Make invite'));
      const inviteOut = h('div', { class: 'invite-out', 'data-testid': 'invite-out' });
      inviteForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const uses = Number(field(inviteForm, 'uses')) || 1;
        const hours = Number(field(inviteForm, 'hours')) || 24;
        this.app.need().invite(this.roomId, { uses, expires_in_secs: hours * 3600 }).then((inv) => {
          const link = `${location.origin}/#join=${encodeURIComponent(this.roomId)}&invite=${encodeURIComponent(inv.code)}`;
          replace(inviteOut,
            h('p', {}, 'Code: ', h('code', { 'data-testid': 'invite-code' }, inv.code), ` (${inv.uses} use${inv.uses === 1 ? '' : 's'}, until ${formatTime(inv.expires_at)})`),
            h('p', {}, 'Link: ', h('input', { class: 'mono', readonly: true, value: link, 'aria-label': 'Invite link', 'data-testid': 'invite-link' })));
        }, (e) => replace(inviteOut, h('p', { class: 'error' }, describe(e))));
      });
      tools.push(h('h3', {}, 'Invite'), inviteForm, inviteOut);
      if (room.encrypted) {
        tools.push(h('h3', {}, 'Room key'), h('p', {}, `Epoch ${room.epoch}${room.rotation_due ? ' — rotation due' : ''}. `,
          h('button', { type: 'button', 'data-testid': 'rotate', onclick: () => run(async () => {
            const r = await this.app.need().rotate(this.roomId);
            return r.rotated ? `rotated to epoch ${r.current_epoch}` : `another manager rotated first (epoch ${r.current_epoch})`;
          }) }, 'Rotate now')));
      }
    }
    const leave = role === 'owner'
      ? h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-room', onclick: () => {
        if (!confirm(`Delete ${room.name} with all its messages for everyone?`)) return;
        run(async () => {
          await this.app.need().deleteRoom(this.roomId);
          location.hash = '';
          return 'deleted';
        });
      } }, 'Delete room')
      : h('button', { type: 'button', class: 'danger', 'data-testid': 'leave', onclick: () => run(async () => {
        await this.app.need().leave(this.roomId);
        this.app.rooms.delete(this.roomId);
        this.removed('left');
        location.hash = '';
        return 'left';
      }) }, 'Leave room');
    replace(this.panel, h('h3', {}, `Members (${members.length}/${room.capacity})`), list, tools, h('p', {}, leave), out);
  }
}

/** @param {string} role */
function roleRank(role) {
  return role === 'owner' ? 0 : role === 'admin' ? 1 : 2;
}

/**
 * One message. Only `verified` messages (signature checked, text decrypted)
 * and unencrypted ones show text; every other state says why it shows none.
 * @param {ReadMessage} m
 * @param {boolean} mine
 * @returns {HTMLElement}
 */
export function renderMessage(m, mine) {
  const name = m.sender_name ?? `${m.sender_id.slice(0, 8)}…`;
  /** @type {HTMLElement|null} */
  let mark = null;
  /** @type {string} */
  let text;
  if (m.verified === 'verified') {
    text = m.text ?? '';
  } else if (m.verified === 'unencrypted') {
    text = m.text ?? '';
    mark = h('span', { class: 'mark plain', title: 'Unencrypted room: nobody signed this; the node could have changed it.' }, 'unsigned');
  } else if (m.verified === 'deleted') {
    text = 'message deleted';
  } else if (m.error === 'no_key') {
    text = 'This message cannot be read here.';
    mark = h('span', { class: 'mark nokey', title: WHY.no_key }, '· no key');
  } else {
    text = `Not shown: ${WHY[m.error ?? ''] ?? 'it could not be checked'}.`;
    mark = h('span', { class: 'mark unverified', title: 'This message failed its checks.' }, '⚠ unverified');
  }
  const classes = ['msg', mine ? 'mine' : '', m.verified === 'failed' ? 'unverified' : '', m.verified === 'deleted' ? 'deleted' : ''].filter(Boolean).join(' ');
  return h(
    'li',
    { class: classes, 'data-seq': m.seq, 'data-status': m.verified, 'data-error': m.error ?? null, 'data-testid': 'message' },
    h('div', { class: 'meta' },
      h('span', { class: 'sender' }, name),
      ' ',
      h('time', { datetime: new Date(m.sent_at * 1000).toISOString(), title: `#${m.seq}` }, formatTime(m.sent_at)),
      mark ? ' ' : null,
      mark),
    h('div', { class: 'text' }, text),
  );
}
