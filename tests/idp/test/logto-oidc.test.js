// Logto profile: discovery, JWKS, keys and rotation, error decoration (logto-protocol.md §1, §2.4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, jwtVerify, createLocalJWKSet } from 'jose';

import {
  startIdp, deviceLogin, refresh, decodeJwt, request,
} from './helpers.js';

let idp;
before(async () => { idp = await startIdp({ args: ['--refresh-reuse-leeway', '0'] }); });
after(async () => { await idp?.stop(); });

const LOGTO_KEYS = ['issuer', 'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
  'end_session_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'device_authorization_endpoint',
  'pushed_authorization_request_endpoint', 'id_token_signing_alg_values_supported',
  'code_challenge_methods_supported', 'grant_types_supported', 'response_types_supported',
  'response_modes_supported', 'token_endpoint_auth_methods_supported', 'scopes_supported', 'claims_supported',
  'claims_parameter_supported', 'request_uri_parameter_supported', 'subject_types_supported',
  'backchannel_logout_supported', 'backchannel_logout_session_supported',
  'authorization_response_iss_parameter_supported'];

test('discovery document matches Logto\'s snapshot (§1.2)', async () => {
  const r = await idp.req('GET', '/oidc/.well-known/openid-configuration');
  assert.equal(r.status, 200);
  const d = r.json;
  const u = idp.url;
  assert.deepEqual(Object.keys(d), LOGTO_KEYS);
  assert.equal(d.issuer, `${u}/oidc`);
  assert.equal(idp.issuer, `${u}/oidc`);
  assert.equal(d.authorization_endpoint, `${u}/oidc/auth`);
  assert.equal(d.token_endpoint, `${u}/oidc/token`);
  assert.equal(d.userinfo_endpoint, `${u}/oidc/me`);
  assert.equal(d.jwks_uri, `${u}/oidc/jwks`);
  assert.equal(d.end_session_endpoint, `${u}/oidc/session/end`);
  assert.equal(d.revocation_endpoint, `${u}/oidc/token/revocation`);
  assert.equal(d.introspection_endpoint, `${u}/oidc/token/introspection`);
  assert.equal(d.device_authorization_endpoint, `${u}/oidc/device/auth`);
  assert.equal(d.pushed_authorization_request_endpoint, `${u}/oidc/request`);
  assert.deepEqual(d.id_token_signing_alg_values_supported, ['ES384']);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(d.grant_types_supported, ['implicit', 'authorization_code', 'refresh_token', 'client_credentials',
    'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange']);
  assert.deepEqual(d.response_types_supported, ['code id_token', 'code', 'id_token', 'none']);
  assert.deepEqual(d.response_modes_supported, ['form_post', 'fragment', 'query']);
  assert.deepEqual(d.token_endpoint_auth_methods_supported,
    ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none']);
  assert.deepEqual(d.scopes_supported, ['openid', 'offline_access', 'profile', 'email', 'phone', 'address',
    'custom_data', 'identities', 'roles', 'urn:logto:scope:organizations', 'urn:logto:scope:organization_roles',
    'urn:logto:scope:sessions', 'urn:logto:scope:trusted_devices']);
  assert.deepEqual(d.claims_supported, ['sub', 'name', 'family_name', 'given_name', 'middle_name', 'nickname',
    'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
    'username', 'created_at', 'email', 'email_verified', 'phone_number', 'phone_number_verified', 'address',
    'custom_data', 'identities', 'sso_identities', 'roles', 'organizations', 'organization_data',
    'organization_roles', 'sid', 'auth_time', 'iss']);
  assert.equal(d.claims_parameter_supported, false);
  assert.equal(d.request_uri_parameter_supported, false);
  assert.deepEqual(d.subject_types_supported, ['public']);
  assert.equal(d.backchannel_logout_supported, true);
  assert.equal(d.backchannel_logout_session_supported, true);
  assert.equal(d.authorization_response_iss_parameter_supported, true);
});

test('RFC 8414 metadata equals the OpenID discovery document', async () => {
  const a = await idp.req('GET', '/oidc/.well-known/openid-configuration');
  const b = await idp.req('GET', '/oidc/.well-known/oauth-authorization-server');
  assert.equal(b.status, 200);
  assert.deepEqual(b.json, a.json);
});

test('JWKS: one EC P-384 key, kid = RFC 7638 thumbprint, alg/use as Logto 1.42, no-cache header', async () => {
  const r = await idp.req('GET', '/oidc/jwks');
  assert.equal(r.status, 200);
  assert.equal(r.headers['cache-control'], 'no-cache, max-age=0, must-revalidate');
  assert.equal(r.json.keys.length, 1);
  const [k] = r.json.keys;
  assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  assert.equal(k.alg, 'ES384');
  assert.equal(k.use, 'sig');
  assert.equal(k.kty, 'EC');
  assert.equal(k.crv, 'P-384');
  assert.equal(k.kid, await calculateJwkThumbprint({ kty: k.kty, crv: k.crv, x: k.x, y: k.y }));
});

test('grant_type=password is unsupported_grant_type', async () => {
  const r = await idp.req('POST', '/oidc/token', {
    form: { grant_type: 'password', client_id: 'native-app', username: 'alice', password: 'alice-pass-1' },
  });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'unsupported_grant_type');
});

