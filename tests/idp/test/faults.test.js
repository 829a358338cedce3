// Fault injection: every fault, endpoint classes, counts (tests/idp/README.md "Faults").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify, createLocalJWKSet, errors as joseErrors } from 'jose';

import {
  startIdp, deviceAuth, poll, deviceLogin, refresh, userinfo, m2mToken, decodeJwt, pkce,
} from './helpers.js';
import { HUGE_BYTES } from '../lib/faults.js';

let idp; // logto
let gen; // generic
before(async () => {
  [idp, gen] = await Promise.all([
    startIdp({ args: ['--refresh-reuse-leeway', '0'] }),
    startIdp({ profile: 'generic', args: ['--refresh-reuse-leeway', '0'] }),
  ]);
});
after(async () => { await Promise.all([idp?.stop(), gen?.stop()]); });

const fault = (i, endpoint, f, count) => i.ctlOk('POST', '/faults', { endpoint, fault: f, ...(count ? { count } : {}) });

test('reset: the connection is destroyed without a response', async () => {
  await fault(idp, 'jwks', 'reset', 1);
  await assert.rejects(idp.req('GET', '/oidc/jwks'), (e) => ['ECONNRESET', 'EPIPE'].includes(e.code) || /socket hang up/.test(e.message));
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 200);
});

test('hang: accepted, never answered (the client times out)', async () => {
  await fault(idp, 'token', 'hang', 1);
  const t0 = Date.now();
  await assert.rejects(idp.req('POST', '/oidc/token', { form: { grant_type: 'x' }, timeoutMs: 700 }), { code: 'TIMEOUT' });
  assert.ok(Date.now() - t0 >= 650);
  assert.equal((await idp.req('POST', '/oidc/token', { form: { grant_type: 'x' } })).status, 400);
});

test('http500: Logto-style 500 bodies on OIDC and API endpoints', async () => {
  await fault(idp, 'discovery', 'http500', 1);
  const r = await idp.req('GET', '/oidc/.well-known/openid-configuration');
  assert.equal(r.status, 500);
  assert.equal(r.json.error, 'server_error');
  assert.equal(r.json.code, 'oidc.server_error');
  await fault(idp, 'mgmt', 'http500', 1);
  const m = await idp.req('GET', '/api/users');
  assert.equal(m.status, 500);
  assert.deepEqual(m.json, { message: 'Internal server error.' });
});

test('malformed: 200 with invalid JSON', async () => {
  await fault(idp, 'userinfo', 'malformed', 1);
  const r = await idp.req('GET', '/oidc/me');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /application\/json/);
  assert.equal(r.json, undefined);
  assert.ok(r.text.length > 0);
});

test('truncated: Content-Length promises more than is sent, then the connection closes', async () => {
  await fault(idp, 'discovery', 'truncated', 1);
  let outcome;
  try {
    const r = await idp.req('GET', '/oidc/.well-known/openid-configuration');
    outcome = r.length < Number(r.headers['content-length']) ? 'short' : 'complete';
  } catch (e) {
    outcome = `error:${e.code ?? e.message}`;
  }
  assert.notEqual(outcome, 'complete');
  assert.equal((await idp.req('GET', '/oidc/.well-known/openid-configuration')).status, 200);
});

test('huge: 200 with a 10 MB JSON body', async () => {
  await fault(idp, 'jwks', 'huge', 1);
  const r = await idp.req('GET', '/oidc/jwks', { timeoutMs: 30000 });
  assert.equal(r.status, 200);
  assert.equal(r.length, HUGE_BYTES);
  assert.equal(Number(r.headers['content-length']), HUGE_BYTES);
  assert.equal(typeof r.json.padding, 'string');
});

test('count, endpoint scoping, "*" and DELETE /faults', async () => {
  await fault(idp, 'jwks', 'http500', 2);
  assert.equal((await idp.req('GET', '/oidc/.well-known/openid-configuration')).status, 200, 'other endpoints untouched');
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 500);
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 500);
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 200);
  assert.deepEqual(await idp.ctlOk('GET', '/faults'), []);

  await fault(idp, '*', 'http500');
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 500);
  assert.equal((await idp.req('GET', '/api/users')).status, 500);
  assert.equal((await idp.req('GET', '/sign-in')).status, 500);
  assert.equal((await idp.ctlOk('GET', '/faults'))[0].remaining, null);
  await idp.ctlOk('DELETE', '/faults');
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 200);
});

