// @ts-check
// PeerClient against a real peerd on 127.0.0.1 (PEER_TEST_PEERD): the whole
// user journey, end to end encrypted, the agent duties, the event stream,
// the long-poll fallback, and the refusals (tampered answers, a changed
// node key). With PEER_TEST_PEERCTL too, a peerctl user and a PeerClient
// user chat both ways.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MemoryPins, PeerClient } from '../src/lib/client.js';
import { exportIdentity, generateIdentity } from '../src/lib/identity.js';
import { binary, eventually, run, startPeerd } from './support.js';

const peerd = binary('PEER_TEST_PEERD');
const skip = peerd === null;

/** @type {{url: string, stop: () => Promise<void>}} */
let node;
/** @type {Record<string, import('../src/lib/identity.js').Identity>} */
const ids = {};

before(async () => {
  if (skip) return;
  node = await startPeerd(/** @type {string} */ (peerd));
  for (const who of ['alice', 'bob', 'carol']) ids[who] = await generateIdentity();
});

after(async () => {
  if (node) await node.stop();
});

/** @param {string} who @param {import('../src/lib/client.js').ClientOptions} [opts] */
async function connect(who, opts = {}) {
  return PeerClient.connect(node.url, ids[who], opts);
}

/** @type {Record<string, PeerClient>} */
const clients = {};
/** @param {string} who */
async function user(who) {
  if (!clients[who]) {
    const c = await connect(who);
    await c.register(who);
    clients[who] = c;
  }
  return clients[who];
}

/**
 * The next event of `stream` matching `want` (bounded).
 * @param {import('../src/lib/client.js').EventStream} stream
 * @param {(e: import('../src/lib/client.js').PeerEvent) => boolean} want
 */
async function nextEvent(stream, want) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const e = await stream.next();
    if (e === null) throw new Error('the stream ended');
    if (want(e)) return e;
  }
  throw new Error('no such event');
}

test('register, whoami, and an encrypted room from creation to kick', { skip }, async () => {
  const alice = await user('alice');
  const bob = await user('bob');
  const me = await alice.whoami();
  assert.equal(me.user?.name, 'alice');
  assert.equal(me.user?.id, alice.userId);

  const room = await alice.createRoom({ name: 'plans', topic: 'the tour' });
  assert.equal(room.encrypted, true);
  assert.equal(room.my_role, 'owner');
  assert.equal(room.epoch, 1);
  const first = await alice.sendText(room.id, 'hello before bob');
  assert.equal(first.seq, 1);

  // Bob joins; his key is pending until alice's agent answers key_request.
  const aliceEvents = await alice.events();
  const bobEvents = await bob.events();
  const joined = await bob.join(room.id);
  assert.equal(joined.key_pending, true);
  assert.equal(await bob.hasCurrentKey(room.id), false);
  const request = await nextEvent(aliceEvents, (e) => e.type === 'key_request' && e.user_id === bob.userId);
  const reports = await alice.agentStep(request);
  assert.equal(reports.length, 1);
  assert.equal(reports[0].event, 'key_distributed');
  assert.equal(reports[0].user, bob.userId);
  const granted = await nextEvent(bobEvents, (e) => e.type === 'key_granted' && e.user_id === bob.userId);
  const got = await bob.agentStep(granted);
  assert.equal(got[0].event, 'keys_received');
  assert.equal(await bob.hasCurrentKey(room.id), true);

  // Bob reads alice's message, verified, with her name; and answers.
  const page = await bob.history(room.id, { after: 0 });
  assert.equal(page.messages.length, 1);
  assert.equal(page.messages[0].text, 'hello before bob');
  assert.equal(page.messages[0].verified, 'verified');
  assert.equal(page.messages[0].sender_name, 'alice');
  await bob.sendText(room.id, 'hi alice', { replyTo: 1 });
  const msgEvent = await nextEvent(aliceEvents, (e) => e.type === 'message' && e.seq === 2);
  assert.equal(msgEvent.sender_id, bob.userId);
  const seen = await alice.history(room.id, { after: 1 });
  assert.equal(seen.messages[0].text, 'hi alice');
  assert.equal(seen.messages[0].reply_to, 1);
  assert.equal(seen.messages[0].verified, 'verified');
  assert.equal(aliceEvents.lastEventId, msgEvent.id);

  // Paging upwards: before + limit, descending, `more` says there is more.
  for (let i = 0; i < 5; i++) await alice.sendText(room.id, `m${i}`);
  const top = await bob.history(room.id, { before: 8, limit: 3 });
  assert.deepEqual(top.messages.map((m) => m.seq), [7, 6, 5]);
  assert.equal(top.more, true);
  const rest = await bob.history(room.id, { before: 5, limit: 10 });
  assert.deepEqual(rest.messages.map((m) => m.seq), [4, 3, 2, 1]);
  assert.equal(rest.more, false);

  // Long-poll fallback: a wait that a post ends.
  const polled = bob.poll(room.id, 7, { wait: 30 });
  await new Promise((r) => setTimeout(r, 300));
  await alice.sendText(room.id, 'wake up');
  const woke = await polled;
  assert.equal(woke.messages[0].text, 'wake up');

  // Members and roles.
  const members = await alice.members(room.id);
  assert.deepEqual(members.map((m) => m.name).sort(), ['alice', 'bob']);
  const made = await alice.setRole(room.id, bob.userId, 'admin');
  assert.equal(made.role, 'admin');
  await alice.setRole(room.id, bob.userId, 'member');

  // Kick: the room rotates at once; bob cannot read what follows.
  const kicked = await alice.kick(room.id, bob.userId);
  assert.equal(kicked.reason, 'kicked');
  assert.equal(kicked.epoch, 2);
  await alice.sendText(room.id, 'after bob left');
  await assert.rejects(bob.history(room.id, { after: 0 }), { code: 'not_member' });
  const own = await alice.history(room.id, { after: 8 });
  assert.equal(own.messages.at(-1)?.text, 'after bob left');
  assert.equal(own.messages.at(-1)?.epoch, 2);
  aliceEvents.close();
  bobEvents.close();
});

