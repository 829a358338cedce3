// Logto profile: device flow, claims, userinfo, organization scopes (logto-protocol.md §2, §4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify, createLocalJWKSet } from 'jose';

import {
  startIdp, deviceAuth, poll, deviceLogin, refresh, userinfo, decodeJwt, sleep, m2mToken, mgmt,
} from './helpers.js';

const ORG_ACME = 'pbl95zlwkzx4';
let idp;
before(async () => { idp = await startIdp({ args: ['--refresh-reuse-leeway', '0'] }); });
after(async () => { await idp?.stop(); });

test('device authorization response: exactly five fields, /device URIs, no interval, 600 s, base-20 code', async () => {
  const da = await deviceAuth(idp, { scope: 'openid offline_access profile' });
  assert.deepEqual(Object.keys(da).sort(),
    ['device_code', 'expires_in', 'user_code', 'verification_uri', 'verification_uri_complete']);
  assert.equal(da.verification_uri, `${idp.url}/device`);
  assert.equal(da.verification_uri_complete, `${idp.url}/device?user_code=${da.user_code}`);
  assert.equal(da.expires_in, 600);
  assert.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  const list = await idp.ctlOk('GET', '/device');
  const mine = list.find((d) => d.user_code === da.user_code);
  assert.deepEqual({ ...mine, expires_at: undefined, account_id: undefined }, {
    user_code: da.user_code, client_id: 'device-app', status: 'pending', scope: 'openid offline_access profile',
    expires_at: undefined, account_id: undefined,
  });
});

test('verification page hops: /device -> /oidc/device -> /device with the xsrf cookie (§2.3)', async () => {
  const b = idp.browser();
  const r1 = await b.request('GET', '/device');
  assert.equal(r1.status, 302);
  assert.equal(r1.location, '/oidc/device');
  const r1q = await idp.browser().request('GET', '/device?user_code=ABCD-EFGH');
  assert.equal(r1q.location, '/oidc/device?user_code=ABCD-EFGH');
  const r2 = await b.request('GET', '/oidc/device');
  assert.equal(r2.status, 302);
  assert.equal(r2.location, '/device');
  assert.ok(b.cookie('_logto_device_flow_xsrf'));
  const xsrfCookie = r2.headers['set-cookie'].find((c) => c.startsWith('_logto_device_flow_xsrf='));
  assert.match(xsrfCookie, /path=\/device/);
  assert.doesNotMatch(xsrfCookie, /httponly/i);
  assert.ok(r2.headers['set-cookie'].some((c) => c.startsWith('_session=')));
  const r3 = await b.request('GET', '/device');
  assert.equal(r3.status, 200);
  // A wrong code comes back to the SPA with the error name.
  const bad = await b.request('POST', '/oidc/device', {
    form: { confirm: 'yes', user_code: 'BBBB-BBBB', xsrf: b.cookie('_logto_device_flow_xsrf') },
  });
  assert.equal(bad.status, 302);
  assert.equal(bad.location, '/device?input_code=BBBB-BBBB&error=NotFoundError');
  b.close();
});

