// @ts-check
/**
 * @file The web app end to end: a real peerd serves it, headless Chromium
 * runs it, `peerctl` is the other kind of client. Two browser users
 * register, create and join a room and chat (names, marks, unread counts,
 * history paging); a browser user and a `peerctl` user chat both ways;
 * roles, rotation and a kick from the members panel (the kicked user reads
 * nothing new); a ban, a leave and a room deletion from the members panel;
 * a reload keeps the identity; password and invite-link
 * joins; a forged message is marked unverified; the chat works by
 * keyboard alone; nothing overflows at 320 px; identities move between browser and peerctl both ways; without
 * the event stream the page long-polls; the Content-Security-Policy is
 * enforced and no page violates it. Screenshots of the chat view go to
 * $PEER_WEB_SCREENSHOTS. The tests share one node and browser and run in
 * order.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import {
  startPeerd, launchBrowser, openUser, register, createRoom, send, message,
  peerctl, tempDir, shotPath, overflows,
} from './support.mjs';

/** @typedef {Awaited<ReturnType<typeof openUser>>} User */

/** @type {{url: string, stop: () => Promise<void>}} */
let node;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {User[]} */
const users = [];
/** @type {string[]} */
const temps = [];

/** Shared between the tests, in order. */
const state = { room: '', alice: /** @type {User|null} */ (null), bob: /** @type {User|null} */ (null), bobId: '', carolHome: '' };

/** @param {{width?: number, height?: number}} [viewport] */
async function user(viewport) {
  const u = await openUser(browser, viewport);
  users.push(u);
  return u;
}