test('error decoration: code/message added, error_uri for invalid_grant, ?parse_error=false raw', async () => {
  const bad = await idp.req('POST', '/oidc/token', {
    form: { grant_type: 'refresh_token', client_id: 'device-app', refresh_token: 'nope' },
  });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, {
    code: 'oidc.invalid_grant',
    message: 'Grant request is invalid.',
    error_uri: 'https://openid.sh/debug/invalid_grant',
    error: 'invalid_grant',
    error_description: 'grant request is invalid',
  });
  const pending = await idp.req('POST', '/oidc/token', {
    form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'device-app', device_code: 'x' },
  });
  assert.equal(pending.json.code, 'oidc.invalid_grant');
  const raw = await idp.req('POST', '/oidc/token?parse_error=false', {
    form: { grant_type: 'refresh_token', client_id: 'device-app', refresh_token: 'nope' },
  });
  assert.deepEqual(raw.json, { error: 'invalid_grant', error_description: 'grant request is invalid' });
  const unknownClient = await idp.req('POST', '/oidc/device/auth', { form: { client_id: 'nobody', scope: 'openid' } });
  assert.equal(unknownClient.status, 401);
  assert.equal(unknownClient.json.error, 'invalid_client');
  assert.equal(unknownClient.json.code, 'oidc.invalid_client');
  assert.equal(unknownClient.json.message, 'An OIDC error occurred: oidc.invalid_client.');
});

test('JSON bodies are accepted on OIDC endpoints (Logto middleware)', async () => {
  const r = await idp.req('POST', '/oidc/device/auth', { json: { client_id: 'device-app', scope: 'openid' } });
  assert.equal(r.status, 200);
  assert.ok(r.json.device_code);
});

test('device flow is refused for clients without the grant (§2.1)', async () => {
  const r = await idp.req('POST', '/oidc/device/auth', { form: { client_id: 'native-app', scope: 'openid' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_request');
  assert.equal(r.json.error_description, 'urn:ietf:params:oauth:grant-type:device_code is not allowed for this client');
});

test('the main listener serves HTTPS with the per-run CA only', async () => {
  await assert.rejects(request('GET', new URL('/oidc/jwks', idp.url), {}), /certificate|self[- ]signed/i);
});

test('key rotation: EC -> RSA -> EC, Current signs, Previous stays published, older dropped', async () => {
  const before0 = await idp.ctlOk('GET', '/keys');
  assert.equal(before0.length, 1);
  assert.equal(before0[0].state, 'Current');
  const oldKid = before0[0].kid;
  const session = await deviceLogin(idp, 'alice', { scope: 'openid offline_access profile' });
  assert.equal(decodeJwt(session.id_token).header.kid, oldKid);

  const rsa = await idp.ctlOk('POST', '/keys/rotate', { type: 'RSA' });
  assert.equal(rsa.alg, 'RS256');
  let jwks = (await idp.req('GET', '/oidc/jwks')).json.keys;
  assert.deepEqual(jwks.map((k) => k.kid), [rsa.kid, oldKid]);
  const rsaJwk = jwks[0];
  // Logto 1.42: the RSA entry has no alg (logto-real-1.42.md D11); use stays as oidc-provider serves it.
  assert.deepEqual(Object.keys(rsaJwk).sort(), ['e', 'kid', 'kty', 'n', 'use']);
  assert.equal(rsaJwk.kid, await calculateJwkThumbprint({ kty: 'RSA', e: rsaJwk.e, n: rsaJwk.n }));
  const disc = (await idp.req('GET', '/oidc/.well-known/openid-configuration')).json;
  assert.ok(disc.id_token_signing_alg_values_supported.includes('RS256'));

  // Tokens issued after the rotation are signed by the new key; the session survives.
  const r1 = await refresh(idp, session.refresh_token);
  assert.equal(r1.status, 200, r1.text);
  const h1 = decodeJwt(r1.json.id_token).header;
  assert.equal(h1.alg, 'RS256');
  assert.equal(h1.kid, rsa.kid);
  await jwtVerify(r1.json.id_token, createLocalJWKSet({ keys: jwks }), { issuer: idp.issuer, audience: 'device-app' });

  const ec = await idp.ctlOk('POST', '/keys/rotate', { type: 'EC' });
  assert.equal(ec.alg, 'ES384');
  jwks = (await idp.req('GET', '/oidc/jwks')).json.keys;
  assert.deepEqual(jwks.map((k) => k.kid), [ec.kid, rsa.kid]);
  const keys = await idp.ctlOk('GET', '/keys');
  assert.deepEqual(keys.map((k) => k.state), ['Current', 'Previous']);
  const r2 = await refresh(idp, r1.json.refresh_token);
  assert.equal(r2.status, 200, r2.text);
  assert.equal(decodeJwt(r2.json.id_token).header.alg, 'ES384');
  assert.equal(decodeJwt(r2.json.id_token).header.kid, ec.kid);
  const bad = await idp.ctl('POST', '/keys/rotate', { type: 'DSA' });
  assert.equal(bad.status, 400);
});
