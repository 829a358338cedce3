// Generic profile (Keycloak/FusionAuth-like): discovery-only endpoints, RS256, password grant,
// `groups`, device flow with `interval` and slow_down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify, createLocalJWKSet } from 'jose';

import {
  startIdp, deviceAuth, poll, deviceLogin, refresh, userinfo, decodeJwt, pkce,
} from './helpers.js';

const REALM = '/realms/test';
const OC = `${REALM}/protocol/openid-connect`;
let idp;
before(async () => { idp = await startIdp({ profile: 'generic', args: ['--refresh-reuse-leeway', '0'] }); });
after(async () => { await idp?.stop(); });

function password(form, { basic } = {}) {
  const headers = {};
  const f = { grant_type: 'password', ...form };
  if (basic) headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  return idp.req('POST', `${OC}/token`, { form: f, headers });
}

test('issuer /realms/test; endpoints only through discovery; nothing under /oidc', async () => {
  assert.equal(idp.issuer, `${idp.url}${REALM}`);
  const d = (await idp.req('GET', `${REALM}/.well-known/openid-configuration`)).json;
  assert.equal(d.issuer, idp.issuer);
  assert.equal(d.token_endpoint, `${idp.url}${OC}/token`);
  assert.equal(d.authorization_endpoint, `${idp.url}${OC}/auth`);
  assert.equal(d.device_authorization_endpoint, `${idp.url}${OC}/auth/device`);
  assert.equal(d.userinfo_endpoint, `${idp.url}${OC}/userinfo`);
  assert.equal(d.jwks_uri, `${idp.url}${OC}/certs`);
  assert.equal(d.revocation_endpoint, `${idp.url}${OC}/revoke`);
  assert.ok(d.grant_types_supported.includes('password'));
  assert.ok(!d.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange'));
  assert.deepEqual(d.id_token_signing_alg_values_supported.includes('RS256'), true);
  assert.ok(!d.scopes_supported.includes('roles'));
  assert.equal((await idp.req('GET', '/oidc/.well-known/openid-configuration')).status, 404);
  assert.equal((await idp.req('GET', '/api/users')).status, 404);
  const jwks = (await idp.req('GET', `${OC}/certs`)).json;
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0].kty, 'RSA');
});