test('password and invite rooms, bans, leaving, and unencrypted rooms', { skip }, async () => {
  const alice = await user('alice');
  const carol = await user('carol');
  const pw = await alice.createRoom({ name: 'secret', password: 's3cret pass', visibility: 'private', capacity: 5 });
  assert.equal(pw.join_rule, 'password');
  assert.equal(pw.visibility, 'private');
  assert.equal(pw.capacity, 5);
  await assert.rejects(carol.join(pw.id, { password: 'nope' }), { code: 'wrong_password' });
  await carol.join(pw.id, { password: 's3cret pass' });
  const left = await carol.leave(pw.id);
  assert.equal(left.reason, 'left');
  // A member left: the owner's next post rotates first (as peerctl does).
  await alice.sendText(pw.id, 'rotated first');
  assert.equal((await alice.getRoom(pw.id)).epoch, 2);

  const inv = await alice.createRoom({ name: 'club', join_rule: 'invite' });
  await assert.rejects(carol.join(inv.id), { code: 'invalid_invite' });
  const code = await alice.invite(inv.id, { uses: 1, expires_in_secs: 600 });
  await carol.join(inv.id, { invite: code.code });
  await alice.ban(inv.id, carol.userId);
  await assert.rejects(carol.join(inv.id, { invite: (await alice.invite(inv.id)).code }), { code: 'banned' });

  const open = await alice.createRoom({ name: 'lobby', encrypted: false });
  await carol.join(open.id);
  await carol.sendText(open.id, 'plain words');
  const read = await alice.history(open.id);
  assert.equal(read.messages[0].verified, 'unencrypted');
  assert.equal(read.messages[0].text, 'plain words');
  const listed = await carol.listAllRooms();
  assert.ok(listed.some((r) => r.id === open.id));
  assert.ok(!listed.some((r) => r.id === pw.id), 'a private room is not listed to non-members');
});

test('catch-up hands out keys that were requested while no manager was online', { skip }, async () => {
  const alice = await user('alice');
  const bob = await user('bob');
  const room = await alice.createRoom({ name: 'later' });
  await bob.join(room.id);
  const reports = await alice.catchUp();
  assert.ok(reports.some((r) => r.event === 'key_distributed' && r.room === room.id && r.stored === 1), JSON.stringify(reports));
  assert.equal(await bob.hasCurrentKey(room.id), true);
  await bob.sendText(room.id, 'got it');
  assert.equal((await alice.history(room.id)).messages[0].verified, 'verified');
});

