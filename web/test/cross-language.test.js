// @ts-check
// An identity crosses between the browser library and peerctl both ways:
// a file exported here is imported by `peerctl import`, exported again by
// `peerctl export`, and imported here: the same key throughout (identical
// signatures). Needs PEER_TEST_PEERCTL (no node: export and import are
// offline).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exportIdentity, generateIdentity, importIdentity } from '../src/lib/identity.js';
import { signWith } from '../src/lib/primitives.js';
import { binary, run } from './support.js';

const peerctl = binary('PEER_TEST_PEERCTL');

test('browser -> peerctl -> browser: one identity', { skip: peerctl === null }, async () => {
  const bin = /** @type {string} */ (peerctl);
  const dir = mkdtempSync(join(tmpdir(), 'peergroup-web-'));
  try {
    const env = { PEERCTL_HOME: join(dir, 'home'), HOME: dir };
    const pass = 'a passphrase for both sides';
    writeFileSync(join(dir, 'pass'), `${pass}\n`, { mode: 0o600 });
    const id = await generateIdentity();
    writeFileSync(join(dir, 'from-browser.identity'), await exportIdentity(id, pass));

    const imp = await run(bin, ['--profile', 'cli', '--json', 'import', join(dir, 'from-browser.identity'), '--passphrase-file', join(dir, 'pass')], env);
    assert.equal(imp.code, 0, imp.stderr);
    const imported = JSON.parse(imp.stdout);
    assert.equal(imported.user_id, id.userIdText);
    assert.equal(imported.result, 'new');
    assert.equal(statSync(join(dir, 'home', 'cli', 'identity.pem')).mode & 0o777, 0o600);
    const who = await run(bin, ['--profile', 'cli', '--node', 'http://127.0.0.1:9', '--json', 'whoami'], env);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(JSON.parse(who.stdout).user_id, id.userIdText);

    const exp = await run(bin, ['--profile', 'cli', 'export', '--out', join(dir, 'from-cli.identity')], { ...env, PEERCTL_PASSPHRASE: pass });
    assert.equal(exp.code, 0, exp.stderr);
    const text = readFileSync(join(dir, 'from-cli.identity'), 'utf8');
    assert.equal(JSON.parse(text).kdf.iterations, 600000);
    const back = await importIdentity(text, pass);
    assert.equal(back.userIdText, id.userIdText);
    const msg = new TextEncoder().encode('one identity, two clients');
    assert.deepEqual(await signWith(back.signKey, msg), await signWith(id.signKey, msg));
    await assert.rejects(importIdentity(text, 'not the passphrase'), { code: 'wrong_passphrase' });

    const wrong = await run(bin, ['--profile', 'other', 'import', join(dir, 'from-browser.identity')], { ...env, PEERCTL_PASSPHRASE: 'not the passphrase' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /\(wrong_passphrase\)\s*$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
