// Logto profile: refresh token rotation and reuse detection, revocation (logto-protocol.md §4.3, §4.5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  startIdp, deviceAuth, poll, deviceLogin, refresh, userinfo, decodeJwt, sleep,
} from './helpers.js';

let idp;
before(async () => { idp = await startIdp({ args: ['--refresh-reuse-leeway', '0'] }); });
after(async () => { await idp?.stop(); });

test('public clients: the refresh token rotates on every use', async () => {
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access profile' });
  const r1 = await refresh(idp, s.refresh_token);
  assert.equal(r1.status, 200, r1.text);
  assert.deepEqual(Object.keys(r1.json).sort(),
    ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  assert.notEqual(r1.json.refresh_token, s.refresh_token);
  assert.equal(decodeJwt(r1.json.id_token).payload.sub, 'e738g7numf03');
  const r2 = await refresh(idp, r1.json.refresh_token);
  assert.equal(r2.status, 200);
  assert.notEqual(r2.json.refresh_token, r1.json.refresh_token);
  assert.equal((await userinfo(idp, r2.json.access_token)).status, 200);
});

test('reuse of a consumed refresh token: invalid_grant and the whole grant is revoked', async () => {
  const s = await deviceLogin(idp, 'bob', { scope: 'openid offline_access profile' });
  const r1 = await refresh(idp, s.refresh_token);
  assert.equal(r1.status, 200);
  const before0 = await idp.ctlOk('GET', '/users/bob/grants');
  assert.ok(before0.active >= 1);
  const reuse = await refresh(idp, s.refresh_token);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.json.error, 'invalid_grant');
  assert.equal(reuse.json.error_uri, 'https://openid.sh/debug/invalid_grant');
  const newest = await refresh(idp, r1.json.refresh_token);
  assert.equal(newest.status, 400, 'the newest refresh token died with the grant');
  assert.equal(newest.json.error, 'invalid_grant');
  assert.equal((await userinfo(idp, r1.json.access_token)).status, 401);
});

test('Logto\'s 3 s reuse leeway: a just-consumed token still works, later reuse kills the grant', async () => {
  const lax = await startIdp(); // default --refresh-reuse-leeway 3
  try {
    const s = await deviceLogin(lax, 'alice', { scope: 'openid offline_access' });
    const r1 = await refresh(lax, s.refresh_token);
    assert.equal(r1.status, 200);
    const again = await refresh(lax, s.refresh_token);
    assert.equal(again.status, 200, 'within 3 s the consumed token is still accepted');
    await sleep(3300);
    const late = await refresh(lax, s.refresh_token);
    assert.equal(late.status, 400);
    assert.equal(late.json.error, 'invalid_grant');
    assert.equal((await refresh(lax, again.json.refresh_token)).status, 400);
  } finally {
    await lax.stop();
  }
});

test('refresh with a narrower scope; a wider scope is invalid_scope', async () => {
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access profile email' });
  const narrow = await refresh(idp, s.refresh_token, { extra: { scope: 'openid offline_access' } });
  assert.equal(narrow.status, 200, narrow.text);
  assert.equal(narrow.json.scope, 'openid offline_access');
  const wide = await refresh(idp, narrow.json.refresh_token, { extra: { scope: 'openid offline_access roles' } });
  assert.equal(wide.status, 400);
  assert.equal(wide.json.error, 'invalid_scope');
});

