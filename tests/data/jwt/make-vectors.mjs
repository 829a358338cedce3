#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Generates tests/data/jwt/vectors.json: a JWKS and ID tokens for every algorithm the verifier
// allows and for every way a token can be wrong. The output is committed, so the C unit test
// (tests/unit/test_jwt.c) needs no Node; rerun this only to change the cases:
//   node tests/data/jwt/make-vectors.mjs > tests/data/jwt/vectors.json
// Valid tokens are signed with the `jose` package of the test IdP (an independent JOSE
// implementation); deliberately broken ones are assembled by hand with node:crypto, because
// jose refuses to build most of them.
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const josePath = resolve(here, '../../idp/node_modules/jose/dist/webapi/index.js');
if (!existsSync(josePath)) {
  process.stderr.write('make-vectors: run `npm ci` in tests/idp first (needs the jose package)\n');
  process.exit(2);
}
const jose = await import(pathToFileURL(josePath).href);

const NOW = 1800000000; // the clock the C test injects
const ISSUER = 'https://auth.example.com/oidc';
const CLIENT = 'device-app';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const b64json = (obj) => b64u(JSON.stringify(obj));

// ---- keys ------------------------------------------------------------------------------

function thumbprint(jwk) {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return b64u(createHash('sha256').update(JSON.stringify(members)).digest());
}

function makeKey(name, type, options, extra = {}) {
  const { privateKey, publicKey } = generateKeyPairSync(type, options);
  const pub = publicKey.export({ format: 'jwk' });
  // Logto-style JWKS entry: the RFC 7638 thumbprint as kid, no alg, no use (unless extra).
  const jwk = { ...pub, kid: thumbprint(pub), ...extra };
  return { name, privateKey, publicKey, jwk, kid: jwk.kid };
}

const keys = {
  ec256: makeKey('ec256', 'ec', { namedCurve: 'P-256' }),
  ec384: makeKey('ec384', 'ec', { namedCurve: 'P-384' }),
  ec521: makeKey('ec521', 'ec', { namedCurve: 'P-521' }),
  rsa2048: makeKey('rsa2048', 'rsa', { modulusLength: 2048 }),
  rsa4096: makeKey('rsa4096', 'rsa', { modulusLength: 4096 }),
  rsa1024: makeKey('rsa1024', 'rsa', { modulusLength: 1024 }),
  rsaEnc: makeKey('rsaEnc', 'rsa', { modulusLength: 2048 }, { use: 'enc' }),
  rsaAlg: makeKey('rsaAlg', 'rsa', { modulusLength: 2048 }, { alg: 'RS256', use: 'sig' }),
};
const rogue = makeKey('rogue', 'ec', { namedCurve: 'P-384' }); // not published

// ---- claims ----------------------------------------------------------------------------

const baseClaims = {
  iss: ISSUER,
  sub: 'e738g7numf03',
  aud: CLIENT,
  exp: NOW + 3600,
  iat: NOW - 10,
  auth_time: NOW - 20,
  username: 'alice',
  name: 'Alice Liddell',
  picture: null,
  roles: ['admin'],
  organizations: ['pbl95zlwkzx4'],
  organization_roles: ['pbl95zlwkzx4:member'],
  created_at: 1700000000000,
};
const claims = (over = {}, drop = []) => {
  const c = { ...baseClaims, ...over };
  for (const k of drop) delete c[k];
  return c;
};

// ---- signing ---------------------------------------------------------------------------

async function joseSign(alg, key, payload, header = {}) {
  const priv = await jose.importJWK(key.privateKey.export({ format: 'jwk' }), alg);
  return new jose.CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg, kid: key.kid, ...header })
    .sign(priv);
}

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

