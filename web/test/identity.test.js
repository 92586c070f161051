// @ts-check
// Identity files: the vector of docs/test-vectors.json byte for byte (the
// same file peerctl writes), round trips, wrong passphrases, tampering.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { b64urlDecode, b64urlEncode, fromHex, toHex } from '../src/lib/bytes.js';
import {
  EXPORT_ITERATIONS, exportIdentity, generateIdentity, identityFileAad, identityFileKey, identityFromPkcs8,
  importIdentity, readIdentityFile,
} from '../src/lib/identity.js';
import { signWith, verifySignature } from '../src/lib/primitives.js';

/** @type {any} */
const V = JSON.parse(readFileSync(new URL('../../docs/test-vectors.json', import.meta.url), 'utf8'));
const F = V.identity_file;

test('identity file vector: key, aad, and the exact file text', async () => {
  const user = await identityFromPkcs8(b64urlDecode(V.keys[F.key].pkcs8_der_b64url));
  assert.equal(toHex(await identityFileKey(F.passphrase, fromHex(F.salt), F.iterations)), F.file_key);
  assert.equal(toHex(identityFileAad(1, F.iterations, fromHex(F.salt), user.spki)), F.aad);
  const text = await exportIdentity(user, F.passphrase, { iterations: F.iterations, salt: fromHex(F.salt), iv: fromHex(F.iv) });
  assert.equal(text, F.file_text);
  assert.deepEqual(JSON.parse(text), F.file_json);
  assert.equal(toHex(b64urlDecode(F.file_json.sealed_key)), F.sealed_key);
});

test('identity file vector: importing the file Rust wrote gives the same key', async () => {
  const imported = await importIdentity(F.file_text, F.passphrase);
  assert.equal(toHex(imported.spki), V.keys[F.key].spki_der);
  assert.equal(imported.userIdText, V.keys[F.key].id_b64url);
  // It signs exactly like the original (PKCS#1 v1.5 signatures are deterministic).
  const reg = V.registration;
  assert.equal(toHex(await signWith(imported.signKey, fromHex(reg.signed_bytes))), reg.signature);
  const info = await readIdentityFile(F.file_text);
  assert.equal(info.userId, V.keys[F.key].id_b64url);
  assert.equal(info.iterations, F.iterations);
});

test('a wrong passphrase is refused with a clear error', async () => {
  await assert.rejects(importIdentity(F.file_text, F.passphrase + '!'), (e) => {
    assert.equal(/** @type {any} */ (e).code, 'wrong_passphrase');
    assert.match(String(/** @type {any} */ (e).message), /wrong passphrase/);
    assert.doesNotMatch(String(/** @type {any} */ (e).message), /horse/);
    return true;
  });
});

test('header fields are bound to the sealed key; malformed files are refused', async () => {
  const f = JSON.parse(F.file_text);
  const edit = (/** @type {(o: any) => void} */ fn) => {
    const o = structuredClone(f);
    fn(o);
    return JSON.stringify(o);
  };
  await assert.rejects(importIdentity(edit((o) => { o.kdf.iterations += 1; }), F.passphrase), { code: 'wrong_passphrase' });
  await assert.rejects(importIdentity(edit((o) => { o.kdf.salt = b64urlEncode(new Uint8Array(16)); }), F.passphrase), { code: 'wrong_passphrase' });
  await assert.rejects(importIdentity(edit((o) => {
    const s = b64urlDecode(o.sealed_key);
    s[30] ^= 1;
    o.sealed_key = b64urlEncode(s);
  }), F.passphrase), { code: 'wrong_passphrase' });
  const other = V.keys.member;
  await assert.rejects(importIdentity(edit((o) => { o.spki = b64urlEncode(fromHex(other.spki_der)); o.user_id = other.id_b64url; }), F.passphrase), { code: 'wrong_passphrase' });
  await assert.rejects(importIdentity(edit((o) => { o.user_id = other.id_b64url; }), F.passphrase), { code: 'invalid_identity_file' });
  await assert.rejects(importIdentity(edit((o) => { o.version = 2; }), F.passphrase), { code: 'invalid_identity_file' });
  await assert.rejects(importIdentity(edit((o) => { o.kdf.iterations = 999; }), F.passphrase), { code: 'invalid_identity_file' });
  await assert.rejects(importIdentity(edit((o) => { o.kdf.iterations = 10000001; }), F.passphrase), { code: 'invalid_identity_file' });
  await assert.rejects(importIdentity(edit((o) => { o.format = 'pem'; }), F.passphrase), { code: 'invalid_identity_file' });
  await assert.rejects(importIdentity('-----BEGIN PRIVATE KEY-----', F.passphrase), { code: 'invalid_identity_file' });
});

test('generate, export with the default 600,000 iterations, import: the same identity', async () => {
  const id = await generateIdentity();
  const text = await exportIdentity(id, 'a long enough passphrase');
  assert.equal(JSON.parse(text).kdf.iterations, EXPORT_ITERATIONS);
  const back = await importIdentity(text, 'a long enough passphrase');
  assert.equal(back.userIdText, id.userIdText);
  assert.deepEqual(back.spki, id.spki);
  const msg = new TextEncoder().encode('same key');
  await verifySignature(id.publicKey, msg, await signWith(back.signKey, msg));
  // The everyday keys are non-extractable.
  assert.equal(back.signKey.extractable, false);
  assert.equal(back.decryptKey.extractable, false);
  await assert.rejects(exportIdentity(id, 'short'), { code: 'invalid_argument' });
  const noExport = await importIdentity(text, 'a long enough passphrase', { exportable: false });
  await assert.rejects(exportIdentity(noExport, 'a long enough passphrase'), { code: 'invalid_argument' });
});