test('refresh by another client is invalid_grant (client mismatch)', async () => {
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
  const r = await refresh(idp, s.refresh_token, { clientId: 'native-app' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_grant');
});

test('revoking the opaque access token revokes the grant (Logto 1.42.0); JWT ATs are unsupported_token_type', async () => {
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
  const rv = await idp.req('POST', '/oidc/token/revocation', { form: { client_id: 'device-app', token: s.access_token } });
  assert.equal(rv.status, 200);
  assert.equal((await refresh(idp, s.refresh_token)).status, 400);

  const s2 = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
  const rvRt = await idp.req('POST', '/oidc/token/revocation', { form: { client_id: 'device-app', token: s2.refresh_token } });
  assert.equal(rvRt.status, 200);
  assert.equal((await userinfo(idp, s2.access_token)).status, 401);

  const s3 = await deviceLogin(idp, 'alice', { scope: 'openid offline_access read', resource: 'https://api.example.com' });
  const jwt = await refresh(idp, s3.refresh_token, { resource: 'https://api.example.com' });
  const rvJwt = await idp.req('POST', '/oidc/token/revocation', { form: { client_id: 'device-app', token: jwt.json.access_token } });
  assert.equal(rvJwt.status, 400);
  assert.equal(rvJwt.json.error, 'unsupported_token_type');
});

test('refresh tokens expire after --refresh-ttl', async () => {
  const short = await startIdp({ args: ['--refresh-ttl', '1', '--access-ttl', '1'] });
  try {
    const s = await deviceLogin(short, 'alice', { scope: 'openid offline_access' });
    assert.equal(s.expires_in, 1);
    await sleep(1300);
    // (An expired access token is still accepted for oidc-provider's clockTolerance, 15 s,
    // as in Logto; refresh tokens expire exactly.)
    const r = await refresh(short, s.refresh_token);
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
  } finally {
    await short.stop();
  }
});

test('grants counter follows issuance and revocation', async () => {
  await idp.ctlOk('POST', '/users', { username: 'counter', password: 'counter-pass-1' });
  try {
    assert.equal((await idp.ctlOk('GET', '/users/counter/grants')).active, 0);
    const a = await deviceLogin(idp, 'counter', { scope: 'openid offline_access' });
    await deviceLogin(idp, 'counter', { scope: 'openid offline_access' });
    const g = await idp.ctlOk('GET', '/users/counter/grants');
    assert.equal(g.active, 2);
    assert.equal(g.refresh_tokens, 2);
    assert.equal(g.grants, 2);
    const r = await refresh(idp, a.refresh_token);
    assert.equal(r.status, 200);
    assert.equal((await idp.ctlOk('GET', '/users/counter/grants')).active, 2);
    await refresh(idp, a.refresh_token); // reuse -> revoke that grant
    assert.equal((await idp.ctlOk('GET', '/users/counter/grants')).active, 1);
    await idp.ctlOk('POST', '/users/counter/revoke');
    assert.equal((await idp.ctlOk('GET', '/users/counter/grants')).active, 0);
  } finally {
    await idp.ctlOk('DELETE', '/users/counter');
  }
});

// ---- organization token refusals (logto-real-1.42.md D7) ----
test('refresh_token + organization_id: 403 access_denied for non-members and MFA-required organizations; the refresh token survives', async () => {
  const s = await deviceLogin(idp, 'erin', { scope: 'openid offline_access urn:logto:scope:organizations', resource: 'urn:logto:resource:organizations' });
  const org = (id) => refresh(idp, s.refresh_token, { extra: { organization_id: id } });
  const notMember = await org('qmmg1gvtd5ib');
  assert.equal(notMember.status, 403);
  assert.equal(notMember.json.error, 'access_denied');
  assert.equal(notMember.json.error_description, 'user is not a member of the organization');
  assert.equal(notMember.json.code, 'oidc.access_denied');
  await idp.ctlOk('PATCH', '/organizations/pbl95zlwkzx4', { is_mfa_required: true });
  try {
    const mfa = await org('pbl95zlwkzx4');
    assert.equal(mfa.status, 403);
    assert.equal(mfa.json.error_description, 'organization requires MFA but user has no MFA configured');
  } finally {
    await idp.ctlOk('PATCH', '/organizations/pbl95zlwkzx4', { is_mfa_required: false });
  }
  assert.equal((await idp.ctl('PATCH', '/organizations/pbl95zlwkzx4', { name: 'x' })).status, 400);
  const member = await org('pbl95zlwkzx4');
  assert.equal(member.status, 200, 'the refused requests did not consume the refresh token');
});

// Logto 1.42 oidc/grants/refresh-token.ts (logto-real-1.42.md "logtoctl token", D8).
test('refresh_token + organization_id for a member: JWT for urn:logto:organization:<id> with the organization-role permissions', async () => {
  const scope = 'openid offline_access urn:logto:scope:organizations read:org manage:org';
  const resource = 'urn:logto:resource:organizations';
  const bob = await deviceLogin(idp, 'bob', { scope, resource });
  const r = await refresh(idp, bob.refresh_token, { extra: { organization_id: 'qmmg1gvtd5ib' } });
  assert.equal(r.status, 200, r.text);
  assert.notEqual(r.json.refresh_token, bob.refresh_token);
  assert.equal(r.json.scope, 'read:org manage:org');
  const { header, payload } = decodeJwt(r.json.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.aud, 'urn:logto:organization:qmmg1gvtd5ib');
  assert.equal(payload.scope, 'read:org manage:org');
  assert.equal(payload.sub, 'cnicb7t6a00l');
  assert.equal(payload.client_id, 'device-app');
  assert.equal(payload.iss, idp.issuer);
  // A narrower scope parameter narrows the token.
  const narrow = await refresh(idp, r.json.refresh_token, { extra: { organization_id: 'qmmg1gvtd5ib', scope: 'read:org' } });
  assert.equal(narrow.status, 200, narrow.text);
  assert.equal(decodeJwt(narrow.json.access_token).payload.scope, 'read:org');
  // erin is a plain member of Acme: the role's permission only, whatever the token holds.
  const erin = await deviceLogin(idp, 'erin', { scope, resource });
  const e = await refresh(idp, erin.refresh_token, { extra: { organization_id: 'pbl95zlwkzx4' } });
  assert.equal(e.status, 200, e.text);
  assert.equal(decodeJwt(e.json.access_token).payload.aud, 'urn:logto:organization:pbl95zlwkzx4');
  assert.equal(decodeJwt(e.json.access_token).payload.scope, 'read:org');
  // Without organization_id the same grant answers an opaque token as before.
  const plain = await refresh(idp, e.json.refresh_token);
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.json.access_token.split('.').length, 1);
});

// logto-protocol.md 4.4: the refresh token must hold urn:logto:scope:organizations.
test('refresh_token + organization_id without the organizations scope: insufficient_scope, the token survives', async () => {
  const s = await deviceLogin(idp, 'bob', { scope: 'openid offline_access' });
  const r = await refresh(idp, s.refresh_token, { extra: { organization_id: 'qmmg1gvtd5ib' } });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.error, 'insufficient_scope');
  assert.equal(r.json.error_description, 'refresh token missing required scope');
  assert.equal((await refresh(idp, s.refresh_token)).status, 200);
});

