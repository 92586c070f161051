// @ts-check
// Reproduces every entry of docs/test-vectors.json byte for byte with the
// browser library running on Node's WebCrypto.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { b64urlDecode, b64urlEncode, concat, fromHex, toHex, u64be } from '../src/lib/bytes.js';
import { canonical } from '../src/lib/postcard.js';
import {
  ecdh, hkdf, importEcdhPrivate, importPoint, importPublicKey, open, sealKeys, sealWithIv, sha256, signWith,
} from '../src/lib/primitives.js';
import { identityFromPkcs8 } from '../src/lib/identity.js';
import { registrationBody, registrationSignedBytes } from '../src/lib/register.js';
import {
  finishHandshake, helloSignedBytes, replyParamsBytes, replySignedBytes, startHandshake, tokenKey,
} from '../src/lib/handshake.js';
import { requestKeys, requestMacInput, responseMacInput } from '../src/lib/request.js';
import {
  decryptMessage, encodeMessageBody, decodeMessageBody, encryptMessage, epochKey, epochKeyInfo, messageAad, messageSignedBytes,
} from '../src/lib/room.js';
import { envelopeSignedBytes, unwrapEnvelope, verifyEnvelope } from '../src/lib/envelope.js';

/** @type {any} */
const V = JSON.parse(readFileSync(new URL('../../docs/test-vectors.json', import.meta.url), 'utf8'));
const hex = toHex;
const h = fromHex;

/** @type {Record<string, import('../src/lib/identity.js').Identity>} */
const ids = {};
/** @param {string} who */
async function key(who) {
  if (!ids[who]) ids[who] = await identityFromPkcs8(b64urlDecode(V.keys[who].pkcs8_der_b64url));
  return ids[who];
}

test('postcard: the example of protocol.md', () => {
  const b = canonical('demo/v1').varint(1).varint(300).finish();
  assert.equal(hex(b), '0764656d6f2f7631' + '01ac02');
});

test('keys: SPKI, SHA-256 and ids of every fixture key', async () => {
  for (const who of ['user', 'node', 'member']) {
    const k = await key(who);
    const v = V.keys[who];
    assert.equal(hex(k.spki), v.spki_der, who);
    assert.equal(hex(k.publicKey.spkiHash), v.spki_sha256, who);
    assert.equal(hex(k.userId), v.id, who);
    assert.equal(k.userIdText, v.id_b64url, who);
  }
});

test('registration: signed bytes, signature and body', async () => {
  const r = V.registration;
  const user = await key(r.signer);
  const signed = registrationSignedBytes(h(r.node_id), r.name, user.spki, r.timestamp);
  assert.equal(hex(signed), r.signed_bytes);
  const body = await registrationBody(user, h(r.node_id), r.name, r.timestamp);
  assert.equal(hex(b64urlDecode(body.signature)), r.signature);
  assert.deepEqual(body, r.body_json);
});

test('seal: keys, MAC input, sealed bytes and open for every case', async () => {
  assert.ok(V.seal.cases.length >= 1);
  for (const c of V.seal.cases) {
    const { kEnc, kMac } = await sealKeys(h(c.key));
    assert.equal(hex(kEnc), c.k_enc);
    assert.equal(hex(kMac), c.k_mac);
    const sealed = await sealWithIv(h(c.key), h(c.iv), h(c.plaintext), h(c.aad));
    assert.equal(hex(sealed), c.sealed);
    assert.equal(c.sealed, c.iv + c.ct + c.tag);
    assert.equal(hex(concat(u64be(h(c.aad).length), h(c.aad), h(c.iv), h(c.ct))), c.mac_input);
    assert.equal(hex(await open(h(c.key), h(c.sealed), h(c.aad))), c.plaintext);
    // Any flipped bit, and another aad, fail alike.
    const bad = h(c.sealed);
    bad[bad.length - 1] ^= 1;
    await assert.rejects(open(h(c.key), bad, h(c.aad)), { code: 'invalid_sealed_body' });
    await assert.rejects(open(h(c.key), h(c.sealed), concat(h(c.aad), Uint8Array.of(0))), { code: 'invalid_sealed_body' });
  }
});