test('polling: authorization_pending, approval, tokens, second poll invalid_grant and grant revoked', async () => {
  const da = await deviceAuth(idp, { scope: 'openid offline_access profile email roles custom_data identities' });
  const pending = await poll(idp, da.device_code);
  assert.equal(pending.status, 400);
  assert.equal(pending.json.error, 'authorization_pending');
  assert.equal(pending.json.code, 'oidc.authorization_pending');
  assert.equal(pending.json.message, 'An OIDC error occurred: oidc.authorization_pending.');

  await idp.ctlOk('POST', '/device/approve', { user_code: da.user_code, username: 'alice' });
  assert.equal((await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code).status, 'approved');

  const ok = await poll(idp, da.device_code);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(Object.keys(ok.json).sort(),
    ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  assert.equal(ok.json.expires_in, 3600);
  assert.equal(ok.json.token_type, 'Bearer');
  assert.equal(ok.json.scope, 'openid offline_access profile email roles custom_data identities');
  assert.equal(ok.json.access_token.split('.').length, 1, 'opaque access token');

  // ID token: ES384, no typ, no at_hash; Logto claim formats (§4.2).
  const jwks = (await idp.req('GET', '/oidc/jwks')).json;
  const { payload, protectedHeader } = await jwtVerify(ok.json.id_token, createLocalJWKSet(jwks),
    { issuer: idp.issuer, audience: 'device-app' });
  assert.deepEqual(Object.keys(protectedHeader).sort(), ['alg', 'kid']);
  assert.equal(protectedHeader.alg, 'ES384');
  assert.equal(payload.at_hash, undefined);
  assert.equal(payload.sub, 'e738g7numf03');
  assert.match(payload.sub, /^[0-9a-z]{12}$/);
  assert.equal(payload.username, 'alice');
  assert.equal(payload.preferred_username, 'alice');
  assert.equal(payload.name, 'Alice Liddell');
  assert.equal(payload.picture, null);
  assert.ok(payload.created_at > 1e12, 'created_at in ms');
  assert.ok(payload.updated_at > 1e12, 'updated_at in ms');
  assert.equal(payload.email, 'alice@example.com');
  assert.equal(payload.email_verified, true);
  assert.deepEqual(payload.roles, ['admin']);
  assert.equal(payload.custom_data, undefined, 'custom_data never in the ID token');
  assert.equal(payload.identities, undefined, 'identities never in the ID token');
  assert.equal(payload.organizations, undefined);

  // Userinfo: every claim of the granted scopes, custom_data and identities included.
  const me = await userinfo(idp, ok.json.access_token);
  assert.equal(me.status, 200);
  assert.deepEqual(me.json.custom_data, { department: 'engineering', loginShell: '/bin/bash' });
  assert.deepEqual(me.json.identities, {});
  assert.deepEqual(me.json.sso_identities, []);
  assert.deepEqual(me.json.roles, ['admin']);
  assert.equal(me.json.sub, payload.sub);

  const grantsBefore = await idp.ctlOk('GET', '/users/alice/grants');
  assert.ok(grantsBefore.active >= 1);

  // Polling again after success: invalid_grant, and the whole grant is revoked.
  const again = await poll(idp, da.device_code);
  assert.equal(again.status, 400);
  assert.equal(again.json.error, 'invalid_grant');
  const rt = await refresh(idp, ok.json.refresh_token);
  assert.equal(rt.status, 400);
  assert.equal(rt.json.error, 'invalid_grant');
  const dead = await userinfo(idp, ok.json.access_token);
  assert.equal(dead.status, 401);
  assert.equal((await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code), undefined);
});

test('offline_access gives a refresh token without prompt=consent; without it no refresh token', async () => {
  const with_ = await deviceLogin(idp, 'bob', { scope: 'openid offline_access' });
  assert.ok(with_.refresh_token);
  const without = await deviceLogin(idp, 'bob', { scope: 'openid profile' });
  assert.equal(without.refresh_token, undefined);
  assert.ok(without.id_token);
});

test('deny: the next poll returns access_denied', async () => {
  const da = await deviceAuth(idp);
  await idp.ctlOk('POST', '/device/deny', { user_code: da.user_code });
  assert.equal((await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code).status, 'denied');
  const r = await poll(idp, da.device_code);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'access_denied');
  assert.equal(r.json.error_description, 'End-User aborted interaction');
  const again = await poll(idp, da.device_code);
  assert.equal(again.json.error, 'invalid_grant');
});

test('expire: the next poll returns expired_token; approving it fails', async () => {
  const da = await deviceAuth(idp);
  await idp.ctlOk('POST', '/device/expire', { user_code: da.user_code });
  assert.equal((await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code).status, 'expired');
  const r = await poll(idp, da.device_code);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'expired_token');
  const ap = await idp.ctl('POST', '/device/approve', { user_code: da.user_code, username: 'alice' });
  assert.equal(ap.status, 409);
  assert.equal(ap.json.hop, 'POST /oidc/device');
  assert.match(ap.json.error, /ExpiredError/);
});

test('an approved code that expires before the poll answers expired_token', async () => {
  const da = await deviceAuth(idp);
  await idp.ctlOk('POST', '/device/approve', { user_code: da.user_code, username: 'alice' });
  await idp.ctlOk('POST', '/device/expire', { user_code: da.user_code });
  assert.equal((await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code).status, 'expired');
  assert.equal((await poll(idp, da.device_code)).json.error, 'expired_token');
});

