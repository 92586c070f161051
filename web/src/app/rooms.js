// @ts-check
/**
 * @file The room list (public rooms and mine, with unread counts), the
 * form that creates a room (every option of `POST /api/v1/rooms`), and the
 * join form (password, invite code; `#join=ROOM&invite=CODE` links fill it).
 */

import { h, field, labelled, describe, codeOf } from './dom.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('../lib/client.js').Room} Room */
/** @typedef {import('../lib/client.js').RoomSettings} RoomSettings */

/**
 * A short description of a room's kind and access.
 * @param {Room} r
 * @returns {string}
 */
export function roomKind(r) {
  const parts = [r.encrypted ? 'encrypted' : 'unencrypted'];
  if (r.visibility === 'private') parts.push('private');
  if (r.join_rule === 'password') parts.push('password');
  if (r.join_rule === 'invite') parts.push('invite only');
  if (r.rotation_due) parts.push('key rotation due');
  return parts.join(' · ');
}

/**
 * @param {App} app
 * @param {Room[]} rooms
 * @param {string|null} current
 * @param {'mine'|'public'} which
 * @returns {HTMLElement}
 */
export function roomListItems(app, rooms, current, which) {
  const sorted = [...rooms].sort((a, b) => a.name.localeCompare(b.name));
  return h(
    'ul',
    { class: 'room-list', 'data-testid': `rooms-${which}` },
    sorted.map((r) => {
      const unread = app.unread(r);
      const link = h(
        'a',
        {
          class: 'room-link',
          href: which === 'mine' ? `#room=${encodeURIComponent(r.id)}` : `#join=${encodeURIComponent(r.id)}`,
          'aria-current': r.id === current ? 'page' : null,
          'data-room': r.id,
          'data-name': r.name,
        },
        h('span', { class: 'room-name' }, r.name),
        unread ? h('span', { class: 'badge', 'aria-label': `${unread} unread`, 'data-testid': 'unread' }, unread > 99 ? '99+' : unread) : null,
        h('small', { class: 'room-kind' }, `${roomKind(r)} · ${r.member_count} ${r.member_count === 1 ? 'member' : 'members'}`),
      );
      return h('li', {}, link);
    }),
  );
}

/**
 * @param {App} app
 * @returns {HTMLElement}
 */
export function createRoomView(app) {
  const out = h('p', { class: 'error', role: 'alert' });
  const rule = h('select', { name: 'join_rule', 'data-testid': 'create-rule' },
    h('option', { value: 'open' }, 'anyone may join'),
    h('option', { value: 'password' }, 'with a password'),
    h('option', { value: 'invite' }, 'by invitation only'));
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', 'data-testid': 'create-password' });
  const passwordField = labelled('Password', password);
  passwordField.hidden = true;
  rule.addEventListener('change', () => {
    passwordField.hidden = rule.value !== 'password';
    password.required = rule.value === 'password';
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-submit' }, 'Create');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'New room'),
    labelled('Name', h('input', { name: 'name', required: true, maxlength: 64, 'data-testid': 'create-name', autofocus: true })),
    labelled('Topic', h('input', { name: 'topic', maxlength: 512, 'data-testid': 'create-topic' })),
    labelled('Visibility', h('select', { name: 'visibility', 'data-testid': 'create-visibility' },
      h('option', { value: 'public' }, 'public: listed for everyone on this node'),
      h('option', { value: 'private' }, 'private: only members see it'))),
    labelled('Who may join', rule),
    passwordField,
    labelled('Capacity', h('input', { name: 'capacity', type: 'number', min: 2, max: 10000, value: 256, 'data-testid': 'create-capacity' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'encrypted', checked: true, 'data-testid': 'create-encrypted' }),
      ' End-to-end encrypted (the node stores only ciphertext; uncheck for bots and curl)'),
    submit,
    out,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    /** @type {RoomSettings} */
    const settings = {
      name: field(form, 'name').trim(),
      visibility: field(form, 'visibility') === 'private' ? 'private' : 'public',
      join_rule: /** @type {'open'|'password'|'invite'} */ (field(form, 'join_rule')),
      capacity: Number(field(form, 'capacity')) || 256,
      encrypted: field(form, 'encrypted') === 'on',
    };
    const topic = field(form, 'topic').trim();
    if (topic) settings.topic = topic;
    if (settings.join_rule === 'password') settings.password = field(form, 'password');
    submit.disabled = true;
    out.textContent = '';
    app.need().createRoom(settings)
      .then(async (room) => {
        app.rooms.set(room.id, room);
        app.markSeen(room.id, room.last_seq);
        location.hash = `room=${encodeURIComponent(room.id)}`;
      })
      .catch((e) => {
        out.textContent = describe(e);
        submit.disabled = false;
      });
  });
  return h('div', {}, app.backLink(), form);
}

/**
 * @param {App} app
 * @param {string} roomId prefilled room id ('' for none)
 * @param {string} invite prefilled invite code
 * @returns {HTMLElement}
 */
export function joinRoomView(app, roomId, invite) {
  const known = roomId ? app.rooms.get(roomId) : undefined;
  if (known?.my_role) {
    location.hash = `room=${encodeURIComponent(roomId)}`;
  }
  const out = h('p', { class: 'error', role: 'alert', 'data-testid': 'join-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'join-submit' }, 'Join');
  const needsPassword = known?.join_rule === 'password';
  const needsInvite = known?.join_rule === 'invite' || (!!invite && !known);
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'join-title' },
    h('h2', { id: 'join-title' }, known ? `Join ${known.name}` : 'Join a room'),
    known ? h('p', {}, known.topic || '', h('small', { class: 'room-kind' }, ` ${roomKind(known)} · ${known.member_count}/${known.capacity} members`)) : null,
    labelled('Room id', h('input', { name: 'room', required: true, value: roomId, readonly: !!known, class: 'mono', 'data-testid': 'join-room' })),
    !known || needsPassword ? labelled('Password', h('input', { type: 'password', name: 'password', autocomplete: 'off', 'data-testid': 'join-password', required: needsPassword }), known ? undefined : 'if the room has one') : null,
    !known || needsInvite ? labelled('Invite code', h('input', { name: 'invite', value: invite, 'data-testid': 'join-invite', required: needsInvite && !!known }), known ? undefined : 'if the room is invite-only') : null,
    submit,
    out,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = field(form, 'room').trim();
    /** @type {{password?: string, invite?: string}} */
    const how = {};
    const pw = field(form, 'password');
    const code = field(form, 'invite').trim();
    if (pw) how.password = pw;
    if (code) how.invite = code;
    submit.disabled = true;
    out.textContent = '';
    app.need().join(id, how)
      .then(async (joined) => {
        app.rooms.set(joined.room.id, joined.room);
        location.hash = `room=${encodeURIComponent(joined.room.id)}`;
      })
      .catch((e) => {
        out.textContent = codeOf(e) === 'already_member' ? 'You are a member already.' : describe(e);
        submit.disabled = false;
        if (codeOf(e) === 'already_member') location.hash = `room=${encodeURIComponent(id)}`;
      });
  });
  return h('div', {}, app.backLink(), form);
}
