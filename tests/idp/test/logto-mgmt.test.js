// Logto profile: client credentials, Management API (logto-protocol.md §3.2, §5), PAT exchange (§3.4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  startIdp, m2mToken, mgmt, decodeJwt, userinfo, deviceLogin, TOKEN_EXCHANGE, PAT_TYPE,
} from './helpers.js';

const ALICE = 'e738g7numf03';
const CAROL = '5hlgypnhkh1y';
const ACME = 'pbl95zlwkzx4';
const GLOBEX = 'qmmg1gvtd5ib';
let idp;
let token;
before(async () => {
  idp = await startIdp();
  token = (await m2mToken(idp)).json.access_token;
});
after(async () => { await idp?.stop(); });

// ---- client credentials ----

test('client_credentials: JWT for the Management API (basic and post), resource mandatory', async () => {
  const basic = await m2mToken(idp);
  assert.equal(basic.status, 200, basic.text);
  assert.deepEqual(Object.keys(basic.json).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.equal(basic.json.scope, 'all');
  assert.equal(basic.json.expires_in, 3600);
  const { header, payload } = decodeJwt(basic.json.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.alg, 'ES384');
  assert.equal(payload.aud, 'https://default.logto.app/api');
  assert.equal(payload.sub, 'm2m-app');
  assert.equal(payload.client_id, 'm2m-app');
  assert.equal(payload.scope, 'all');
  assert.equal(payload.iss, idp.issuer);

  const post = await m2mToken(idp, { post: true });
  assert.equal(post.status, 200);

  const noResource = await m2mToken(idp, { resource: null });
  assert.equal(noResource.status, 400);
  assert.equal(noResource.json.error, 'invalid_target');
  assert.equal(noResource.json.error_description, 'both `resource` and `organization_id` are not provided');

  const unknown = await m2mToken(idp, { resource: 'https://nope.example.com' });
  assert.equal(unknown.json.error, 'invalid_target');

  const badSecret = await idp.req('POST', '/oidc/token', {
    form: { grant_type: 'client_credentials', resource: 'https://default.logto.app/api', scope: 'all' },
    headers: { authorization: `Basic ${Buffer.from('m2m-app:wrong').toString('base64')}` },
  });
  assert.equal(badSecret.status, 401);
  assert.equal(badSecret.json.error, 'invalid_client');

  const publicClient = await idp.req('POST', '/oidc/token', {
    form: { grant_type: 'client_credentials', client_id: 'device-app', resource: 'https://default.logto.app/api' },
  });
  assert.equal(publicClient.status, 400);
  assert.equal(publicClient.json.error, 'invalid_request');
  assert.equal(publicClient.json.error_description, 'requested grant type is not allowed for this client');
});

test('Management API auth: 401 without/with a wrong token or audience, 403 without `all`', async () => {
  const none = await idp.req('GET', '/api/users');
  assert.equal(none.status, 401);
  assert.equal(none.json.code, 'auth.authorization_header_missing');
  const basic = await idp.req('GET', '/api/users', { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
  assert.equal(basic.status, 401);
  assert.equal(basic.json.code, 'auth.authorization_token_type_not_supported');
  const garbage = await mgmt(idp, 'GET', '/api/users', { token: 'not-a-jwt' });
  assert.equal(garbage.status, 401);
  assert.deepEqual(garbage.json, { code: 'auth.unauthorized', message: 'Unauthorized. Please check credentials and its scope.' });
  const otherAud = (await m2mToken(idp, { resource: 'https://api.example.com', scope: 'read' })).json.access_token;
  assert.equal(decodeJwt(otherAud).payload.aud, 'https://api.example.com');
  assert.equal((await mgmt(idp, 'GET', '/api/users', { token: otherAud })).status, 401);
  const noAll = (await m2mToken(idp, { scope: null })).json;
  assert.equal(noAll.scope, undefined);
  const forbidden = await mgmt(idp, 'GET', '/api/users', { token: noAll.access_token });
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.json.code, 'auth.forbidden');
  // A user's opaque access token is not a Management API token.
  const s = await deviceLogin(idp, 'alice', { scope: 'openid' });
  assert.equal((await mgmt(idp, 'GET', '/api/users', { token: s.access_token })).status, 401);
});

// ---- users ----

test('GET /api/users: user shape, newest first, default page size 20, Total-Number and Link', async () => {
  const r = await mgmt(idp, 'GET', '/api/users', { token });
  assert.equal(r.status, 200);
  assert.equal(r.headers['total-number'], '8');
  const u = r.json;
  assert.equal(u.length, 8);
  const sorted = [...u].sort((a, b) => b.createdAt - a.createdAt);
  assert.deepEqual(u.map((x) => x.id), sorted.map((x) => x.id));
  const alice = u.find((x) => x.username === 'alice');
  assert.deepEqual(Object.keys(alice), ['id', 'username', 'primaryEmail', 'primaryPhone', 'name', 'avatar',
    'customData', 'identities', 'lastSignInAt', 'createdAt', 'updatedAt', 'profile', 'applicationId',
    'cimdClientId', 'isSuspended', 'hasPassword']);
  assert.equal(alice.id, ALICE);
  assert.equal(alice.primaryPhone, null);
  assert.equal(alice.avatar, null);
  assert.equal(alice.hasPassword, true);
  assert.equal(alice.isSuspended, false);
  assert.equal(u.find((x) => x.username === 'carol').isSuspended, true);
  assert.equal(u.find((x) => x.username === 'henry').hasPassword, false);
  assert.equal(u.find((x) => x.primaryEmail === 'frank@example.com').username, null);
  const links = r.headers.link;
  // Logto 1.42's Link lacks the /api prefix (D11): reproduced, never to be followed.
  assert.match(links, /<https:\/\/127\.0\.0\.1:\d+\/users\?page=1>; rel="first"/);
  assert.match(links, /rel="last"/);
  assert.doesNotMatch(links, /rel="next"/);
});

test('pagination: page/page_size, Link next/prev/last, limits -> 400 guard.invalid_pagination', async () => {
  const links = (r) => Object.fromEntries(r.headers.link.split(', ').map((l) => {
    const m = /^<([^>]+)>; rel="(\w+)"$/.exec(l);
    return [m[2], new URL(m[1]).searchParams.get('page')];
  }));
  const p1 = await mgmt(idp, 'GET', '/api/users?page=1&page_size=3', { token });
  assert.equal(p1.json.length, 3);
  assert.equal(p1.headers['total-number'], '8');
  assert.deepEqual(links(p1), { first: '1', last: '3', next: '2' });
  const p3 = await mgmt(idp, 'GET', '/api/users?page=3&page_size=3', { token });
  assert.equal(p3.json.length, 2);
  assert.deepEqual(links(p3), { first: '1', prev: '2', last: '3' });
  assert.match(p3.headers.link, /^<https:\/\/127\.0\.0\.1:\d+\/users\?page=1&page_size=3>; rel="first"/);
  const all = [...p1.json, ...(await mgmt(idp, 'GET', '/api/users?page=2&page_size=3', { token })).json, ...p3.json];
  assert.equal(new Set(all.map((x) => x.id)).size, 8);
  const past = await mgmt(idp, 'GET', '/api/users?page=9&page_size=3', { token });
  assert.deepEqual(past.json, []);
  for (const q of ['page_size=101', 'page_size=0', 'page=0', 'page=-1', 'page=abc']) {
    const bad = await mgmt(idp, 'GET', `/api/users?${q}`, { token });
    assert.equal(bad.status, 400, q);
    assert.equal(bad.json.code, 'guard.invalid_pagination');
  }
  assert.equal((await mgmt(idp, 'GET', '/api/users?page_size=100', { token })).status, 200);
});

test('user search: search, search.username + mode exact, isCaseSensitive', async () => {
  const like = await mgmt(idp, 'GET', `/api/users?search=${encodeURIComponent('%example.com')}`, { token });
  assert.equal(like.json.length, 8);
  const exact = await mgmt(idp, 'GET', '/api/users?search.username=alice&mode.username=exact', { token });
  assert.deepEqual(exact.json.map((x) => x.id), [ALICE]);
  const ci = await mgmt(idp, 'GET', '/api/users?search.username=GRACE_HOPPER&mode.username=exact', { token });
  assert.equal(ci.json.length, 1);
  const cs = await mgmt(idp, 'GET', '/api/users?search.username=GRACE_HOPPER&mode.username=exact&isCaseSensitive=true', { token });
  assert.equal(cs.json.length, 0);
  const cs2 = await mgmt(idp, 'GET', '/api/users?search.username=Grace_Hopper&mode.username=exact&isCaseSensitive=true', { token });
  assert.equal(cs2.json.length, 1);
  assert.equal(cs2.headers['total-number'], '1');
  const byEmail = await mgmt(idp, 'GET', '/api/users?search.primaryEmail=erin@example.com&mode.primaryEmail=exact', { token });
  assert.equal(byEmail.json[0].username, 'erin');
  const bad = await mgmt(idp, 'GET', '/api/users?search.password=x', { token });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'request.invalid_input');

  // Case-only duplicates (case-sensitive usernames): the exact search ignoring case finds both,
  // isCaseSensitive only the identical one.
  const dup = await idp.ctlOk('POST', '/users', { username: 'ALICE' });
  try {
    const both = await mgmt(idp, 'GET', '/api/users?search.username=alice&mode.username=exact', { token });
    assert.deepEqual(both.json.map((x) => x.id).sort(), [ALICE, dup.id].sort());
    const one = await mgmt(idp, 'GET', '/api/users?search.username=alice&mode.username=exact&isCaseSensitive=true', { token });
    assert.deepEqual(one.json.map((x) => x.id), [ALICE]);
  } finally {
    await idp.ctlOk('DELETE', `/users/${dup.id}`);
  }
});

test('GET /api/users/:id, 404 entity.not_found', async () => {
  const r = await mgmt(idp, 'GET', `/api/users/${ALICE}`, { token });
  assert.equal(r.status, 200);
  assert.equal(r.json.username, 'alice');
  assert.deepEqual(r.json.customData, { department: 'engineering', loginShell: '/bin/bash' });
  const missing = await mgmt(idp, 'GET', '/api/users/nosuchuser01', { token });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { code: 'entity.not_found', message: 'The resource does not exist.' });
});