for (const mode of ['session_ecdh_p256', 'session_rsa_oaep']) {
  test(`${mode}: hello, reply checks, session keys and every request/response`, async () => {
    const hs = V[mode].handshake;
    const user = await key('user');
    const node = await key('node');
    const kex = hs.hello_json.kex;
    const eph = hs.client_eph ? await importEcdhPrivate(h(hs.client_eph_private), h(hs.client_eph)) : undefined;
    const { expect, hello } = await startHandshake(user, node.userId, kex, hs.now, { clientNonce: h(hs.client_nonce), clientEph: eph });
    assert.equal(hex(expect.helloSigned), hs.hello_signed_bytes);
    assert.equal(hex(helloSignedBytes({
      kex, userId: user.userId, clientEph: hs.client_eph ? h(hs.client_eph) : null,
      clientNonce: h(hs.client_nonce), timestamp: hs.now, nodeId: node.userId,
    })), hs.hello_signed_bytes);
    assert.equal(hex(expect.helloSignature), hs.hello_signature);
    assert.deepEqual(hello, hs.hello_json);

    const slot = h(hs.server_eph ?? hs.wrapped_secret);
    const params = replyParamsBytes(h(hs.session_id), slot, h(hs.server_nonce), hs.expires_at);
    assert.equal(hex(params), hs.reply_params_postcard);
    const th = await sha256(concat(h(hs.hello_signed_bytes), h(hs.hello_signature), params));
    assert.equal(hex(th), hs.th);
    assert.equal(hex(replySignedBytes(th, h(hs.session_id), slot, h(hs.server_nonce), hs.expires_at)), hs.reply_signed_bytes);
    assert.equal(hex(await signWith(node.signKey, h(hs.reply_signed_bytes))), hs.node_signature);
    if (hs.server_eph) {
      const server = await importEcdhPrivate(h(hs.server_eph_private), h(hs.server_eph));
      assert.ok(eph);
      assert.equal(hex(await ecdh(eph.privateKey, await importPoint(h(hs.server_eph)))), hs.ikm);
      assert.equal(hex(await ecdh(server.privateKey, await importPoint(h(hs.client_eph)))), hs.ikm);
    } else {
      assert.equal(hs.ikm, hs.session_secret);
    }
    const kToken = await tokenKey(h(hs.ikm), h(hs.client_nonce), h(hs.server_nonce), th);
    assert.equal(hex(kToken), hs.k_token);
    assert.equal(hex(await sealWithIv(kToken, h(hs.sealed_auth_key).subarray(0, 16), h(hs.auth_key), h(hs.session_id))), hs.sealed_auth_key);

    const session = await finishHandshake(expect, hs.reply_json, node.publicKey, hs.now);
    assert.equal(session.sessionIdText, hs.reply_json.session_id);
    assert.equal(session.expiresAt, hs.expires_at);
    assert.equal(hex(/** @type {any} */ (session).authKey), hs.auth_key);

    for (const r of V[mode].requests) {
      const info = concat(new TextEncoder().encode('peergroup/request-keys/v1'), h(hs.session_id), h(r.hkdf_info).subarray(-8));
      assert.equal(hex(info), r.hkdf_info);
      const keys = await requestKeys(h(r.ikm), h(hs.auth_key), h(hs.session_id), r.seq);
      assert.equal(hex(keys.kMac), r.k_mac);
      assert.equal(hex(keys.kReq), r.k_req);
      assert.equal(hex(keys.kResp), r.k_resp);
      assert.equal(hex(requestMacInput(r.method, r.path_and_query, r.seq, h(r.body_sha256))), r.request_mac_input);
      assert.equal(hex(responseMacInput(r.response_status, r.seq, h(r.response_sha256))), r.response_mac_input);

      const requestKey = r.request_key ? await importEcdhPrivate(h(r.request_key_private), h(r.request_key)) : undefined;
      const iv = r.sealed ? h(r.body_wire).subarray(0, 16) : undefined;
      const prepared = await session.prepareRequest(r.method, r.path_and_query, h(r.body_plain), r.sealed, { requestKey, iv });
      assert.equal(hex(prepared.body), r.body_wire);
      assert.equal(hex(await sha256(prepared.body)), r.body_sha256);
      assert.equal(prepared.contentType, r.content_type);
      /** @type {Record<string, string>} */
      const want = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== null) want[k] = /** @type {string} */ (v);
      assert.deepEqual(prepared.headers, want);
      assert.equal(hex(await sha256(h(r.response_wire))), r.response_sha256);
      const body = await prepared.verifier.verify(r.response_status, r.response_peer_auth, h(r.response_wire));
      assert.equal(hex(body), r.response_plain);
    }
  });

  test(`${mode}: the reply is refused when altered or from another key`, async () => {
    const hs = V[mode].handshake;
    const user = await key('user');
    const node = await key('node');
    const member = await key('member');
    const eph = hs.client_eph ? await importEcdhPrivate(h(hs.client_eph_private), h(hs.client_eph)) : undefined;
    const start = () => startHandshake(user, node.userId, hs.hello_json.kex, hs.now, { clientNonce: h(hs.client_nonce), clientEph: eph });
    // A pinned key that is not the targeted node's.
    await assert.rejects(finishHandshake((await start()).expect, hs.reply_json, member.publicKey, hs.now), { code: 'wrong_node' });
    // A changed expiry breaks the node's signature.
    await assert.rejects(
      finishHandshake((await start()).expect, { ...hs.reply_json, expires_at: hs.expires_at + 1 }, node.publicKey, hs.now),
      { code: 'bad_signature' },
    );
    // Expired at the boundary.
    await assert.rejects(finishHandshake((await start()).expect, hs.reply_json, node.publicKey, hs.expires_at), { code: 'session_expired' });
    // Both slots, or the wrong one for the mode.
    await assert.rejects(
      finishHandshake((await start()).expect, { ...hs.reply_json, server_eph: 'AAAA', wrapped_secret: 'AAAA' }, node.publicKey, hs.now),
      { code: 'invalid_field' },
    );
  });

  test(`${mode}: a response with a wrong or missing Peer-Auth is refused`, async () => {
    const hs = V[mode].handshake;
    const user = await key('user');
    const node = await key('node');
    const eph = hs.client_eph ? await importEcdhPrivate(h(hs.client_eph_private), h(hs.client_eph)) : undefined;
    const { expect } = await startHandshake(user, node.userId, hs.hello_json.kex, hs.now, { clientNonce: h(hs.client_nonce), clientEph: eph });
    const session = await finishHandshake(expect, hs.reply_json, node.publicKey, hs.now);
    const r = V[mode].requests[0];
    const requestKey = r.request_key ? await importEcdhPrivate(h(r.request_key_private), h(r.request_key)) : undefined;
    const p1 = await session.prepareRequest(r.method, r.path_and_query, h(r.body_plain), r.sealed, { requestKey });
    await assert.rejects(p1.verifier.verify(r.response_status + 1, r.response_peer_auth, h(r.response_wire)), { code: 'bad_authenticator' });
    const p2 = await session.prepareRequest(r.method, r.path_and_query, h(r.body_plain), r.sealed, { requestKey });
    await assert.rejects(p2.verifier.verify(r.response_status, null, h(r.response_wire)), { code: 'bad_authenticator' });
  });
}