// Signs `signingInput` the way `realAlg` says, whatever the header claims.
function rawSignature(realAlg, key, signingInput) {
  const bits = realAlg.slice(2);
  if (realAlg.startsWith('ES'))
    return sign(HASH[bits], Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  if (realAlg.startsWith('PS'))
    return sign(HASH[bits], Buffer.from(signingInput), { key: key.privateKey, padding: 6, saltLength: Number(bits) / 8 });
  return sign(HASH[bits], Buffer.from(signingInput), key.privateKey);
}

function handSign(header, payloadText, realAlg, key) {
  const input = `${b64json(header)}.${b64u(payloadText)}`;
  return `${input}.${b64u(rawSignature(realAlg, key, input))}`;
}

// A correctly signed token whose payload segment is non-canonical base64url: the unused low
// bits of its last character are set. Strict decoders refuse it; lenient ones read the same
// bytes as the canonical form.
function nonCanonicalPayloadToken() {
  let text = '';
  for (let n = 0; text.length % 3 !== 1; n++) text = JSON.stringify(claims({ pad: 'x'.repeat(n) }));
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const canonical = b64u(text);
  const last = alphabet.indexOf(canonical.at(-1));
  const payload = canonical.slice(0, -1) + alphabet[last | 1];
  const input = `${b64json({ alg: 'ES384', kid: keys.ec384.kid })}.${payload}`;
  return `${input}.${b64u(rawSignature('ES384', keys.ec384, input))}`;
}

// ---- cases -----------------------------------------------------------------------------

const cases = [];
const ok = (name, token, extra = {}) => cases.push({ name, token, expect: 'ok', ...extra });
const bad = (name, token, message, extra = {}) =>
  cases.push({ name, token, expect: 'bad-token', message, ...extra });

// Every allowed algorithm, signed by jose.
ok('es256', await joseSign('ES256', keys.ec256, claims()));
ok('es384', await joseSign('ES384', keys.ec384, claims()));
ok('es512', await joseSign('ES512', keys.ec521, claims()));
ok('rs256', await joseSign('RS256', keys.rsa2048, claims()));
ok('rs256-4096', await joseSign('RS256', keys.rsa4096, claims()));
ok('ps256', await joseSign('PS256', keys.rsa2048, claims()));
ok('rs256-jwks-alg', await joseSign('RS256', keys.rsaAlg, claims()));
// Logto 1.42 ID tokens carry no typ; others send typ JWT.
ok('typ-jwt', await joseSign('ES384', keys.ec384, claims(), { typ: 'JWT' }));
ok('no-kid-single-candidate', handSign({ alg: 'ES384' }, JSON.stringify(claims()), 'ES384', keys.ec384));
ok('aud-array-single', await joseSign('ES384', keys.ec384, claims({ aud: [CLIENT] })));
ok('aud-array-azp', await joseSign('ES384', keys.ec384, claims({ aud: [CLIENT, 'other'], azp: CLIENT })));
ok('nonce-match', await joseSign('ES384', keys.ec384, claims({ nonce: 'n-0S6_WzA2Mj' })), { nonce: 'n-0S6_WzA2Mj' });
ok('exp-within-leeway', await joseSign('ES384', keys.ec384, claims({ exp: NOW - 30 })));
ok('iat-within-leeway', await joseSign('ES384', keys.ec384, claims({ iat: NOW + 30 })));
ok('nbf-within-leeway', await joseSign('ES384', keys.ec384, claims({ nbf: NOW + 30 })));
ok('nbf-past', await joseSign('ES384', keys.ec384, claims({ nbf: NOW - 100 })));
ok('exp-fractional', await joseSign('ES384', keys.ec384, claims({ exp: NOW + 100.5 })));

// Signatures and keys.
{
  const t = await joseSign('ES384', keys.ec384, claims());
  const [h, p, s] = t.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[10] ^= 0x01;
  bad('bad-signature', `${h}.${p}.${b64u(sig)}`, 'signature');
  const other = JSON.stringify(claims({ sub: 'someone-else' }));
  bad('payload-swapped', `${h}.${b64u(other)}.${s}`, 'signature');
  bad('signature-truncated', `${h}.${p}.${b64u(Buffer.from(s, 'base64url').subarray(0, 95))}`, 'signature');
  bad('signature-empty', `${h}.${p}.`, 'signature');
}
bad('unknown-kid', await joseSign('ES384', rogue, claims()), 'kid');
bad('rogue-key-real-kid', handSign({ alg: 'ES384', kid: keys.ec384.kid }, JSON.stringify(claims()), 'ES384', rogue), 'signature');
bad('no-kid-ambiguous', handSign({ alg: 'RS256' }, JSON.stringify(claims()), 'RS256', keys.rsa2048), 'kid');
bad('jwks-use-enc', await joseSign('RS256', keys.rsaEnc, claims()), 'kid');
bad('jwks-alg-mismatch', handSign({ alg: 'PS256', kid: keys.rsaAlg.kid }, JSON.stringify(claims()), 'PS256', keys.rsaAlg), 'alg');

// Algorithms outside the allow-list, and key confusion.
bad('alg-none', `${b64json({ alg: 'none', kid: keys.ec384.kid })}.${b64json(claims())}.`, 'alg');
bad('alg-none-with-signature', `${b64json({ alg: 'none' })}.${b64json(claims())}.${b64u('x')}`, 'alg');
bad('alg-None-case', `${b64json({ alg: 'None' })}.${b64json(claims())}.`, 'alg');
{
  const pem = keys.ec384.publicKey.export({ type: 'spki', format: 'pem' });
  const h = b64json({ alg: 'HS256', kid: keys.ec384.kid });
  const p = b64json(claims());
  bad('alg-hs256-pem-secret', `${h}.${p}.${b64u(createHmac('sha256', pem).update(`${h}.${p}`).digest())}`, 'alg');
  const jwkText = JSON.stringify(keys.rsa2048.jwk);
  const h2 = b64json({ alg: 'HS256', kid: keys.rsa2048.kid });
  bad('alg-hs256-jwk-secret', `${h2}.${p}.${b64u(createHmac('sha256', jwkText).update(`${h2}.${p}`).digest())}`, 'alg');
}
bad('alg-rs384', handSign({ alg: 'RS384', kid: keys.rsa2048.kid }, JSON.stringify(claims()), 'RS384', keys.rsa2048), 'alg');
bad('alg-ps512', handSign({ alg: 'PS512', kid: keys.rsa2048.kid }, JSON.stringify(claims()), 'PS512', keys.rsa2048), 'alg');
bad('alg-eddsa', `${b64json({ alg: 'EdDSA', kid: keys.ec256.kid })}.${b64json(claims())}.${b64u(Buffer.alloc(64, 1))}`, 'alg');
bad('alg-not-string', `${b64json({ alg: 256, kid: keys.ec256.kid })}.${b64json(claims())}.${b64u(Buffer.alloc(64, 1))}`, 'alg');
bad('alg-missing', `${b64json({ kid: keys.ec256.kid })}.${b64json(claims())}.${b64u(Buffer.alloc(64, 1))}`, 'alg');
bad('rs256-header-ec-key', handSign({ alg: 'RS256', kid: keys.ec384.kid }, JSON.stringify(claims()), 'RS256', keys.rsa2048), 'key');
bad('es384-header-rsa-key', handSign({ alg: 'ES384', kid: keys.rsa2048.kid }, JSON.stringify(claims()), 'ES384', keys.ec384), 'key');
// Signed with ES384 by the P-384 key, but the header says ES256.
bad('es256-header-p384-key', handSign({ alg: 'ES256', kid: keys.ec384.kid }, JSON.stringify(claims()), 'ES384', keys.ec384), 'curve');
bad('es384-header-p256-key', handSign({ alg: 'ES384', kid: keys.ec256.kid }, JSON.stringify(claims()), 'ES256', keys.ec256), 'curve');
bad('es512-header-p384-key', handSign({ alg: 'ES512', kid: keys.ec384.kid }, JSON.stringify(claims()), 'ES384', keys.ec384), 'curve');
bad('rs256-short-key', handSign({ alg: 'RS256', kid: keys.rsa1024.kid }, JSON.stringify(claims()), 'RS256', keys.rsa1024), '2048');
bad('crit-header', handSign({ alg: 'ES384', kid: keys.ec384.kid, crit: ['x-logto'], 'x-logto': 1 }, JSON.stringify(claims()), 'ES384', keys.ec384), 'crit');
bad('typ-at-jwt', await joseSign('ES384', keys.ec384, claims(), { typ: 'at+jwt' }), 'typ');

// Claims.
bad('expired', await joseSign('ES384', keys.ec384, claims({ iat: NOW - 7200, exp: NOW - 3600 })), 'expired');
bad('expired-just-past-leeway', await joseSign('ES384', keys.ec384, claims({ exp: NOW - 61 })), 'expired');
bad('nbf-future', await joseSign('ES384', keys.ec384, claims({ nbf: NOW + 120 })), 'nbf');
bad('iat-future', await joseSign('ES384', keys.ec384, claims({ iat: NOW + 120 })), 'iat');
bad('wrong-iss', await joseSign('ES384', keys.ec384, claims({ iss: 'https://evil.example.com/oidc' })), 'iss');
bad('iss-trailing-slash', await joseSign('ES384', keys.ec384, claims({ iss: `${ISSUER}/` })), 'iss');
bad('iss-case', await joseSign('ES384', keys.ec384, claims({ iss: ISSUER.toUpperCase() })), 'iss');
bad('wrong-aud', await joseSign('ES384', keys.ec384, claims({ aud: 'another-client' })), 'aud');
bad('aud-array-without-client', await joseSign('ES384', keys.ec384, claims({ aud: ['a', 'b'] })), 'aud');
bad('aud-array-no-azp', await joseSign('ES384', keys.ec384, claims({ aud: [CLIENT, 'other'] })), 'azp');
bad('aud-array-wrong-azp', await joseSign('ES384', keys.ec384, claims({ aud: [CLIENT, 'other'], azp: 'other' })), 'azp');
bad('azp-wrong-single-aud', await joseSign('ES384', keys.ec384, claims({ azp: 'other' })), 'azp');
bad('aud-not-string', await joseSign('ES384', keys.ec384, claims({ aud: 42 })), 'aud');
bad('aud-array-non-string', await joseSign('ES384', keys.ec384, claims({ aud: [CLIENT, 7], azp: CLIENT })), 'aud');
for (const k of ['iss', 'sub', 'aud', 'exp', 'iat'])
  bad(`missing-${k}`, await joseSign('ES384', keys.ec384, claims({}, [k])), k);
bad('sub-empty', await joseSign('ES384', keys.ec384, claims({ sub: '' })), 'sub');
bad('sub-not-string', await joseSign('ES384', keys.ec384, claims({ sub: 12345 })), 'sub');
bad('exp-string', await joseSign('ES384', keys.ec384, claims({ exp: String(NOW + 3600) })), 'exp');
bad('nonce-mismatch', await joseSign('ES384', keys.ec384, claims({ nonce: 'other' })), 'nonce', { nonce: 'n-0S6_WzA2Mj' });
bad('nonce-missing', await joseSign('ES384', keys.ec384, claims()), 'nonce', { nonce: 'n-0S6_WzA2Mj' });
bad('duplicate-claim', handSign({ alg: 'ES384', kid: keys.ec384.kid },
  JSON.stringify(claims()).replace('{', `{"iss":"${ISSUER}",`), 'ES384', keys.ec384), 'JSON');

// Encoding and structure.
{
  const t = await joseSign('ES384', keys.ec384, claims());
  const [h, p, s] = t.split('.');
  bad('two-segments', `${h}.${p}`, 'segments');
  bad('four-segments', `${h}.${p}.${s}.${s}`, 'segments');
  bad('empty', '', 'segments');
  bad('empty-header', `.${p}.${s}`, 'header');
  bad('empty-payload', `${h}..${s}`, 'payload');
  bad('padding', `${h}.${p}==.${s}`, 'base64url');
  bad('standard-base64', `${h}.${p}.${s.slice(0, -4)}ab+/`, 'base64url');
  bad('whitespace', `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`, 'base64url');
  bad('bad-length', `${h}.${p}${'A'.repeat(((1 - p.length) % 4 + 4) % 4 || 4)}.${s}`, 'base64url');
  bad('non-canonical-trailing-bits', nonCanonicalPayloadToken(), 'base64url');
  bad('huge-header', await joseSign('ES384', keys.ec384, claims(), { pad: 'x'.repeat(20000) }), 'header');
  bad('huge-token', await joseSign('ES384', keys.ec384, claims({ pad: 'x'.repeat(70000) })), 'large');
  bad('header-not-json', `${b64u('{"alg":"ES384",')}.${p}.${s}`, 'header');
  bad('header-array', `${b64u('["ES384"]')}.${p}.${s}`, 'header');
  bad('payload-not-json', handSign({ alg: 'ES384', kid: keys.ec384.kid }, 'hello, world', 'ES384', keys.ec384), 'payload');
  bad('payload-array', handSign({ alg: 'ES384', kid: keys.ec384.kid }, '[1,2,3]', 'ES384', keys.ec384), 'payload');
  bad('payload-bomb', handSign({ alg: 'ES384', kid: keys.ec384.kid },
    JSON.stringify(claims()).replace(/}$/, `,"x":${'['.repeat(5000)}${']'.repeat(5000)}}`), 'ES384', keys.ec384), 'nested');
  bad('header-bomb', `${b64u(`{"alg":"ES384","x":${'{"a":'.repeat(200)}1${'}'.repeat(200)}}`)}.${p}.${s}`, 'nested');
  bad('nul-in-claim', handSign({ alg: 'ES384', kid: keys.ec384.kid },
    JSON.stringify(claims()).replace('"alice"', '"ali\\u0000ce"'), 'ES384', keys.ec384), 'JSON');
}

const out = {
  comment: 'Generated by make-vectors.mjs; see tests/unit/test_jwt.c. expect: "ok" or an error name; message: a word the error message must contain.',
  now: NOW,
  leeway: 60,
  issuer: ISSUER,
  client_id: CLIENT,
  jwks: { keys: Object.values(keys).map((k) => k.jwk) },
  kids: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, k.kid])),
  cases,
};
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