test('password grant: access, id and refresh tokens; RS256; groups and preferred_username', async () => {
  const r = await password({ client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid profile email offline_access' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.access_token && r.json.id_token && r.json.refresh_token);
  assert.equal(r.json.token_type, 'Bearer');
  const jwks = (await idp.req('GET', `${OC}/certs`)).json;
  const { payload, protectedHeader } = await jwtVerify(r.json.id_token, createLocalJWKSet(jwks),
    { issuer: idp.issuer, audience: 'generic-app' });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.match(payload.sub, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(payload.preferred_username, 'alice');
  assert.equal(payload.email, 'alice@example.com');
  assert.deepEqual(payload.groups, ['admin']);
  assert.equal(payload.username, undefined, 'no Logto extras');
  assert.equal(payload.roles, undefined);
  assert.ok(payload.updated_at < 1e11, 'seconds');
  const me = await userinfo(idp, r.json.access_token);
  assert.equal(me.status, 200);
  assert.deepEqual(me.json.groups, ['admin']);
  assert.equal(me.json.custom_data, undefined);
  const ctl = await idp.ctlOk('GET', '/users/alice');
  assert.equal(ctl.sub, payload.sub);

  const rr = await refresh(idp, r.json.refresh_token, { clientId: 'generic-app' });
  assert.equal(rr.status, 200, rr.text);
  assert.deepEqual(decodeJwt(rr.json.id_token).payload.groups, ['admin']);
  const noOffline = await password({ client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid' });
  assert.equal(noOffline.json.refresh_token, undefined);
});

test('password grant: confidential client (basic and post), wrong password, suspended, Logto-free errors', async () => {
  const basic = await password({ username: 'bob', password: 'bob-pass-1', scope: 'openid' }, { basic: 'generic-confidential:generic-secret' });
  assert.equal(basic.status, 200, basic.text);
  const post = await password({
    client_id: 'generic-confidential', client_secret: 'generic-secret', username: 'bob', password: 'bob-pass-1', scope: 'openid',
  });
  assert.equal(post.status, 200);
  const badSecret = await password({ username: 'bob', password: 'bob-pass-1' }, { basic: 'generic-confidential:nope' });
  assert.equal(badSecret.status, 401);
  const wrong = await password({ client_id: 'generic-app', username: 'bob', password: 'nope', scope: 'openid' });
  assert.equal(wrong.status, 400);
  assert.deepEqual(wrong.json, { error: 'invalid_grant', error_description: 'grant request is invalid' });
  const susp = await password({ client_id: 'generic-app', username: 'carol', password: 'carol-pass-1', scope: 'openid' });
  assert.equal(susp.json.error, 'invalid_grant');
  const byEmail = await password({ client_id: 'generic-app', username: 'frank@example.com', password: 'frank-pass-1', scope: 'openid profile' });
  assert.equal(byEmail.status, 200);
  assert.equal(decodeJwt(byEmail.json.id_token).payload.preferred_username, 'frank@example.com');
});

test('device flow: interval 5 by default, approval through login pages, tokens', async () => {
  const da = await deviceAuth(idp, { clientId: 'generic-app', scope: 'openid profile offline_access' });
  assert.equal(da.interval, 5);
  assert.equal(da.verification_uri, `${idp.url}${REALM}/device`);
  const pending = await poll(idp, da.device_code, 'generic-app');
  assert.deepEqual(Object.keys(pending.json).sort(), ['error', 'error_description']);
  assert.equal(pending.json.error, 'authorization_pending');
  await idp.ctlOk('POST', '/device/approve', { user_code: da.user_code, username: 'Grace_Hopper' });
  const ok = await poll(idp, da.device_code, 'generic-app');
  assert.equal(ok.status, 200, ok.text);
  const p = decodeJwt(ok.json.id_token).payload;
  assert.equal(p.preferred_username, 'grace_hopper');
  assert.deepEqual(p.groups.sort(), ['admin', 'auditor']);
  assert.ok(ok.json.refresh_token);
  assert.equal((await poll(idp, da.device_code, 'generic-app')).json.error, 'invalid_grant');
});

test('device flow: deny, expire, wrong password at approval', async () => {
  const d1 = await deviceAuth(idp, { clientId: 'generic-app' });
  await idp.ctlOk('POST', '/device/deny', { user_code: d1.user_code });
  assert.equal((await poll(idp, d1.device_code, 'generic-app')).json.error, 'access_denied');
  const d2 = await deviceAuth(idp, { clientId: 'generic-app' });
  await idp.ctlOk('POST', '/device/expire', { user_code: d2.user_code });
  assert.equal((await poll(idp, d2.device_code, 'generic-app')).json.error, 'expired_token');
  const d3 = await deviceAuth(idp, { clientId: 'generic-app' });
  const r = await idp.ctl('POST', '/device/approve', { user_code: d3.user_code, username: 'carol' });
  assert.equal(r.status, 409);
  assert.match(r.json.error, /disabled/);
});

test('authorization code flow through the login page (public client, PKCE)', async () => {
  const b = idp.browser();
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    client_id: 'generic-app', redirect_uri: 'http://127.0.0.1/callback', response_type: 'code', scope: 'openid profile',
    state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const auth = await b.request('GET', `${OC}/auth?${q}`);
  assert.equal(auth.status, 303);
  assert.match(auth.location, /^\/realms\/test\/login-actions\/authenticate\?/);
  assert.equal((await b.request('GET', auth.location)).status, 200);
  const bad = await b.request('POST', auth.location, { form: { username: 'alice', password: 'nope' } });
  assert.equal(bad.status, 200);
  assert.match(bad.text, /Invalid username or password/);
  const login = await b.request('POST', auth.location, { form: { username: 'alice', password: 'alice-pass-1' } });
  assert.equal(login.status, 303);
  const resume = await b.request('GET', login.location);
  assert.equal(resume.status, 303);
  assert.match(resume.location, /login-actions\/consent/);
  const consent = await b.request('GET', resume.location);
  assert.equal(consent.status, 303);
  const done = await b.request('GET', consent.location);
  assert.equal(done.status, 303);
  const cb = new URL(done.location);
  assert.equal(cb.searchParams.get('state'), 'xyz');
  const t = await idp.req('POST', `${OC}/token`, {
    form: {
      grant_type: 'authorization_code', client_id: 'generic-app', code: cb.searchParams.get('code'),
      redirect_uri: 'http://127.0.0.1/callback', code_verifier: verifier,
    },
  });
  assert.equal(t.status, 200, t.text);
  assert.equal(decodeJwt(t.json.id_token).payload.preferred_username, 'alice');
  b.close();
});

test('--device-interval and slow_down fault', async () => {
  const g = await startIdp({ profile: 'generic', args: ['--device-interval', '2'] });
  try {
    const da = await deviceAuth(g, { clientId: 'generic-app' });
    assert.equal(da.interval, 2);
    await g.ctlOk('POST', '/faults', { endpoint: 'token', fault: 'slow_down', count: 1 });
    const slow = await poll(g, da.device_code, 'generic-app');
    assert.equal(slow.status, 400);
    assert.equal(slow.json.error, 'slow_down');
    assert.equal((await poll(g, da.device_code, 'generic-app')).json.error, 'authorization_pending');
  } finally {
    await g.stop();
  }
});

test('--device-interval is refused for the logto profile', async () => {
  await assert.rejects(startIdp({ args: ['--device-interval', '2'] }), /generic only/);
});

test('key rotation to EC works for the generic profile too', async () => {
  const rot = await idp.ctlOk('POST', '/keys/rotate', { type: 'EC' });
  assert.equal(rot.alg, 'ES384');
  const s = await deviceLogin(idp, 'bob', { clientId: 'generic-app', scope: 'openid' });
  assert.equal(decodeJwt(s.id_token).header.kid, rot.kid);
  const jwks = (await idp.req('GET', `${OC}/certs`)).json;
  assert.equal(jwks.keys.length, 2);
});

// ---- a provider like Glewlwyd 2.7 (glewlwyd.md): unlisted grant, grant off, bare errors ----
test('password grant unlisted in discovery but served; switched off: unauthorized_client; bare errors: empty bodies', async () => {
  try {
    await idp.ctlOk('POST', '/settings', { password_grant_listed: false });
    const d = (await idp.req('GET', '/realms/test/.well-known/openid-configuration')).json;
    assert.ok(!d.grant_types_supported.includes('password'));
    assert.ok(d.grant_types_supported.includes('refresh_token'));
    const ok = await password({ client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid' });
    assert.equal(ok.status, 200, 'the grant is served all the same');

    await idp.ctlOk('POST', '/settings', { password_grant: false });
    const off = await password({ client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid' });
    assert.equal(off.status, 400);
    assert.equal(off.json.error, 'unauthorized_client');
    assert.equal(off.json.error_description, 'requested grant type is not allowed for this client');

    await idp.ctlOk('POST', '/settings', { password_grant: true, bare_token_errors: true });
    const wrong = await password({ client_id: 'generic-app', username: 'alice', password: 'nope', scope: 'openid' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.text, '');
    assert.equal(wrong.headers['content-type'], undefined);
    const right = await password({ client_id: 'generic-app', username: 'alice', password: 'alice-pass-1', scope: 'openid' });
    assert.equal(right.status, 200);
  } finally {
    await idp.ctlOk('POST', '/settings', { password_grant_listed: true, password_grant: true, bare_token_errors: false });
  }
});

// ---- revocation refused for public clients (issue 14.9, glewlwyd.md §6) ----
test('revocation_public: bare_401 / invalid_client refuse public clients, confidential ones revoke', async () => {
  const revoke = (form, headers = {}) => idp.req('POST', `${OC}/revoke`, { form, headers });
  const d0 = (await idp.req('GET', `${REALM}/.well-known/openid-configuration`)).json;
  assert.equal(d0.revocation_endpoint_auth_methods_supported, undefined);
  try {
    await idp.ctlOk('POST', '/settings', { revocation_public: 'bare_401' });
    const d = (await idp.req('GET', `${REALM}/.well-known/openid-configuration`)).json;
    assert.deepEqual(d.revocation_endpoint_auth_methods_supported, ['client_secret_basic']);
    const s = await deviceLogin(idp, 'alice', { clientId: 'generic-app', scope: 'openid offline_access' });
    const bare = await revoke({ client_id: 'generic-app', token: s.refresh_token });
    assert.equal(bare.status, 401);
    assert.equal(bare.text, '');
    assert.equal(bare.headers['content-type'], undefined);
    await idp.ctlOk('POST', '/settings', { revocation_public: 'invalid_client' });
    const ic = await revoke({ client_id: 'generic-app', token: s.refresh_token });
    assert.equal(ic.status, 401);
    assert.equal(ic.json.error, 'invalid_client');
    // Not revoked: the refresh token still works.
    assert.equal((await refresh(idp, s.refresh_token, { clientId: 'generic-app' })).status, 200);
    // A confidential client (client_secret_basic) still revokes.
    const basic = `Basic ${Buffer.from('generic-confidential:generic-secret').toString('base64')}`;
    assert.equal((await revoke({ token: 'whatever' }, { authorization: basic })).status, 200);
    assert.equal((await idp.ctl('POST', '/settings', { revocation_public: 'nope' })).status, 400);
  } finally {
    await idp.ctlOk('POST', '/settings', { revocation_public: 'allow' });
  }
});