test('room: epoch keys, message body, aad, ciphertext, signature, and decryption', async () => {
  const room = V.room;
  const roomId = h(room.room_id);
  const master = h(room.master_key);
  for (const e of room.epoch_keys) {
    assert.equal(hex(epochKeyInfo(e.epoch)), e.hkdf_info);
    assert.equal(hex(await epochKey(master, roomId, e.epoch)), e.k_epoch);
    assert.equal(hex(await hkdf(master, roomId, h(e.hkdf_info), 32)), e.k_epoch);
  }
  const m = room.message;
  const sender = await key(m.sender);
  assert.equal(hex(sender.userId), m.sender_id);
  assert.equal(hex(encodeMessageBody(m.body)), m.body_postcard);
  assert.deepEqual(decodeMessageBody(h(m.body_postcard)), m.body);
  assert.equal(hex(messageAad(roomId, m.epoch, sender.userId)), m.aad);
  const k = await epochKey(master, roomId, m.epoch);
  assert.equal(hex(k), m.k_epoch);
  const sk = await sealKeys(k);
  assert.equal(hex(sk.kEnc), m.k_enc);
  assert.equal(hex(sk.kMac), m.k_mac);
  const sealed = await encryptMessage(k, roomId, m.epoch, sender, m.body, { iv: h(m.iv) });
  assert.equal(hex(sealed.ciphertext), m.ciphertext);
  assert.equal(hex(await sha256(sealed.ciphertext)), m.ciphertext_sha256);
  assert.equal(hex(messageSignedBytes(roomId, m.epoch, h(m.ciphertext_sha256))), m.signed_bytes);
  assert.equal(hex(sealed.signature), m.signature);
  const body = await decryptMessage(k, roomId, m.epoch, sender.publicKey, sender.userId, h(m.ciphertext), h(m.signature));
  assert.deepEqual(body, m.body);
  // Another sender's key, a flipped ciphertext bit, trailing body bytes.
  const other = await key('member');
  await assert.rejects(decryptMessage(k, roomId, m.epoch, other.publicKey, sender.userId, h(m.ciphertext), h(m.signature)), { code: 'bad_signature' });
  const flipped = h(m.ciphertext);
  flipped[20] ^= 1;
  await assert.rejects(decryptMessage(k, roomId, m.epoch, sender.publicKey, sender.userId, flipped, h(m.signature)), { code: 'bad_signature' });
  assert.throws(() => decodeMessageBody(concat(h(m.body_postcard), Uint8Array.of(0))), { code: 'invalid_field' });
});