before(async () => {
  node = await startPeerd();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

test('the page is served with a CSP that the browser enforces', async () => {
  const res = await fetch(`${node.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  // A control: an inline script injected into the live page is refused.
  const probe = await openUser(browser);
  await probe.page.goto(`${node.url}/`);
  await probe.page.getByTestId('register-name').waitFor();
  const ran = await probe.page.evaluate(async () => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.head.append(s);
    await new Promise((r) => setTimeout(r, 100));
    return /** @type {any} */ (window).__inlineRan === true;
  });
  assert.equal(ran, false, 'an inline script ran despite the CSP');
  assert.ok(probe.problems.some((p) => /CSP violation: script-src/.test(p)), probe.problems.join('\n'));
  await probe.context.close();
});

test('two browser users register, create and join a room, and chat', async () => {
  const alice = await user();
  const bob = await user();
  state.alice = alice;
  state.bob = bob;
  await register(alice.page, node.url, 'alice');
  await alice.page.getByTestId('export-warning').waitFor();
  state.room = await createRoom(alice.page, 'plans', { topic: 'what we do next' });

  await register(bob.page, node.url, 'bob');
  // Bob finds the public room in the list and joins it.
  await bob.page.reload();
  await bob.page.getByTestId('rooms-public').locator('[data-name="plans"]').click();
  await bob.page.getByTestId('join-submit').click();
  await bob.page.getByTestId('room-title').filter({ hasText: 'plans' }).waitFor();
  // Alice's open tab hands Bob the room key (the agent's duty): Bob can post.
  await bob.page.locator('[data-testid="chat"][data-key="ready"]').waitFor();
  await send(bob.page, 'hi from bob');
  await message(alice.page, 'hi from bob').waitFor();
  await send(alice.page, 'hello bob, encrypted');
  await message(bob.page, 'hello bob, encrypted').waitFor();
  // Sender names, and every message verified (no unverified mark).
  assert.equal(await message(alice.page, 'hi from bob').locator('.sender').textContent(), 'bob');
  assert.equal(await message(bob.page, 'hello bob, encrypted').getAttribute('data-status'), 'verified');
  assert.equal(await alice.page.locator('.mark.unverified').count(), 0);

  // Unread counts: Alice leaves the room view; Bob writes twice.
  await alice.page.goto(`${node.url}/#`);
  await send(bob.page, 'unread one');
  await send(bob.page, 'unread two');
  await alice.page.getByTestId('rooms-mine').locator('[data-name="plans"] [data-testid="unread"]').filter({ hasText: '2' }).waitFor();
  await alice.page.getByTestId('rooms-mine').locator('[data-name="plans"]').click();
  await message(alice.page, 'unread two').waitFor();
  await alice.page.getByTestId('rooms-mine').locator('[data-name="plans"] [data-testid="unread"]').waitFor({ state: 'detached' });
});

test('a browser user and a peerctl user chat both ways', async () => {
  const alice = state.alice;
  assert.ok(alice);
  const home = await tempDir();
  temps.push(home);
  state.carolHome = home;
  await peerctl(home, node.url, ['--profile', 'carol', 'init', '--name', 'carol']);
  // Joining waits for the key, which Alice's open tab hands out.
  await peerctl(home, node.url, ['--profile', 'carol', 'rooms', 'join', state.room, '--wait', '30']);
  await peerctl(home, node.url, ['--profile', 'carol', 'send', state.room, 'hello from the cli']);
  await message(alice.page, 'hello from the cli').waitFor();
  assert.equal(await message(alice.page, 'hello from the cli').locator('.sender').textContent(), 'carol');
  assert.equal(await message(alice.page, 'hello from the cli').getAttribute('data-status'), 'verified');
  await send(alice.page, 'hello carol, from the browser');
  const out = await peerctl(home, node.url, ['--profile', 'carol', '--json', 'read', state.room]);
  const read = out.trim().split('\n').map((l) => JSON.parse(l));
  const mine = read.find((m) => m.text === 'hello carol, from the browser');
  assert.ok(mine, out);
  assert.equal(mine.sender_name, 'alice');
  assert.equal(mine.verified, true);
  assert.equal(mine.status, 'verified');
  await alice.page.getByTestId('composer').focus();
  await alice.page.screenshot({ path: await shotPath('chat-desktop.png') });
});

test('history pages upwards', async () => {
  const { alice, bob } = state;
  assert.ok(alice && bob);
  // 57 messages in all: the first page shows the last 50.
  for (let i = 0; i < 51; i++) await send(bob.page, `filler ${i}`);
  await alice.page.reload();
  await message(alice.page, 'filler 50').waitFor();
  assert.equal(await message(alice.page, 'hi from bob').count(), 0);
  await alice.page.getByTestId('older').click();
  await message(alice.page, 'hi from bob').waitFor();
  await alice.page.getByTestId('older').waitFor({ state: 'hidden' });
});

test('a kicked browser user cannot read new messages', async () => {
  const { alice, bob } = state;
  assert.ok(alice && bob);
  state.bobId = await bobUserId(bob);
  await alice.page.getByTestId('room-tools').click();
  // Roles and a manual rotation from the same panel.
  await alice.page.getByTestId('role-carol').click();
  await alice.page.getByTestId('tool-out').filter({ hasText: 'carol is now an admin' }).waitFor();
  await alice.page.getByTestId('members').locator('li', { hasText: 'carol' }).locator('.role', { hasText: 'admin' }).waitFor();
  await alice.page.getByTestId('rotate').click();
  await alice.page.getByTestId('tool-out').filter({ hasText: /rotated to epoch 2|another manager rotated first/ }).waitFor();
  await alice.page.getByTestId('kick-bob').click();
  await alice.page.getByTestId('tool-out').filter({ hasText: /removed bob; key rotated to epoch \d+/ }).waitFor();
  await bob.page.getByTestId('chat-notice').filter({ hasText: 'You were removed' }).waitFor();
  await send(alice.page, 'after the kick: bob must not read this');
  // Bob's page never shows it, and the node refuses Bob the room's
  // messages and keys (his own client, in his page, asks).
  await bob.page.reload();
  await bob.page.getByTestId('me').waitFor();
  const refused = await bob.page.evaluate(async (room) => {
    const lib = '/assets/lib/';
    const { PeerClient, LocalStoragePins } = await import(`${lib}client.js`);
    const { IdentityStore } = await import(`${lib}identity.js`);
    const stored = await new IdentityStore().load();
    if (!stored) return ['no identity'];
    const c = await PeerClient.connect('', stored.identity, { pins: new LocalStoragePins() });
    const codes = [];
    for (const f of [() => c.history(room, { after: 0 }), () => c.refreshKeys(room)]) {
      try {
        await f();
        codes.push('allowed');
      } catch (e) {
        codes.push(/** @type {any} */ (e).code);
      }
    }
    return codes;
  }, state.room);
  assert.deepEqual(refused, ['not_member', 'not_member']);
  await bob.page.goto(`${node.url}/#room=${state.room}`);
  await bob.page.getByTestId('join-submit').waitFor();
  assert.equal(await bob.page.getByText('bob must not read this').count(), 0);
});

/** @param {User} u @returns {Promise<string>} the user id the account screen shows */
async function bobUserId(u) {
  const back = u.page.url();
  await u.page.goto(`${new URL(back).origin}/#account`);
  const id = (await u.page.getByTestId('account-id').textContent()) ?? '';
  await u.page.goto(back);
  return id;
}

test('a reload keeps the identity', async () => {
  const { bob } = state;
  assert.ok(bob);
  assert.match(state.bobId, /^[A-Za-z0-9_-]{22}$/);
  await bob.page.reload();
  await bob.page.getByTestId('me').filter({ hasText: 'bob' }).waitFor();
  assert.equal(await bob.page.getByTestId('register-name').count(), 0);
  assert.equal(await bobUserId(bob), state.bobId);
});

test('password and invite-only rooms are joined through the page', async () => {
  const { alice, bob } = state;
  assert.ok(alice && bob);
  // A password room: a wrong password is refused, the right one lets in.
  await alice.page.getByTestId('new-room').click();
  await alice.page.getByTestId('create-name').fill('club');
  await alice.page.getByTestId('create-rule').selectOption('password');
  await alice.page.getByTestId('create-password').fill('open sesame');
  await alice.page.getByTestId('create-submit').click();
  await alice.page.getByTestId('room-title').filter({ hasText: 'club' }).waitFor();
  const club = new URLSearchParams(new URL(alice.page.url()).hash.slice(1)).get('room') ?? '';
  await bob.page.goto(`${node.url}/#join=${club}`);
  await bob.page.getByTestId('join-password').fill('guess');
  await bob.page.getByTestId('join-submit').click();
  await bob.page.getByTestId('join-error').filter({ hasText: 'wrong_password' }).waitFor();
  await bob.page.getByTestId('join-password').fill('open sesame');
  await bob.page.getByTestId('join-submit').click();
  await bob.page.getByTestId('room-title').filter({ hasText: 'club' }).waitFor();

  // A private, invite-only room: the owner makes an invite link, Bob opens it.
  await alice.page.getByTestId('new-room').click();
  await alice.page.getByTestId('create-name').fill('inner-circle');
  await alice.page.getByTestId('create-visibility').selectOption('private');
  await alice.page.getByTestId('create-rule').selectOption('invite');
  await alice.page.getByTestId('create-submit').click();
  await alice.page.getByTestId('room-title').filter({ hasText: 'inner-circle' }).waitFor();
  await alice.page.getByTestId('room-tools').click();
  await alice.page.getByTestId('invite').click();
  const link = await alice.page.getByTestId('invite-link').inputValue();
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#join=[A-Za-z0-9_-]{22}&invite=/);
  await bob.page.goto(link);
  await bob.page.getByTestId('join-submit').click();
  await bob.page.getByTestId('room-title').filter({ hasText: 'inner-circle' }).waitFor();
  await bob.page.locator('[data-testid="chat"][data-key="ready"]').waitFor();
  await send(bob.page, 'in by invitation');
  await message(alice.page, 'in by invitation').waitFor();
});

test('a message that fails its checks is marked unverified, its text not shown', async () => {
  const { alice } = state;
  assert.ok(alice && state.carolHome);
  // Carol (a member) posts bytes that are no valid message of hers, with
  // curl's means: a bearer token and plain JSON. The node cannot tell.
  const token = (await peerctl(state.carolHome, node.url, ['--profile', 'carol', 'token'])).trim();
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const room = await (await fetch(`${node.url}/api/v1/rooms/${state.room}`, { headers: auth })).json();
  const b64 = (/** @type {number} */ n) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString('base64url');
  const res = await fetch(`${node.url}/api/v1/rooms/${state.room}/messages`, {
    method: 'POST', headers: auth,
    body: JSON.stringify({ epoch: room.epoch, ciphertext: b64(96), signature: b64(256) }),
  });
  const body = await res.text();
  assert.equal(res.status, 201, body);
  const { seq } = JSON.parse(body);
  await alice.page.goto(`${node.url}/#room=${state.room}`);
  await alice.page.getByTestId('room-title').filter({ hasText: 'plans' }).waitFor();
  const forged = alice.page.locator(`[data-testid="message"][data-seq="${seq}"]`);
  await forged.waitFor();
  assert.equal(await forged.getAttribute('data-status'), 'failed');
  assert.equal(await forged.locator('.mark.unverified').textContent(), '⚠ unverified');
  assert.match((await forged.locator('.text').textContent()) ?? '', /^Not shown: /);
});

test('the chat works by keyboard alone', async () => {
  const { alice } = state;
  assert.ok(alice);
  const p = alice.page;
  await p.goto(`${node.url}/#`);
  await p.getByTestId('rooms-mine').waitFor();
  // Tab from the top of the page to the room's link, open it with Enter.
  await p.locator('body').focus();
  let found = false;
  for (let i = 0; i < 40 && !found; i++) {
    await p.keyboard.press('Tab');
    found = await p.evaluate(() => document.activeElement?.getAttribute('data-name') === 'plans');
  }
  assert.ok(found, 'the room link is not reachable with Tab');
  await p.keyboard.press('Enter');
  await p.getByTestId('room-title').filter({ hasText: 'plans' }).waitFor();
  // The composer has the focus: type and press Enter.
  await p.locator('[data-testid="composer"]:focus').waitFor();
  await p.keyboard.type('typed without a mouse');
  await p.keyboard.press('Enter');
  await message(p, 'typed without a mouse').waitFor();
});

test('nothing overflows at 320 px', async () => {
  const dave = await user({ width: 320, height: 640 });
  const p = dave.page;
  await p.goto(`${node.url}/`);
  await p.getByTestId('register-name').waitFor();
  assert.equal(await overflows(p), false, 'register screen');
  await p.getByTestId('register-name').fill('dave');
  await p.getByTestId('register-submit').click();
  await p.getByTestId('me').filter({ hasText: 'dave' }).waitFor();
  assert.equal(await overflows(p), false, 'room list');
  await p.getByTestId('new-room').click();
  await p.getByTestId('create-name').waitFor();
  assert.equal(await overflows(p), false, 'create form');
  await p.getByTestId('create-name').fill('a-room-with-a-rather-long-name-for-a-phone');
  await p.getByTestId('create-submit').click();
  await p.getByTestId('room-title').waitFor();
  await send(p, 'short');
  await send(p, 'a long word: ' + 'x'.repeat(120));
  await send(p, 'and a longer message that wraps over several lines on a narrow phone screen, as chat messages do.');
  assert.equal(await overflows(p), false, 'chat');
  await p.getByTestId('room-tools').click();
  await p.getByTestId('invite').click();
  await p.getByTestId('invite-code').waitFor();
  assert.equal(await overflows(p), false, 'tools');
  await p.getByTestId('room-tools').click();
  await p.screenshot({ path: await shotPath('chat-phone.png') });
  await p.goto(`${node.url}/#account`);
  await p.getByTestId('account-id').waitFor();
  assert.equal(await overflows(p), false, 'account');
  // An invite link opens the join form, filled in.
  const alice = state.alice;
  assert.ok(alice);
  await p.goto(`${node.url}/#join=${state.room}&invite=abc`);
  assert.equal(await p.getByTestId('join-room').inputValue(), state.room);
  assert.equal(await overflows(p), false, 'join form');
});

test('an identity moves between the browser and peerctl, both ways', async () => {
  const home = await tempDir();
  temps.push(home);
  const pass = { PEERCTL_PASSPHRASE: 'correct horse battery' };
  // Browser -> peerctl: export from the identity screen, import in a profile.
  const erin = await user();
  await register(erin.page, node.url, 'erin');
  await erin.page.getByTestId('me').click();
  const erinId = (await erin.page.getByTestId('account-id').textContent()) ?? '';
  await erin.page.getByTestId('export-pass').fill(pass.PEERCTL_PASSPHRASE);
  await erin.page.getByTestId('export-again').fill(pass.PEERCTL_PASSPHRASE);
  const [download] = await Promise.all([
    erin.page.waitForEvent('download'),
    erin.page.getByTestId('export-submit').click(),
  ]);
  const file = `${home}/erin.identity`;
  await download.saveAs(file);
  await erin.page.getByTestId('export-out').filter({ hasText: 'Exported' }).waitFor();
  await erin.page.getByTestId('export-warning').waitFor({ state: 'detached' });
  await peerctl(home, node.url, ['--profile', 'erin', 'import', file], pass);
  const who = JSON.parse(await peerctl(home, node.url, ['--profile', 'erin', '--json', 'whoami']));
  assert.equal(who.user_id, erinId);

  // peerctl -> browser: a registered peerctl user imports into a fresh browser.
  await peerctl(home, node.url, ['--profile', 'frank', 'init', '--name', 'frank']);
  const frankId = JSON.parse(await peerctl(home, node.url, ['--profile', 'frank', '--json', 'whoami'])).user_id;
  await peerctl(home, node.url, ['--profile', 'frank', 'export', '--out', `${home}/frank.identity`], pass);
  const frank = await user();
  await frank.page.goto(`${node.url}/`);
  await frank.page.getByTestId('import-file').setInputFiles(`${home}/frank.identity`);
  await frank.page.getByTestId('import-pass').fill(pass.PEERCTL_PASSPHRASE);
  await frank.page.getByTestId('import-submit').click();
  await frank.page.getByTestId('me').filter({ hasText: 'frank' }).waitFor();
  await frank.page.getByTestId('me').click();
  assert.equal(await frank.page.getByTestId('account-id').textContent(), frankId);
});

test('ban, leave and delete from the members panel', async () => {
  const ivy = await user();
  const jack = await user();
  const kim = await user();
  await register(ivy.page, node.url, 'ivy');
  const room = await createRoom(ivy.page, 'workshop');
  for (const [u, name] of /** @type {const} */ ([[jack, 'jack'], [kim, 'kim']])) {
    await register(u.page, node.url, name);
    await u.page.goto(`${node.url}/#join=${room}`);
    await u.page.getByTestId('join-submit').click();
    await u.page.getByTestId('room-title').filter({ hasText: 'workshop' }).waitFor();
    await u.page.locator('[data-testid="chat"][data-key="ready"]').waitFor();
  }
  await ivy.page.getByTestId('room-tools').click();
  await ivy.page.getByTestId('members').locator('li', { hasText: 'kim' }).waitFor();

  // A ban removes Jack, rotates the key, and keeps him out.
  await ivy.page.getByTestId('ban-jack').click();
  await ivy.page.getByTestId('tool-out').filter({ hasText: /banned jack; key rotated to epoch \d+/ }).waitFor();
  await jack.page.getByTestId('chat-notice').filter({ hasText: 'You were removed' }).waitFor();
  await jack.page.goto(`${node.url}/#join=${room}`);
  await jack.page.getByTestId('join-submit').click();
  await jack.page.getByTestId('join-error').filter({ hasText: '(banned)' }).waitFor();

  // Kim leaves from her own panel: the room leaves her list and the
  // owner's member list.
  await kim.page.getByTestId('room-tools').click();
  await kim.page.getByTestId('leave').click();
  await kim.page.waitForURL((u) => !u.hash.includes(room));
  await kim.page.locator('[data-testid="rooms-mine"] [data-name="workshop"]').waitFor({ state: 'detached' });
  await kim.page.getByTestId('rooms-public').locator('[data-name="workshop"]').waitFor();
  await ivy.page.reload();
  await ivy.page.getByTestId('room-tools').click();
  await ivy.page.getByTestId('members').locator('li', { hasText: 'ivy' }).waitFor();
  assert.equal(await ivy.page.getByTestId('members').locator('li', { hasText: 'kim' }).count(), 0);

  // The owner deletes the room, after a confirmation: it is gone for
  // everyone (Kim can no longer find it to join).
  ivy.page.once('dialog', (d) => d.accept());
  await ivy.page.getByTestId('delete-room').click();
  await ivy.page.waitForURL((u) => !u.hash.includes(room));
  await ivy.page.locator('[data-testid="rooms-mine"] [data-name="workshop"]').waitFor({ state: 'detached' });
  await kim.page.goto(`${node.url}/#join=${room}`);
  await kim.page.getByTestId('join-submit').click();
  await kim.page.getByTestId('join-error').filter({ hasText: '(room_not_found)' }).waitFor();
});

test('without the event stream, the open room long-polls', async () => {
  const gina = await user();
  // The event stream fails at the network level; everything else works.
  await gina.page.route('**/api/v1/events*', (r) => r.abort());
  await register(gina.page, node.url, 'gina');
  await gina.page.getByTestId('new-room').click();
  await gina.page.getByTestId('create-name').fill('bots');
  await gina.page.getByTestId('create-encrypted').uncheck();
  await gina.page.getByTestId('create-submit').click();
  await gina.page.getByTestId('room-title').filter({ hasText: 'bots' }).waitFor();
  const room = new URLSearchParams(new URL(gina.page.url()).hash.slice(1)).get('room') ?? '';
  await gina.page.getByTestId('status').filter({ hasText: 'long-polling' }).waitFor();
  const home = await tempDir();
  temps.push(home);
  await peerctl(home, node.url, ['--profile', 'hal', 'init', '--name', 'hal']);
  await peerctl(home, node.url, ['--profile', 'hal', 'rooms', 'join', room]);
  await peerctl(home, node.url, ['--profile', 'hal', 'send', room, 'plain text from a bot']);
  const m = message(gina.page, 'plain text from a bot');
  await m.waitFor();
  // Unencrypted: shown, but marked as unsigned.
  assert.equal(await m.getAttribute('data-status'), 'unencrypted');
  assert.equal(await m.locator('.mark.plain').textContent(), 'unsigned');
  // The aborted stream requests are the only problems this page logged.
  const logged = gina.problems.splice(0);
  assert.ok(logged.every((p) => /net::ERR_FAILED/.test(p)), logged.join('\n'));
});

test('no page had a CSP violation, console error or page error', (t) => {
  for (const r of users.flatMap((u) => u.refusals)) t.diagnostic(`handled API refusal: ${r}`);
  const all = users.flatMap((u) => u.problems);
  assert.deepEqual(all, []);
});