test('device codes expire by themselves after --device-ttl', async () => {
  const short = await startIdp({ args: ['--device-ttl', '3'] });
  try {
    const da = await deviceAuth(short);
    assert.equal(da.expires_in, 3);
    assert.equal((await poll(short, da.device_code)).json.error, 'authorization_pending');
    await sleep(3200);
    assert.equal((await short.ctlOk('GET', '/device'))[0].status, 'expired');
    const r = await poll(short, da.device_code);
    assert.equal(r.json.error, 'expired_token');
  } finally {
    await short.stop();
  }
});

test('approve as another user than intended: tokens are that user\'s (wrong-user scenario)', async () => {
  const s = await deviceLogin(idp, 'bob', { scope: 'openid profile' });
  assert.equal(decodeJwt(s.id_token).payload.username, 'bob');
  assert.equal(decodeJwt(s.id_token).payload.sub, 'cnicb7t6a00l');
});

test('approve: email-only user, upper-case username, TOTP user, suspended user', async () => {
  const frank = await deviceLogin(idp, 'frank@example.com', { scope: 'openid profile email' });
  const fp = decodeJwt(frank.id_token).payload;
  assert.equal(fp.username, null);
  assert.equal(fp.name, null);
  assert.equal(fp.preferred_username, undefined);
  assert.equal(fp.email, 'frank@example.com');
  const grace = await deviceLogin(idp, 'Grace_Hopper', { scope: 'openid profile' });
  assert.equal(decodeJwt(grace.id_token).payload.username, 'Grace_Hopper');
  const dave = await deviceLogin(idp, 'dave', { scope: 'openid profile' });
  assert.equal(decodeJwt(dave.id_token).payload.username, 'dave');
  // A second TOTP login right away still works (the next time step's code is used).
  const dave2 = await deviceLogin(idp, 'dave', { scope: 'openid' });
  assert.ok(dave2.id_token);

  const da = await deviceAuth(idp);
  const r = await idp.ctl('POST', '/device/approve', { user_code: da.user_code, username: 'carol' });
  assert.equal(r.status, 409);
  assert.equal(r.json.ok, false);
  assert.equal(r.json.hop, 'POST /api/experience/verification/password');
  assert.equal(r.json.status, 401);
  assert.equal(r.json.body.code, 'user.suspended');
  const unknown = await idp.ctl('POST', '/device/approve', { user_code: 'ZZZZ-ZZZZ', username: 'alice' });
  assert.equal(unknown.status, 404);
});

test('organization scopes need resource=urn:logto:resource:organizations', async () => {
  const scope = 'openid profile urn:logto:scope:organizations urn:logto:scope:organization_roles';
  const plain = await deviceLogin(idp, 'alice', { scope });
  const p = decodeJwt(plain.id_token).payload;
  assert.equal(p.organizations, undefined);
  assert.equal(p.organization_roles, undefined);
  assert.equal(plain.scope, 'openid profile');
  const me0 = await userinfo(idp, plain.access_token);
  assert.equal(me0.json.organizations, undefined);

  const org = await deviceLogin(idp, 'alice', { scope, resource: 'urn:logto:resource:organizations' });
  const q = decodeJwt(org.id_token).payload;
  assert.deepEqual(q.organizations, [ORG_ACME]);
  assert.deepEqual(q.organization_roles, [`${ORG_ACME}:member`]);
  assert.equal(q.organization_data, undefined, 'organization_data is userinfo-only by default');
  const me = await userinfo(idp, org.access_token);
  assert.equal(me.status, 200);
  assert.deepEqual(me.json.organization_data, [{ id: ORG_ACME, name: 'Acme Corp', description: 'The Acme organization' }]);

  // Real Logto core does not gate these scopes; the switch reproduces that.
  await idp.ctlOk('POST', '/settings', { org_scopes_require_resource: false });
  try {
    const open = await deviceLogin(idp, 'alice', { scope });
    assert.deepEqual(decodeJwt(open.id_token).payload.organizations, [ORG_ACME]);
  } finally {
    await idp.ctlOk('POST', '/settings', { org_scopes_require_resource: true });
  }
});