test('envelope: signed bytes, signature, verification and unwrapping', async () => {
  const env = V.room.envelope;
  const distributor = await key(env.distributor);
  const member = await key(env.member);
  const j = env.json;
  assert.equal(hex(b64urlDecode(j.wrapped_key)), env.wrapped_key);
  assert.equal(hex(b64urlDecode(j.signature)), env.signature);
  const signed = envelopeSignedBytes(b64urlDecode(j.room_id), j.epoch, b64urlDecode(j.member_id), b64urlDecode(j.wrapped_key), b64urlDecode(j.distributor_id));
  assert.equal(hex(signed), env.signed_bytes);
  assert.equal(hex(await signWith(distributor.signKey, signed)), env.signature);
  await verifyEnvelope(j, distributor.publicKey);
  assert.equal(hex(await unwrapEnvelope(j, member)), V.room.master_key);
  await assert.rejects(verifyEnvelope(j, member.publicKey), { code: 'invalid_envelope' });
  await assert.rejects(verifyEnvelope({ ...j, epoch: 2 }, distributor.publicKey), { code: 'invalid_envelope' });
  await assert.rejects(verifyEnvelope({ ...j, epoch: 0 }, distributor.publicKey), { code: 'invalid_envelope' });
  await assert.rejects(unwrapEnvelope(j, distributor), { code: 'invalid_envelope' });
});

test('public keys: canonical SPKI of 2048..4096 bits only', async () => {
  const spki = h(V.keys.user.spki_der);
  const k = await importPublicKey(spki);
  assert.equal(k.bits, 2048);
  assert.equal(b64urlEncode(k.id), V.keys.user.id_b64url);
  await assert.rejects(importPublicKey(spki.subarray(0, 100)), { code: 'invalid_field' });
  // A 1024-bit key is refused.
  const small = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'],
  ));
  await assert.rejects(importPublicKey(new Uint8Array(await crypto.subtle.exportKey('spki', small.publicKey))), { code: 'invalid_field' });
});