// logto-protocol.md 4.4, logto-real-1.42.md "logtoctl token": organization_id + resource.
test('refresh_token + organization_id + resource: the API JWT with the claim organization_id, refused to non-members', async () => {
  const api = 'https://api.example.com';
  const bob = await deviceLogin(idp, 'bob', {
    scope: 'openid offline_access urn:logto:scope:organizations read',
    resource: ['urn:logto:resource:organizations', api],
  });
  const r = await refresh(idp, bob.refresh_token, { resource: api, extra: { organization_id: 'qmmg1gvtd5ib' } });
  assert.equal(r.status, 200, r.text);
  const { header, payload } = decodeJwt(r.json.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.aud, api);
  assert.equal(payload.organization_id, 'qmmg1gvtd5ib');
  assert.equal(payload.sub, 'cnicb7t6a00l');
  // The same resource without organization_id: no such claim.
  const plain = await refresh(idp, r.json.refresh_token, { resource: api });
  assert.equal(plain.status, 200, plain.text);
  const p2 = decodeJwt(plain.json.access_token).payload;
  assert.equal(p2.aud, api);
  assert.equal(p2.organization_id, undefined);
  // Not a member of Acme: 403 access_denied as for an organization token, the token survives.
  const denied = await refresh(idp, plain.json.refresh_token, { resource: api, extra: { organization_id: 'pbl95zlwkzx4' } });
  assert.equal(denied.status, 403, denied.text);
  assert.equal(denied.json.error, 'access_denied');
  assert.equal(denied.json.error_description, 'user is not a member of the organization');
  assert.equal((await refresh(idp, plain.json.refresh_token, { resource: api })).status, 200);
});

// ---- app-level access control (issue 14.4, logto-real-1.42.md D12) ----
test('app-level access control: refresh answers access_denied, the token survives', async () => {
  const s = await deviceLogin(idp, 'bob', { scope: 'openid offline_access' });
  await idp.ctlOk('PUT', '/apps/device-app/access-control', { roles: ['admin'] });
  try {
    const denied = await refresh(idp, s.refresh_token);
    assert.equal(denied.status, 400);
    assert.equal(denied.text, '{"error":"access_denied","error_description":"Access denied."}');
    assert.match(denied.headers['content-type'], /^application\/json/);
    // alice holds the role: her refresh goes through.
    const a = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
    assert.equal((await refresh(idp, a.refresh_token)).status, 200);
  } finally {
    await idp.ctlOk('DELETE', '/apps/device-app/access-control');
  }
  // Not revoked, not consumed: the same token refreshes once the control is lifted.
  const again = await refresh(idp, s.refresh_token);
  assert.equal(again.status, 200, again.text);
});

test('app-level access control: a device approval by a user without the role stalls at the consent page, the code stays pending', async () => {
  await idp.ctlOk('PUT', '/apps/device-app/access-control', { roles: ['admin'] });
  try {
    const da = await deviceAuth(idp, { scope: 'openid offline_access' });
    const r = await idp.ctl('POST', '/device/approve', { user_code: da.user_code, username: 'bob' });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.hop, 'GET /consent');
    assert.equal(r.json.status, 200);
    assert.match(r.json.error, /stopped at the consent page/);
    const row = (await idp.ctlOk('GET', '/device')).find((d) => d.user_code === da.user_code);
    assert.equal(row.status, 'pending');
    const p = await poll(idp, da.device_code);
    assert.equal(p.status, 400);
    assert.equal(p.json.error, 'authorization_pending');
    // alice holds the role: her approval goes through as usual.
    assert.ok((await deviceLogin(idp, 'alice', { scope: 'openid offline_access' })).refresh_token);
  } finally {
    await idp.ctlOk('DELETE', '/apps/device-app/access-control');
  }
  assert.ok((await deviceLogin(idp, 'bob', { scope: 'openid offline_access' })).refresh_token);
});

test('app-level access control: unknown client is 404, roles must be names', async () => {
  assert.equal((await idp.ctl('PUT', '/apps/nope/access-control', { roles: [] })).status, 404);
  assert.equal((await idp.ctl('PUT', '/apps/device-app/access-control', { roles: 'admin' })).status, 400);
});