test('resource access tokens are at+jwt (ES384) and rejected by userinfo', async () => {
  const s = await deviceLogin(idp, 'alice', {
    scope: 'openid offline_access read write', resource: 'https://api.example.com',
  });
  const r = await refresh(idp, s.refresh_token, { resource: 'https://api.example.com' });
  assert.equal(r.status, 200, r.text);
  const { header, payload } = decodeJwt(r.json.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.alg, 'ES384');
  assert.equal(payload.aud, 'https://api.example.com');
  assert.equal(payload.iss, idp.issuer);
  assert.equal(payload.client_id, 'device-app');
  assert.equal(payload.scope, 'read write');
  const me = await userinfo(idp, r.json.access_token);
  assert.equal(me.status, 401);
  assert.equal(me.json.error, 'invalid_token');
  assert.match(me.headers['www-authenticate'], /error="invalid_token"/);
});

test('suspension revokes tokens and refresh answers invalid_grant', async () => {
  await idp.ctlOk('POST', '/users', { username: 'temp_user', password: 'temp-pass-1', email: 'temp@example.com' });
  try {
    const s = await deviceLogin(idp, 'temp_user', { scope: 'openid offline_access' });
    assert.equal((await idp.ctlOk('GET', '/users/temp_user/grants')).active, 1);
    await idp.ctlOk('PATCH', '/users/temp_user', { suspended: true });
    assert.equal((await idp.ctlOk('GET', '/users/temp_user/grants')).active, 0);
    const r = await refresh(idp, s.refresh_token);
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
  } finally {
    await idp.ctlOk('DELETE', '/users/temp_user');
  }
});

// Logto 1.42 PATCH /api/users/{id}/is-suspended calls signOutUser (logto-real-1.42.md D11).
test('Management API is-suspended: suspending revokes every grant, unsuspending revives none', async () => {
  await idp.ctlOk('POST', '/users', { username: 'susp_user', password: 'susp-pass-1', email: 'susp@example.com' });
  try {
    const { id } = await idp.ctlOk('GET', '/users/susp_user');
    const token = (await m2mToken(idp)).json.access_token;
    const s1 = await deviceLogin(idp, 'susp_user', { scope: 'openid offline_access' });
    const s2 = await deviceLogin(idp, 'susp_user', { scope: 'openid offline_access' });
    assert.equal((await idp.ctlOk('GET', '/users/susp_user/grants')).active, 2);
    const bad = await mgmt(idp, 'PATCH', `/api/users/${id}/is-suspended`, { token, json: { isSuspended: 'yes' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'guard.invalid_input');
    assert.equal((await idp.ctlOk('GET', '/users/susp_user/grants')).active, 2);
    const r = await mgmt(idp, 'PATCH', `/api/users/${id}/is-suspended`, { token, json: { isSuspended: true } });
    assert.equal(r.status, 200);
    assert.equal(r.json.id, id);
    assert.equal(r.json.isSuspended, true);
    assert.equal(r.json.hasPassword, true);
    assert.equal((await idp.ctlOk('GET', '/users/susp_user')).suspended, true);
    assert.deepEqual((await idp.ctlOk('GET', '/users/susp_user/grants')),
      { active: 0, grants: 0, refresh_tokens: 0, access_tokens: 0 });
    const me = await userinfo(idp, s2.access_token);
    assert.equal(me.status, 401);
    const un = await mgmt(idp, 'PATCH', `/api/users/${id}/is-suspended`, { token, json: { isSuspended: false } });
    assert.equal(un.status, 200);
    assert.equal(un.json.isSuspended, false);
    for (const s of [s1, s2]) {
      const rr = await refresh(idp, s.refresh_token);
      assert.equal(rr.status, 400);
      assert.equal(rr.json.error, 'invalid_grant');
    }
    const missing = await mgmt(idp, 'PATCH', '/api/users/nosuchuser01/is-suspended', { token, json: { isSuspended: true } });
    assert.equal(missing.status, 404);
  } finally {
    await idp.ctlOk('DELETE', '/users/susp_user');
  }
});

// ---- a user without an e-mail (issue 14.6, logto-real-1.42.md D11) ----
test('a user without an e-mail: email null and email_verified false, present in the ID token', async () => {
  await idp.ctlOk('POST', '/users', { username: 'noemail', password: 'noemail-pass-1' });
  try {
    const s = await deviceLogin(idp, 'noemail', { scope: 'openid offline_access profile email' });
    const { payload } = decodeJwt(s.id_token);
    assert.ok('email' in payload && payload.email === null, JSON.stringify(payload));
    assert.equal(payload.email_verified, false);
  } finally {
    await idp.ctlOk('DELETE', '/users/noemail');
  }
});
