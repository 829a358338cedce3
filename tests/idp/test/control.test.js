// Control API contract (tests/idp/README.md): every endpoint, input validation, /down and /up, stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  startIdp, deviceLogin, decodeJwt, request, userinfo, control, experienceLogin, refresh,
} from './helpers.js';
import { matchStep } from '../lib/totp.js';

let idp;
before(async () => { idp = await startIdp({ args: ['--refresh-reuse-leeway', '0'] }); });
after(async () => { await idp?.stop(); });

test('GET /health; unknown route 404; invalid JSON 400', async () => {
  assert.deepEqual(await idp.ctlOk('GET', '/health'), { ok: true, profile: 'logto', up: true });
  const nf = await idp.ctl('GET', '/nope');
  assert.equal(nf.status, 404);
  const bad = await new Promise((resolve, reject) => {
    import('node:http').then(({ default: http }) => {
      const req = http.request(new URL('/users', idp.control), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end('{nope');
    });
  });
  assert.equal(bad, 400);
});

test('ready file: url, issuer, control, pid', async () => {
  assert.match(idp.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(idp.issuer, `${idp.url}/oidc`);
  assert.match(idp.control, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(idp.pid, idp.proc.pid);
});

test('GET /users/:username: full record (username, id or email as key)', async () => {
  const a = await idp.ctlOk('GET', '/users/alice');
  assert.deepEqual(Object.keys(a).sort(), ['created_at', 'custom_data', 'email', 'groups', 'id', 'last_sign_in_at',
    'mfa_skipped', 'name', 'organizations', 'password', 'phone', 'roles', 'sub', 'suspended', 'totp', 'updated_at',
    'username'].sort());
  assert.equal(a.id, 'e738g7numf03');
  assert.equal(a.sub, a.id);
  assert.deepEqual(a.roles, ['admin']);
  assert.deepEqual(a.organizations, [{ id: 'pbl95zlwkzx4', name: 'Acme Corp', roles: ['member'] }]);
  assert.equal(a.suspended, false);
  assert.equal(a.custom_data.uidNumber, undefined);
  assert.equal((await idp.ctlOk('GET', '/users/e738g7numf03')).username, 'alice');
  assert.equal((await idp.ctlOk('GET', '/users/frank@example.com')).id, 'bieqqr5zcavw');
  assert.equal((await idp.ctlOk('GET', '/users/carol')).suspended, true);
  assert.equal((await idp.ctlOk('GET', '/users/dave')).totp, true);
  assert.equal((await idp.ctlOk('GET', '/users/erin')).custom_data.uidNumber, 70001);
  assert.equal((await idp.ctl('GET', '/users/nobody')).status, 404);
  assert.equal((await idp.ctlOk('GET', '/users')).length, 8);
});

test('POST /users, PATCH (every field), DELETE', async () => {
  const created = await idp.ctl('POST', '/users', {
    username: 'ctl_user', password: 'ctl-pass-1', email: 'ctl@example.com', name: 'Ctl User',
    roles: ['developer'], organizations: [{ id: 'qmmg1gvtd5ib', roles: ['member'] }], custom_data: { k: 'v' },
  });
  assert.equal(created.status, 201);
  assert.match(created.json.id, /^[0-9a-z]{12}$/);
  assert.deepEqual(created.json.roles, ['developer']);
  assert.equal((await idp.ctl('POST', '/users', { username: 'ctl_user' })).status, 409, 'usernames are unique');
  // Logto's default username policy is case-sensitive: a case-only duplicate is another user.
  const upper = await idp.ctl('POST', '/users', { username: 'CTL_USER' });
  assert.equal(upper.status, 201, 'case-only duplicates exist with case-sensitive usernames');
  assert.notEqual(upper.json.id, created.json.id);
  assert.equal((await idp.ctlOk('GET', '/users/CTL_USER')).id, upper.json.id, 'the control API finds the exact one');
  assert.equal((await idp.ctlOk('GET', '/users/ctl_user')).id, created.json.id);
  await idp.ctlOk('DELETE', '/users/CTL_USER');
  await idp.ctlOk('POST', '/settings', { username_case_sensitive: false });
  assert.equal((await idp.ctl('POST', '/users', { username: 'CTL_USER' })).status, 409, 'unique ignoring case without the policy');
  await idp.ctlOk('POST', '/settings', { username_case_sensitive: true });
  assert.equal((await idp.ctl('POST', '/users', { username: '1bad' })).status, 400);
  assert.equal((await idp.ctl('POST', '/users', { username: 'has-dash' })).status, 400);
  assert.equal((await idp.ctl('POST', '/users', { username: 'x', roles: ['nope'] })).status, 400);
  assert.equal((await idp.ctl('POST', '/users', {})).status, 400);

  const s = await deviceLogin(idp, 'ctl_user', { scope: 'openid profile roles offline_access' });
  assert.deepEqual(decodeJwt(s.id_token).payload.roles, ['developer']);

  const p = await idp.ctlOk('PATCH', '/users/ctl_user', {
    roles: ['admin', 'auditor'], organizations: [], name: 'Renamed', email: 'renamed@example.com',
    custom_data: { uidNumber: 75000 }, password: 'new-pass-2', username: 'ctl_user2',
  });
  assert.deepEqual(p.roles, ['admin', 'auditor']);
  assert.deepEqual(p.organizations, []);
  assert.equal(p.username, 'ctl_user2');
  assert.equal(p.email, 'renamed@example.com');
  assert.ok(p.updated_at >= created.json.updated_at);
  const s2 = await deviceLogin(idp, 'ctl_user2', { scope: 'openid profile roles custom_data' });
  const claims = decodeJwt(s2.id_token).payload;
  assert.deepEqual(claims.roles, ['admin', 'auditor']);
  assert.equal(claims.name, 'Renamed');
  assert.equal((await userinfo(idp, s2.access_token)).json.custom_data.uidNumber, 75000);
  assert.equal((await idp.ctl('PATCH', '/users/ctl_user2', { bogus: 1 })).status, 400);
  assert.equal((await idp.ctl('PATCH', '/users/ctl_user2', { totp_secret: 'short' })).status, 400);
  const t = await idp.ctlOk('PATCH', '/users/ctl_user2', { totp_secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ' });
  assert.equal(t.totp, true);
  assert.equal((await idp.ctlOk('PATCH', '/users/ctl_user2', { totp_secret: null })).totp, false);

  assert.deepEqual(await idp.ctlOk('DELETE', '/users/ctl_user2'), { ok: true });
  assert.equal((await idp.ctl('GET', '/users/ctl_user2')).status, 404);
  assert.equal((await idp.ctl('DELETE', '/users/ctl_user2')).status, 404);
});

test('GET /users/:username/totp gives a code the IdP accepts', async () => {
  const { code, step } = await idp.ctlOk('GET', '/users/dave/totp');
  assert.match(code, /^\d{6}$/);
  assert.ok(Number.isInteger(step));
  assert.ok(matchStep('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', code) !== undefined);
  assert.equal((await idp.ctl('GET', '/users/alice/totp')).status, 404);
});

test('POST /users/:username/pats and /unlock; GET /grants', async () => {
  const pat = await idp.ctl('POST', '/users/bob/pats', { name: 'ci', expires_at: null });
  assert.equal(pat.status, 201);
  assert.match(pat.json.value, /^pat_[0-9A-Za-z]{32}$/);
  assert.equal(pat.json.expires_at, null);
  assert.equal((await idp.ctl('POST', '/users/bob/pats', { name: 'ci' })).status, 409);
  assert.equal((await idp.ctl('POST', '/users/bob/pats', {})).status, 400);
  assert.equal((await idp.ctl('POST', '/users/bob/pats', { name: 'x', expires_at: 'soon' })).status, 400);
  assert.deepEqual(await idp.ctlOk('POST', '/users/bob/unlock'), { ok: true });
  const g = await idp.ctlOk('GET', '/users/bob/grants');
  assert.deepEqual(Object.keys(g).sort(), ['access_tokens', 'active', 'grants', 'refresh_tokens']);
});

test('roles and organizations: create, use, delete', async () => {
  const r = await idp.ctl('POST', '/roles', { name: 'ops', description: 'Operators' });
  assert.equal(r.status, 201);
  assert.match(r.json.id, /^[0-9a-z]{21}$/);
  assert.equal((await idp.ctl('POST', '/roles', { name: 'ops' })).status, 409);
  const o = await idp.ctl('POST', '/organizations', { name: 'Initech', description: 'TPS reports' });
  assert.equal(o.status, 201);
  assert.match(o.json.id, /^[0-9a-z]{12}$/);
  const o2 = await idp.ctlOk('POST', '/organizations', { id: 'initech00002', name: 'Initech 2' });
  assert.equal(o2.id, 'initech00002');
  assert.equal((await idp.ctl('POST', '/organizations', { id: 'BAD ID', name: 'x' })).status, 400);
  await idp.ctlOk('PATCH', '/users/bob', { roles: ['developer', 'ops'], organizations: [{ id: o.json.id, roles: ['admin'] }] });
  const s = await deviceLogin(idp, 'bob', {
    scope: 'openid roles urn:logto:scope:organizations urn:logto:scope:organization_roles',
    resource: 'urn:logto:resource:organizations',
  });
  const c = decodeJwt(s.id_token).payload;
  assert.deepEqual(c.roles.sort(), ['developer', 'ops']);
  assert.deepEqual(c.organizations, [o.json.id]);
  assert.deepEqual(c.organization_roles, [`${o.json.id}:admin`]);
  // An organization role with permissions: they make the organization token's scope.
  assert.equal((await idp.ctl('POST', '/organization-roles', { name: 'x', scopes: ['no:such'] })).status, 400);
  const viewer = await idp.ctl('POST', '/organization-roles', { name: 'viewer', scopes: ['manage:org'] });
  assert.equal(viewer.status, 201, viewer.text);
  await idp.ctlOk('PATCH', '/users/bob', { organizations: [{ id: o.json.id, roles: ['viewer'] }] });
  const t = await deviceLogin(idp, 'bob', {
    scope: 'openid offline_access urn:logto:scope:organizations read:org manage:org',
    resource: 'urn:logto:resource:organizations',
  });
  const ot = await refresh(idp, t.refresh_token, { extra: { organization_id: o.json.id } });
  assert.equal(ot.status, 200, ot.text);
  assert.equal(decodeJwt(ot.json.access_token).payload.scope, 'manage:org');
  await idp.ctlOk('DELETE', '/roles/ops');
  await idp.ctlOk('DELETE', `/organizations/${o.json.id}`);
  await idp.ctlOk('DELETE', '/organizations/initech00002');
  const bob = await idp.ctlOk('GET', '/users/bob');
  assert.deepEqual(bob.roles, ['developer']);
  assert.deepEqual(bob.organizations, []);
  assert.equal((await idp.ctl('DELETE', '/roles/ops')).status, 404);
  assert.equal((await idp.ctl('DELETE', '/organizations/nope')).status, 404);
  await idp.ctlOk('PATCH', '/users/bob', { organizations: [{ id: 'qmmg1gvtd5ib', roles: ['member', 'admin'] }] });
});

test('GET /keys and POST /keys/rotate', async () => {
  const k = await idp.ctlOk('GET', '/keys');
  assert.equal(k.length, 1);
  assert.deepEqual(Object.keys(k[0]).sort(), ['alg', 'createdAt', 'kid', 'state', 'type']);
  assert.equal(k[0].type, 'EC');
  assert.equal(k[0].alg, 'ES384');
});

test('JWKS after a rotation to RSA: the EC entry keeps alg/use, the RSA entry has no alg (Logto 1.42)', async () => {
  const other = await startIdp();
  try {
    await other.ctlOk('POST', '/keys/rotate', { type: 'RSA' });
    const keys = (await other.req('GET', '/oidc/jwks')).json.keys;
    const rsa = keys.find((k) => k.kty === 'RSA');
    const ec = keys.find((k) => k.kty === 'EC');
    assert.equal(rsa.alg, undefined);
    assert.equal(ec.alg, 'ES384');
    assert.equal(ec.use, 'sig');
  } finally {
    await other.stop();
  }
});

test('POST /settings validates input and returns all settings', async () => {
  const s = await idp.ctlOk('GET', '/settings');
  assert.deepEqual(s, {
    captcha: false, max_attempts: 5, lockout_seconds: 3600, username_case_sensitive: true,
    org_scopes_require_resource: true, jwks_alg_use: true, refresh_reuse_leeway: 0, device_interval: 5,
    mfa_factors: [], mfa_policy: 'UserControlled', password_sign_in: ['username', 'email', 'phone'],
    allow_token_exchange: true, password_grant_listed: true, device_grant_listed: true, password_grant: true,
    bare_token_errors: false, revocation_public: 'allow',
  });
  assert.equal((await idp.ctl('POST', '/settings', { mfa_policy: 'Sometimes' })).status, 400);
  assert.equal((await idp.ctl('POST', '/settings', { mfa_factors: ['Sms'] })).status, 400);
  assert.equal((await idp.ctl('POST', '/settings', { allow_token_exchange: 'no' })).status, 400);
  assert.equal((await idp.ctl('POST', '/settings', { captcha: 'yes' })).status, 400);
  assert.equal((await idp.ctl('POST', '/settings', { nope: true })).status, 400);
  assert.equal((await idp.ctl('POST', '/settings', { max_attempts: 0 })).status, 400);
  const k = (await idp.req('GET', '/oidc/jwks')).json.keys[0];
  assert.equal(k.alg, 'ES384');
  assert.equal(k.use, 'sig');
  await idp.ctlOk('POST', '/settings', { jwks_alg_use: false });
  const bare = (await idp.req('GET', '/oidc/jwks')).json.keys[0];
  assert.equal(bare.alg, undefined);
  assert.equal(bare.use, undefined);
  await idp.ctlOk('POST', '/settings', { jwks_alg_use: true });
  await idp.ctlOk('POST', '/settings', { username_case_sensitive: false });
  const lower = await experienceLogin(idp, { identifier: { type: 'username', value: 'grace_hopper' }, password: 'grace-pass-1' });
  assert.ok(lower.code, JSON.stringify(lower.failed?.json));
  await idp.ctlOk('POST', '/settings', { username_case_sensitive: true });
  const strict = await experienceLogin(idp, { identifier: { type: 'username', value: 'grace_hopper' }, password: 'grace-pass-1' });
  assert.equal(strict.failed.status, 422);
});

test('faults: validation, listing, DELETE', async () => {
  assert.equal((await idp.ctl('POST', '/faults', { endpoint: 'nope', fault: 'reset' })).status, 400);
  assert.equal((await idp.ctl('POST', '/faults', { endpoint: 'jwks', fault: 'nope' })).status, 400);
  assert.equal((await idp.ctl('POST', '/faults', { endpoint: 'jwks', fault: 'http500', count: 0 })).status, 400);
  const f = await idp.ctl('POST', '/faults', { endpoint: 'jwks', fault: 'http500', count: 2 });
  assert.equal(f.status, 201);
  assert.deepEqual(await idp.ctlOk('GET', '/faults'), [{ id: f.json.id, endpoint: 'jwks', fault: 'http500', remaining: 2 }]);
  await idp.ctlOk('DELETE', '/faults');
  assert.deepEqual(await idp.ctlOk('GET', '/faults'), []);
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 200);
});

test('stats count main-listener requests by route; reset', async () => {
  await idp.ctlOk('POST', '/stats/reset');
  assert.deepEqual(await idp.ctlOk('GET', '/stats'), { total: 0, by_route: {}, relay: 0, bytes_in: 0, bytes_out: 0, relay_bytes_in: 0, relay_bytes_out: 0 });
  await idp.req('GET', '/oidc/jwks');
  await idp.req('GET', '/oidc/jwks');
  await idp.req('GET', '/api/users/e738g7numf03/roles');
  await idp.req('GET', '/oidc/.well-known/openid-configuration');
  const s = await idp.ctlOk('GET', '/stats');
  assert.equal(s.total, 4);
  assert.deepEqual(s.by_route, {
    'GET /oidc/jwks': 2, 'GET /api/users/:id/roles': 1, 'GET /oidc/.well-known/openid-configuration': 1,
  });
  // Device approval hops made by the control API are not counted.
  await idp.ctlOk('POST', '/stats/reset');
  await deviceLogin(idp, 'alice', { scope: 'openid' });
  assert.deepEqual((await idp.ctlOk('GET', '/stats')).by_route, { 'POST /oidc/device/auth': 1, 'POST /oidc/token': 1 });
});

test('POST /down: connection refused on the same port; POST /up: back on the same port; state kept', async () => {
  const s = await deviceLogin(idp, 'alice', { scope: 'openid offline_access' });
  const down = await idp.ctlOk('POST', '/down');
  assert.deepEqual(down, { ok: true, up: false });
  await assert.rejects(request('GET', new URL('/oidc/jwks', idp.url), { ca: idp.ca }), { code: 'ECONNREFUSED' });
  assert.equal((await idp.ctlOk('GET', '/health')).up, false);
  const da = await idp.req('POST', '/oidc/device/auth', { form: { client_id: 'device-app' } }).catch((e) => e);
  assert.equal(da.code, 'ECONNREFUSED');
  const up = await idp.ctlOk('POST', '/up');
  assert.equal(up.url, idp.url);
  assert.equal((await idp.req('GET', '/oidc/jwks')).status, 200);
  const r = await idp.req('POST', '/oidc/token', { form: { grant_type: 'refresh_token', client_id: 'device-app', refresh_token: s.refresh_token } });
  assert.equal(r.status, 200, 'grants survive a down/up cycle');
  assert.deepEqual(await idp.ctlOk('POST', '/up'), { ok: true, up: true, url: idp.url });
});

test('SIGTERM stops the server and removes nothing it does not own', async () => {
  const t = await startIdp();
  const ready = JSON.parse(readFileSync(`${t.dir}/ready.json`, 'utf8'));
  assert.equal(ready.pid, t.proc.pid);
  await t.stop();
  assert.equal(t.proc.exitCode, 0);
  await assert.rejects(control(t.control, 'GET', '/health'), { code: 'ECONNREFUSED' });
});