test('PATCH /api/users/:id/custom-data merges and returns the custom data', async () => {
  await idp.ctlOk('POST', '/users', { username: 'cd_user', password: 'cd-pass-1', custom_data: { a: 1 } });
  try {
    const { id } = await idp.ctlOk('GET', '/users/cd_user');
    const r = await mgmt(idp, 'PATCH', `/api/users/${id}/custom-data`, { token, json: { customData: { uidNumber: 71234 } } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { a: 1, uidNumber: 71234 });
    assert.deepEqual((await idp.ctlOk('GET', '/users/cd_user')).custom_data, { a: 1, uidNumber: 71234 });
    const bad = await mgmt(idp, 'PATCH', `/api/users/${id}/custom-data`, { token, json: { uidNumber: 1 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'guard.invalid_input');
    assert.equal((await mgmt(idp, 'PATCH', '/api/users/nosuchuser01/custom-data', { token, json: { customData: {} } })).status, 404);
  } finally {
    await idp.ctlOk('DELETE', '/users/cd_user');
  }
});

test('user roles (paginated) and organizations (not paginated, organizationRoles)', async () => {
  const g = (await idp.ctlOk('GET', '/users/Grace_Hopper')).id;
  const roles = await mgmt(idp, 'GET', `/api/users/${g}/roles`, { token });
  assert.equal(roles.status, 200);
  assert.equal(roles.headers['total-number'], '2');
  assert.deepEqual(roles.json.map((r) => r.name).sort(), ['admin', 'auditor']);
  assert.deepEqual(Object.keys(roles.json[0]), ['tenantId', 'id', 'name', 'description', 'type', 'isDefault']);
  assert.equal(roles.json[0].type, 'User');
  assert.match(roles.json[0].id, /^[0-9a-z]{21}$/);

  const orgs = await mgmt(idp, 'GET', '/api/users/cnicb7t6a00l/organizations', { token });
  assert.equal(orgs.status, 200);
  assert.equal(orgs.headers['total-number'], undefined);
  assert.equal(orgs.json.length, 1);
  assert.equal(orgs.json[0].id, GLOBEX);
  assert.equal(orgs.json[0].name, 'Globex');
  assert.deepEqual(orgs.json[0].organizationRoles.map((r) => r.name), ['admin', 'member']);
  assert.deepEqual(Object.keys(orgs.json[0].organizationRoles[0]), ['id', 'name']);
  assert.equal((await mgmt(idp, 'GET', '/api/users/nosuchuser01/organizations', { token })).status, 404);
});

test('roles: GET /api/roles?type=User with usersCount; /api/roles/:id/users', async () => {
  const r = await mgmt(idp, 'GET', '/api/roles?type=User', { token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map((x) => x.name), ['admin', 'developer', 'auditor']);
  const admin = r.json.find((x) => x.name === 'admin');
  assert.equal(admin.usersCount, 2);
  assert.equal(admin.featuredUsers.length, 2);
  assert.deepEqual(Object.keys(admin.featuredUsers[0]), ['id', 'avatar', 'name']);
  const allRoles = await mgmt(idp, 'GET', '/api/roles', { token });
  assert.ok(allRoles.json.some((x) => x.type === 'MachineToMachine'));
  const users = await mgmt(idp, 'GET', `/api/roles/${admin.id}/users`, { token });
  assert.equal(users.headers['total-number'], '2');
  assert.deepEqual(users.json.map((x) => x.username).sort(), ['Grace_Hopper', 'alice']);
  assert.equal(users.json[0].hasPassword, true);
  assert.equal((await mgmt(idp, 'GET', '/api/roles/nosuchrole/users', { token })).status, 404);
  assert.equal((await mgmt(idp, 'GET', '/api/roles?type=Bogus', { token })).status, 400);
});

test('organizations: GET /api/organizations (paginated), /api/organizations/:id/users with organizationRoles', async () => {
  const r = await mgmt(idp, 'GET', '/api/organizations', { token });
  assert.equal(r.status, 200);
  assert.equal(r.headers['total-number'], '2');
  assert.deepEqual(r.json.map((o) => o.id).sort(), [ACME, GLOBEX].sort());
  assert.deepEqual(Object.keys(r.json[0]), ['tenantId', 'id', 'name', 'description', 'customData',
    'isMfaRequired', 'color', 'branding', 'customCss', 'createdAt']);
  const q = await mgmt(idp, 'GET', '/api/organizations?q=acme', { token });
  assert.deepEqual(q.json.map((o) => o.id), [ACME]);
  const members = await mgmt(idp, 'GET', `/api/organizations/${ACME}/users`, { token });
  assert.equal(members.status, 200);
  assert.equal(members.headers['total-number'], '2');
  assert.deepEqual(members.json.map((u) => u.username).sort(), ['alice', 'erin']);
  for (const m of members.json) {
    assert.deepEqual(m.organizationRoles.map((x) => x.name), ['member']);
    assert.equal(m.hasPassword, undefined);
  }
  assert.equal((await mgmt(idp, 'GET', '/api/organizations/nosuchorg001/users', { token })).status, 404);
});

test('password verify: 204 / 422 / 404 / 400, no lockout, no suspension check', async () => {
  const ok = await mgmt(idp, 'POST', `/api/users/${ALICE}/password/verify`, { token, json: { password: 'alice-pass-1' } });
  assert.equal(ok.status, 204);
  for (let i = 0; i < 7; i += 1) {
    const bad = await mgmt(idp, 'POST', `/api/users/${ALICE}/password/verify`, { token, json: { password: 'wrong' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.json.code, 'session.invalid_credentials');
  }
  assert.equal((await mgmt(idp, 'POST', `/api/users/${ALICE}/password/verify`, { token, json: { password: 'alice-pass-1' } })).status, 204);
  assert.equal((await mgmt(idp, 'POST', `/api/users/${CAROL}/password/verify`, { token, json: { password: 'carol-pass-1' } })).status, 204);
  assert.equal((await mgmt(idp, 'POST', '/api/users/nosuchuser01/password/verify', { token, json: { password: 'x' } })).status, 404);
  const empty = await mgmt(idp, 'POST', `/api/users/${ALICE}/password/verify`, { token, json: { password: '' } });
  assert.equal(empty.status, 400);
  assert.equal(empty.json.code, 'guard.invalid_input');
  const noPw = await mgmt(idp, 'POST', '/api/users/e4edvemf142f/password/verify', { token, json: { password: 'x' } });
  assert.equal(noPw.status, 422);
});

// ---- personal access tokens ----

function exchange(pat, extra = {}) {
  return idp.req('POST', '/oidc/token', {
    form: {
      grant_type: TOKEN_EXCHANGE, client_id: 'native-app', subject_token: pat, subject_token_type: PAT_TYPE,
      scope: 'openid profile custom_data roles', ...extra,
    },
  });
}

test('PAT exchange: opaque access token usable at /oidc/me, no id_token, no refresh_token', async () => {
  const r = await exchange('pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.equal(r.json.expires_in, 3600);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.scope, 'openid profile custom_data roles');
  const me = await userinfo(idp, r.json.access_token);
  assert.equal(me.status, 200);
  assert.equal(me.json.sub, ALICE);
  assert.equal(me.json.username, 'alice');
  assert.deepEqual(me.json.roles, ['admin']);
  assert.deepEqual(me.json.custom_data, { department: 'engineering', loginShell: '/bin/bash' });
});

test('PAT exchange errors: not found, expired, suspended user, wrong client, unsupported type', async () => {
  const nf = await exchange('pat_doesnotexist0000000000000000000');
  assert.equal(nf.status, 400);
  assert.equal(nf.json.error, 'invalid_grant');
  const nfRaw = await idp.req('POST', '/oidc/token?parse_error=false', {
    form: { grant_type: TOKEN_EXCHANGE, client_id: 'native-app', subject_token: 'pat_x', subject_token_type: PAT_TYPE },
  });
  assert.equal(nfRaw.json.error, 'invalid_grant');
  const expired = await exchange('pat_nVmLRCrd6ifqWRapdWqMEtYQMtshaFZb');
  assert.equal(expired.json.error, 'invalid_grant');
  const carolPat = await idp.ctlOk('POST', '/users/carol/pats', { name: 'cli' });
  assert.match(carolPat.value, /^pat_[0-9A-Za-z]{32}$/);
  const susp = await exchange(carolPat.value);
  assert.equal(susp.status, 400);
  assert.equal(susp.json.error, 'invalid_grant');
  const wrongClient = await idp.req('POST', '/oidc/token', {
    form: { grant_type: TOKEN_EXCHANGE, client_id: 'device-app', subject_token: 'pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx', subject_token_type: PAT_TYPE },
  });
  assert.equal(wrongClient.status, 400);
  assert.equal(wrongClient.json.error, 'invalid_request');
  assert.equal(wrongClient.json.error_description, 'requested grant type is not allowed for this client');
  const badType = await exchange('pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx', { subject_token_type: 'urn:example:nope' });
  assert.equal(badType.json.error, 'invalid_grant');
  const missing = await idp.req('POST', '/oidc/token', { form: { grant_type: TOKEN_EXCHANGE, client_id: 'native-app' } });
  assert.equal(missing.json.error, 'invalid_request');
});

test('PAT from the control API and from the Management API; expiry; resource gives a JWT', async () => {
  const p = await idp.ctlOk('POST', '/users/erin/pats', { name: 'laptop', expires_at: Date.now() + 60_000 });
  const r = await exchange(p.value);
  assert.equal(r.status, 200);
  assert.equal((await userinfo(idp, r.json.access_token)).json.custom_data.uidNumber, 70001);
  const past = await idp.ctlOk('POST', '/users/erin/pats', { name: 'old', expires_at: Date.now() - 1000 });
  assert.equal((await exchange(past.value)).json.error, 'invalid_grant');
  const viaApi = await mgmt(idp, 'POST', '/api/users/pjxljgyvlay2/personal-access-tokens', { token, json: { name: 'api', expiresAt: null } });
  assert.equal(viaApi.status, 201);
  assert.match(viaApi.json.value, /^pat_[0-9A-Za-z]{32}$/);
  assert.equal((await exchange(viaApi.json.value)).status, 200);
  const jwt = await exchange(p.value, { resource: 'https://api.example.com', scope: 'read write' });
  assert.equal(jwt.status, 200, jwt.text);
  assert.equal(decodeJwt(jwt.json.access_token).header.typ, 'at+jwt');
  assert.equal(jwt.json.scope, 'read');
});

// ---- scale ----

test('--generate users=10000: fast start, deterministic, full sync through the Management API', async () => {
  const t0 = Date.now();
  const big = await startIdp({ args: ['--generate', 'users=10000,roles=5,orgs=3'] });
  try {
    assert.ok(Date.now() - t0 < 15000, 'starts quickly');
    const tok = (await m2mToken(big)).json.access_token;
    const first = await mgmt(big, 'GET', '/api/users?page=1&page_size=100', { token: tok });
    assert.equal(first.headers['total-number'], '10008');
    assert.equal(first.json[0].username, 'user10000');
    const ids = new Set();
    let page = 1;
    for (;;) {
      const r = await mgmt(big, 'GET', `/api/users?page=${page}&page_size=100`, { token: tok });
      assert.equal(r.status, 200);
      for (const u of r.json) ids.add(u.id);
      if (!/rel="next"/.test(r.headers.link)) break;
      page += 1;
    }
    assert.equal(ids.size, 10008);
    assert.equal(page, 101);
    const roles = await mgmt(big, 'GET', '/api/roles?type=User&page_size=100', { token: tok });
    const g1 = roles.json.find((r) => r.name === 'grole001');
    assert.ok(g1.usersCount > 2000);
    const orgs = await mgmt(big, 'GET', '/api/organizations?page_size=100', { token: tok });
    assert.equal(orgs.json.length, 5);
    const gen = orgs.json.find((o) => o.name === 'Generated Org 001');
    const members = await mgmt(big, 'GET', `/api/organizations/${gen.id}/users?page_size=100`, { token: tok });
    assert.equal(members.headers['total-number'], '3334');
    const u1 = await big.ctlOk('GET', '/users/user00001');
    assert.equal(u1.password, 'pw-user00001');
    assert.deepEqual(u1.roles, ['grole001']);
    assert.deepEqual(u1.organizations.map((o) => o.name), ['Generated Org 001']);
    const s = await deviceLogin(big, 'user00042', { scope: 'openid roles' });
    assert.equal(decodeJwt(s.id_token).payload.sub, (await big.ctlOk('GET', '/users/user00042')).id);
    const stats = await big.ctlOk('GET', '/stats');
    assert.equal(stats.by_route['GET /api/users'], 102);
  } finally {
    await big.stop();
  }
});

test('PAT exchange with allowTokenExchange off: 400 invalid_request as Logto 1.42 (D4)', async () => {
  await idp.ctlOk('POST', '/settings', { allow_token_exchange: false });
  try {
    const r = await exchange('pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx');
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_request');
    assert.equal(r.json.error_description, 'requested grant type is not allowed for this client');
  } finally {
    await idp.ctlOk('POST', '/settings', { allow_token_exchange: true });
  }
  assert.equal((await exchange('pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx')).status, 200);
});

test('GET /api/applications/{id}: type, redirect URIs, device flow and token exchange flags', async () => {
  const native = await mgmt(idp, 'GET', '/api/applications/native-app', { token });
  assert.equal(native.status, 200, native.text);
  assert.equal(native.json.type, 'Native');
  assert.deepEqual(native.json.oidcClientMetadata.redirectUris, ['http://127.0.0.1/callback']);
  assert.equal(native.json.customClientMetadata.allowTokenExchange, true);
  const device = await mgmt(idp, 'GET', '/api/applications/device-app', { token });
  assert.equal(device.json.customClientMetadata.isDeviceFlow, true);
  const none = await mgmt(idp, 'GET', '/api/applications/nope', { token });
  assert.equal(none.status, 404);
  assert.equal(none.json.code, 'entity.not_exists_with_id');
  assert.equal((await mgmt(idp, 'GET', '/api/applications/native-app', {})).status, 401);
});