test('sealed bodies and rsa-oaep sessions work too', { skip }, async () => {
  await user('alice');
  const sealed = await connect('alice', { sealed: true });
  const rsa = await connect('alice', { kex: 'rsa-oaep' });
  for (const c of [sealed, rsa]) {
    const room = await c.createRoom({ name: 'modes' });
    await c.sendText(room.id, 'sealed or not');
    assert.equal((await c.history(room.id)).messages[0].text, 'sealed or not');
  }
});

test('a tampered answer is refused; a changed node key is refused', { skip }, async () => {
  await user('alice');
  /** @type {typeof fetch} */
  const tamper = async (input, init) => {
    const resp = await fetch(input, init);
    if (!String(input).includes('/api/v1/rooms') || init?.method !== 'GET') return resp;
    const body = (await resp.text()).replace('"rooms"', '"rooms" ');
    return new Response(body, { status: resp.status, headers: resp.headers });
  };
  const c = await connect('alice', { fetch: tamper });
  await assert.rejects(c.listRooms(), { code: 'tampered_response' });

  // Same pins, another node at the same URL.
  const pins = new MemoryPins();
  await PeerClient.connect(node.url, ids.alice, { pins });
  const other = await startPeerd(/** @type {string} */ (peerd));
  try {
    /** @type {typeof fetch} */
    const redirect = (input, init) => fetch(String(input).replace(node.url, other.url), init);
    await assert.rejects(PeerClient.connect(node.url, ids.alice, { pins, fetch: redirect }), { code: 'wrong_node' });
  } finally {
    await other.stop();
  }
});

const peerctl = binary('PEER_TEST_PEERCTL');

test('a peerctl user and a PeerClient user chat both ways', { skip: skip || peerctl === null }, async () => {
  const bin = /** @type {string} */ (peerctl);
  const dir = mkdtempSync(join(tmpdir(), 'peergroup-web-'));
  try {
    const env = { PEERCTL_HOME: join(dir, 'home'), HOME: dir, PEERCTL_NODE: node.url };
    const cli = (/** @type {string[]} */ ...args) => run(bin, ['--profile', 'dave', ...args], env);
    assert.equal((await cli('init', '--name', 'dave')).code, 0);
    const created = await cli('--json', 'rooms', 'create', 'mixed');
    assert.equal(created.code, 0, created.stderr);
    const roomId = JSON.parse(created.stdout).id;
    const alice = await user('alice');
    const joined = await alice.join(roomId);
    assert.equal(joined.key_pending, true);
    // dave's agent catches up when it comes online and hands alice the key.
    const agent = spawn(bin, ['--profile', 'dave', 'agent'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    try {
      await eventually('alice has the key', () => alice.hasCurrentKey(roomId));
    } finally {
      agent.kill('SIGTERM');
    }
    const sent = await cli('send', 'mixed', 'hello from the CLI');
    assert.equal(sent.code, 0, sent.stderr);
    const page = await alice.history(roomId);
    const fromCli = page.messages.find((m) => m.text === 'hello from the CLI');
    assert.ok(fromCli);
    assert.equal(fromCli.verified, 'verified');
    assert.equal(fromCli.sender_name, 'dave');
    await alice.sendText(roomId, 'hello from the browser library');
    const read = await cli('--json', 'read', 'mixed');
    assert.equal(read.code, 0, read.stderr);
    const lines = read.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const fromJs = lines.find((l) => l.text === 'hello from the browser library');
    assert.ok(fromJs, read.stdout);
    assert.equal(fromJs.status, 'verified');

    // And the identity file of a browser user works in peerctl.
    const pass = 'a passphrase for both sides';
    writeFileSync(join(dir, 'alice.identity'), await exportIdentity(ids.alice, pass));
    const imp = await run(bin, ['--profile', 'alice-cli', 'import', join(dir, 'alice.identity')], { ...env, PEERCTL_PASSPHRASE: pass });
    assert.equal(imp.code, 0, imp.stderr);
    const init = await run(bin, ['--profile', 'alice-cli', '--json', 'init', '--name', 'alice'], env);
    assert.equal(JSON.parse(init.stdout).registered, 'already');
    const readAsAlice = await run(bin, ['--profile', 'alice-cli', '--json', 'read', roomId], env);
    assert.equal(readAsAlice.code, 0, readAsAlice.stderr);
    assert.ok(readAsAlice.stdout.includes('hello from the CLI'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