test('endpoint classes: each class maps to its paths (logto)', async () => {
  const b = idp.browser();
  const cases = [
    ['discovery', () => idp.req('GET', '/oidc/.well-known/oauth-authorization-server')],
    ['jwks', () => idp.req('GET', '/oidc/jwks')],
    ['device_auth', () => idp.req('POST', '/oidc/device/auth', { form: { client_id: 'device-app' } })],
    ['token', () => idp.req('POST', '/oidc/token', { form: {} })],
    ['userinfo', () => idp.req('GET', '/oidc/me')],
    ['revocation', () => idp.req('POST', '/oidc/token/revocation', { form: {} })],
    ['auth', () => idp.req('GET', `/oidc/auth?client_id=native-app&code_challenge=${pkce().challenge}`)],
    ['auth', () => idp.req('GET', '/device')],
    ['auth', () => b.request('GET', '/oidc/device')],
    ['auth', () => idp.req('GET', '/consent')],
    ['experience', () => idp.req('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } })],
    ['experience', () => idp.req('POST', '/api/experience/submit')],
    ['mgmt', () => idp.req('GET', '/api/organizations')],
  ];
  for (const [endpoint, call] of cases) {
    await fault(idp, endpoint, 'http500', 1);
    assert.equal((await call()).status, 500, endpoint);
    assert.notEqual((await call()).status, 500, `${endpoint} after the fault`);
  }
  b.close();
});

test('endpoint classes: generic profile paths', async () => {
  const OC = '/realms/test/protocol/openid-connect';
  const cases = [
    ['discovery', () => gen.req('GET', '/realms/test/.well-known/openid-configuration')],
    ['jwks', () => gen.req('GET', `${OC}/certs`)],
    ['device_auth', () => gen.req('POST', `${OC}/auth/device`, { form: { client_id: 'generic-app' } })],
    ['token', () => gen.req('POST', `${OC}/token`, { form: {} })],
    ['userinfo', () => gen.req('GET', `${OC}/userinfo`)],
    ['revocation', () => gen.req('POST', `${OC}/revoke`, { form: {} })],
    ['auth', () => gen.req('GET', '/realms/test/device')],
  ];
  for (const [endpoint, call] of cases) {
    await fault(gen, endpoint, 'http500', 1);
    assert.equal((await call()).status, 500, endpoint);
    assert.notEqual((await call()).status, 500, `${endpoint} after the fault`);
  }
});

test('wrong_issuer on discovery', async () => {
  await fault(idp, 'discovery', 'wrong_issuer', 1);
  const r = await idp.req('GET', '/oidc/.well-known/openid-configuration');
  assert.equal(r.json.issuer, 'https://evil.example.com/oidc');
  assert.equal(r.json.token_endpoint, `${idp.url}/oidc/token`);
  assert.equal((await idp.req('GET', '/oidc/.well-known/openid-configuration')).json.issuer, idp.issuer);
});

async function passwordToken(g) {
  const r = await g.req('POST', '/realms/test/protocol/openid-connect/token', {
    form: { grant_type: 'password', client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid' },
  });
  assert.equal(r.status, 200, r.text);
  return r.json.id_token;
}

test('ID token faults on the generic password grant', async () => {
  const jwks = createLocalJWKSet((await gen.req('GET', '/realms/test/protocol/openid-connect/certs')).json);
  const verify = (t) => jwtVerify(t, jwks, { issuer: gen.issuer, audience: 'generic-app' });
  const good = await passwordToken(gen);
  await verify(good);

  await fault(gen, 'token', 'wrong_issuer', 1);
  const wi = await passwordToken(gen);
  assert.equal(decodeJwt(wi).payload.iss, 'https://evil.example.com/oidc');
  await assert.rejects(verify(wi), joseErrors.JWTClaimValidationFailed);
  await jwtVerify(wi, jwks); // signature itself is valid

  await fault(gen, 'token', 'bad_signature', 1);
  await assert.rejects(verify(await passwordToken(gen)), joseErrors.JWSSignatureVerificationFailed);

  await fault(gen, 'token', 'unknown_kid', 1);
  const uk = await passwordToken(gen);
  const ukh = decodeJwt(uk).header;
  const kids = (await gen.req('GET', '/realms/test/protocol/openid-connect/certs')).json.keys.map((k) => k.kid);
  assert.ok(!kids.includes(ukh.kid));
  assert.equal(ukh.alg, 'RS256');
  await assert.rejects(verify(uk), joseErrors.JWKSNoMatchingKey);

  await fault(gen, 'token', 'expired_id_token', 1);
  const ex = await passwordToken(gen);
  assert.ok(decodeJwt(ex).payload.exp < Date.now() / 1000);
  await assert.rejects(verify(ex), joseErrors.JWTExpired);

  await fault(gen, 'token', 'alg_none', 1);
  const none = await passwordToken(gen);
  assert.deepEqual(decodeJwt(none).header, { alg: 'none' });
  assert.equal(none.split('.')[2], '');
  await assert.rejects(verify(none));

  await fault(gen, 'token', 'alg_hs256', 1);
  const hs = await passwordToken(gen);
  assert.equal(decodeJwt(hs).header.alg, 'HS256');
  await assert.rejects(verify(hs));

  await fault(gen, 'token', 'wrong_aud', 1);
  const wa = await passwordToken(gen);
  assert.equal(decodeJwt(wa).payload.aud, 'another-client');
  await assert.rejects(verify(wa), joseErrors.JWTClaimValidationFailed);

  await verify(await passwordToken(gen));
});

test('ID token faults apply to device polls, code exchange and refresh; not consumed without an id_token', async () => {
  await fault(idp, 'token', 'wrong_aud', 1);
  await m2mToken(idp); // no id_token: the fault stays
  assert.equal((await idp.ctlOk('GET', '/faults')).length, 1);
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
  assert.equal(decodeJwt(s.id_token).payload.aud, 'another-client');
  await fault(idp, 'token', 'expired_id_token', 1);
  const r = await refresh(idp, s.refresh_token);
  assert.ok(decodeJwt(r.json.id_token).payload.exp < Date.now() / 1000);
  assert.equal((await userinfo(idp, r.json.access_token)).status, 200, 'access token untouched');
  await fault(idp, '*', 'alg_none', 1);
  const s2 = await deviceLogin(idp, 'bob', { scope: 'openid' });
  assert.equal(decodeJwt(s2.id_token).header.alg, 'none');
});

test('slow_down on device polls (logto profile too), decorated', async () => {
  const da = await deviceAuth(idp);
  await fault(idp, 'token', 'slow_down', 2);
  const r1 = await poll(idp, da.device_code);
  assert.equal(r1.status, 400);
  assert.equal(r1.json.error, 'slow_down');
  assert.equal(r1.json.code, 'oidc.slow_down');
  assert.equal((await poll(idp, da.device_code)).json.error, 'slow_down');
  assert.equal((await poll(idp, da.device_code)).json.error, 'authorization_pending');
  // slow_down only concerns device-code polls
  await fault(idp, 'token', 'slow_down', 1);
  assert.equal((await m2mToken(idp)).status, 200);
  await idp.ctlOk('DELETE', '/faults');
});

test('hostile text in the device answer: C1, bidi and control characters where people look', async () => {
  const devicePath = '/oidc/device/auth';
  const ask = () => idp.req('POST', devicePath, { form: { client_id: 'device-app', scope: 'openid' } });
  await fault(idp, 'device_auth', 'hostile_uri', 1);
  const a = await ask();
  assert.equal(a.status, 200);
  assert.match(a.json.verification_uri_complete, /^https:\/\/127\.0\.0\.1:\d+\/device\?user_code=[A-Z-]+&note=\u202e\u009b31m\u200fevil$/);
  assert.equal(a.json.verification_uri.includes('\u202e'), false);
  // The device code still works: the fault changes only what is shown.
  await idp.ctlOk('POST', '/device/approve', { user_code: a.json.user_code, username: 'alice' });
  assert.equal((await poll(idp, a.json.device_code)).status, 200);

  await fault(idp, 'device_auth', 'hostile_uri_control', 1);
  assert.match((await ask()).json.verification_uri_complete, /&note=\u001b\[2J\u001b\]0;pwned\u0007$/);
  await fault(idp, 'device_auth', 'hostile_user_code', 1);
  assert.match((await ask()).json.user_code, /^[A-Z]{4}-[A-Z]{4}\u202e\u009b31m\u200fevil$/);

  await fault(idp, 'device_auth', 'hostile_uri_bytes', 1);
  const b = await ask();
  assert.equal(b.status, 200);
  // A lone 0x9b byte: not UTF-8 (so not JSON either, though Node's decoder would paper over it).
  assert.ok(b.raw.includes(Buffer.from([0x26, 0x6e, 0x6f, 0x74, 0x65, 0x3d, 0x9b, 0x33, 0x31, 0x6d])));
  assert.equal(b.raw.includes(Buffer.from([0xc2, 0x9b])), false);
  assert.equal((await ask()).json.verification_uri_complete.includes('note='), false, 'count 1');
});

test('hostile_error: a device poll is denied with C1 and bidi in error_description', async () => {
  const da = await deviceAuth(idp);
  await fault(idp, 'token', 'hostile_error', 1);
  const r = await poll(idp, da.device_code);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'access_denied');
  assert.equal(r.json.error_description, 'End-User aborted interaction\u202e\u009b31m\u200fevil');
  assert.equal((await poll(idp, da.device_code)).json.error, 'authorization_pending');
  // Only device-code polls.
  await fault(idp, 'token', 'hostile_error', 1);
  assert.equal((await m2mToken(idp)).status, 200);
  await idp.ctlOk('DELETE', '/faults');
});

test('faults do not affect the control API\'s own approval hops', async () => {
  const da = await deviceAuth(idp);
  await fault(idp, 'experience', 'http500');
  await fault(idp, 'auth', 'reset');
  try {
    await idp.ctlOk('POST', '/device/approve', { user_code: da.user_code, username: 'alice' });
  } finally {
    await idp.ctlOk('DELETE', '/faults');
  }
  assert.equal((await poll(idp, da.device_code)).status, 200);
});

// ---- bare errors (issue 14.8): Glewlwyd's token-endpoint errors carry no OAuth body ----
test('bare_400/401/403 and html_400: 4xx without an OAuth error body', async () => {
  for (const [f, status] of [['bare_400', 400], ['bare_401', 401], ['bare_403', 403]]) {
    await fault(gen, 'token', f, 1);
    const r = await gen.req('POST', '/realms/test/protocol/openid-connect/token', { form: { grant_type: 'refresh_token' } });
    assert.equal(r.status, status, f);
    assert.equal(r.text, '', f);
    assert.equal(r.headers['content-type'], undefined, f);
  }
  await fault(idp, 'token', 'html_400', 1);
  const h = await idp.req('POST', '/oidc/token', { form: { grant_type: 'refresh_token' } });
  assert.equal(h.status, 400);
  assert.match(h.headers['content-type'], /^text\/html/);
  assert.equal(h.json, undefined);
});

test('http429 / http503: rate limits with Retry-After (seconds or a date), on page 2 with after', async () => {
  await idp.ctlOk('POST', '/faults', { endpoint: 'mgmt', fault: 'http429', count: 1, retry_after: 2, after: 1 });
  const token = (await m2mToken(idp)).json.access_token;
  const auth = { authorization: `Bearer ${token}` };
  assert.equal((await idp.req('GET', '/api/users?page=1&page_size=1', { headers: auth })).status, 200);
  const limited = await idp.req('GET', '/api/users?page=2&page_size=1', { headers: auth });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['retry-after'], '2');
  assert.equal(limited.json.message, 'Too many requests.');
  assert.equal((await idp.req('GET', '/api/users?page=2&page_size=1', { headers: auth })).status, 200);

  const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
  await idp.ctlOk('POST', '/faults', { endpoint: 'token', fault: 'http503', count: 1, retry_after: date });
  const r = await idp.req('POST', '/oidc/token', { form: { grant_type: 'x' } });
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], date);
  await idp.ctlOk('POST', '/faults', { endpoint: 'token', fault: 'http429', count: 1 });
  const bare = await idp.req('POST', '/oidc/token', { form: { grant_type: 'x' } });
  assert.equal(bare.status, 429);
  assert.equal(bare.headers['retry-after'], undefined);
  assert.equal((await idp.req('POST', '/oidc/token', { form: { grant_type: 'x' } })).status, 400);
});

test('http429: retry_after and after are checked', async () => {
  for (const bad of [{ retry_after: -1 }, { retry_after: 86401 }, { retry_after: 'a\nb' }, { retry_after: 'x'.repeat(65) },
    { after: -1 }, { after: 1.5 }]) {
    const r = await idp.ctl('POST', '/faults', { endpoint: 'mgmt', fault: 'http429', count: 1, ...bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
});

test('grow: a user is added before the request is answered (Total-Number moves)', async () => {
  const token = (await m2mToken(idp)).json.access_token;
  const auth = { authorization: `Bearer ${token}` };
  const before = Number((await idp.req('GET', '/api/users?page=1&page_size=1', { headers: auth })).headers['total-number']);
  await idp.ctlOk('POST', '/faults', { endpoint: 'mgmt', fault: 'grow', count: 1 });
  const r = await idp.req('GET', '/api/users?page=1&page_size=100', { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(Number(r.headers['total-number']), before + 1);
  assert.ok(r.json.some((u) => /^grown\d+$/.test(u.username)));
  const after = await idp.req('GET', '/api/users?page=1&page_size=1', { headers: auth });
  assert.equal(Number(after.headers['total-number']), before + 1);
});
