// Logto profile: Experience API password sign-in -> authorization code (PKCE) -> tokens
// (logto-protocol.md §3.3), lockout, suspension, MFA (TOTP), captcha.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  startIdp, experienceLogin, exchangeCode, decodeJwt, userinfo, pkce,
} from './helpers.js';
import { hotp, currentStep, matchStep } from '../lib/totp.js';

const DAVE_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const matchStepOf = (code) => matchStep(DAVE_SECRET, code);
let idp;
before(async () => { idp = await startIdp(); });
after(async () => { await idp?.stop(); });

async function openInteraction(scope = 'openid profile') {
  const b = idp.browser();
  const { challenge } = pkce();
  const q = new URLSearchParams({
    client_id: 'native-app', redirect_uri: 'http://127.0.0.1/callback', response_type: 'code', scope,
    code_challenge: challenge, code_challenge_method: 'S256', prompt: 'consent', state: 'st',
  });
  const r = await b.request('GET', `/oidc/auth?${q}`);
  assert.equal(r.status, 303);
  return b;
}

test('password sign-in: every hop as in Logto (303 /sign-in ... 303 callback with code, state, iss)', async () => {
  const r = await experienceLogin(idp, {
    identifier: { type: 'username', value: 'alice' }, password: 'alice-pass-1',
    scope: 'openid offline_access profile roles',
  });
  const h = r.hops;
  assert.equal(h[0].status, 303);
  assert.equal(h[0].location, '/sign-in?app_id=native-app');
  const setCookies = r.auth.headers['set-cookie'].map((c) => c.split('=')[0]);
  assert.ok(setCookies.includes('_interaction'));
  assert.ok(setCookies.includes('_interaction_resume'));
  assert.ok(setCookies.includes('_logto'));
  assert.deepEqual(h.slice(1).map((x) => [x.method, x.path, x.status]), [
    ['PUT', '/api/experience', 204],
    ['POST', '/api/experience/verification/password', 200],
    ['POST', '/api/experience/identification', 204],
    ['POST', '/api/experience/submit', 200],
    ['GET', h[5].path, 303],
    ['GET', '/consent', 302],
    ['GET', h[7].path, 303],
  ]);
  assert.match(h[2].json.verificationId, /^[0-9a-z]{21}$/);
  assert.match(h[4].json.redirectTo, new RegExp(`^${idp.url}/oidc/auth/[^/]+$`));
  assert.equal(h[5].location, '/consent?app_id=native-app');
  assert.match(h[6].location, new RegExp(`^${idp.url}/oidc/auth/[^/]+$`));
  assert.notEqual(h[6].location, h[4].json.redirectTo);
  assert.equal(`${r.callback.origin}${r.callback.pathname}`, 'http://127.0.0.1/callback');
  assert.equal(r.returnedState, r.state);
  assert.equal(r.iss, idp.issuer);
  assert.ok(r.code);

  const t = await exchangeCode(idp, r.code, r.verifier);
  assert.equal(t.status, 200, t.text);
  assert.ok(t.json.refresh_token, 'offline_access kept with prompt=consent');
  const p = decodeJwt(t.json.id_token).payload;
  assert.equal(p.aud, 'native-app');
  assert.equal(p.sub, 'e738g7numf03');
  assert.deepEqual(p.roles, ['admin']);
  assert.equal(decodeJwt(t.json.id_token).header.typ, undefined);
  assert.equal(p.at_hash, undefined);
  assert.equal((await userinfo(idp, t.json.access_token)).status, 200);
  // The code is single use.
  const again = await exchangeCode(idp, r.code, r.verifier);
  assert.equal(again.json.error, 'invalid_grant');
});

test('offline_access is dropped without prompt=consent', async () => {
  const r = await experienceLogin(idp, {
    identifier: { type: 'username', value: 'bob' }, password: 'bob-pass-1', scope: 'openid offline_access', prompt: null,
  });
  const t = await exchangeCode(idp, r.code, r.verifier);
  assert.equal(t.status, 200);
  assert.equal(t.json.refresh_token, undefined);
  assert.equal(t.json.scope, 'openid');
});

test('PKCE: required, S256 only, verifier checked', async () => {
  const b = idp.browser();
  const base = {
    client_id: 'native-app', redirect_uri: 'http://127.0.0.1/callback', response_type: 'code', scope: 'openid', state: 's',
  };
  const none = await b.request('GET', `/oidc/auth?${new URLSearchParams(base)}`);
  assert.equal(none.status, 303);
  assert.match(none.location, /error=invalid_request/);
  assert.match(new URL(none.location).searchParams.get("error_description"), /PKCE/);
  const plain = await b.request('GET', `/oidc/auth?${new URLSearchParams({ ...base, code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' })}`);
  assert.match(plain.location, /error=invalid_request/);
  const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'bob' }, password: 'bob-pass-1' });
  const bad = await exchangeCode(idp, r.code, pkce().verifier);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'invalid_grant');
});

test('email identifier (email-only user) and case-sensitive usernames', async () => {
  const r = await experienceLogin(idp, { identifier: { type: 'email', value: 'FRANK@example.com' }, password: 'frank-pass-1' });
  const t = await exchangeCode(idp, r.code, r.verifier);
  assert.equal(decodeJwt(t.json.id_token).payload.username, null);
  const ok = await experienceLogin(idp, { identifier: { type: 'username', value: 'Grace_Hopper' }, password: 'grace-pass-1' });
  assert.ok(ok.code);
  const lower = await experienceLogin(idp, { identifier: { type: 'username', value: 'grace_hopper' }, password: 'grace-pass-1' });
  assert.equal(lower.failed.status, 422);
  assert.equal(lower.failed.json.code, 'session.invalid_credentials');
});

test('wrong password: 422 session.invalid_credentials with Logto\'s body shape', async () => {
  const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'erin' }, password: 'nope' });
  assert.equal(r.failed.status, 422);
  assert.deepEqual(r.failed.json, {
    code: 'session.invalid_credentials', message: 'Incorrect account or password. Please check your input.',
  });
  const unknown = await experienceLogin(idp, { identifier: { type: 'username', value: 'nobody' }, password: 'x' });
  assert.equal(unknown.failed.json.code, 'session.invalid_credentials');
  const noPw = await experienceLogin(idp, { identifier: { type: 'username', value: 'henry' }, password: 'x' });
  assert.equal(noPw.failed.json.code, 'session.invalid_credentials');
});

test('lockout: the 5th failure blocks (400), even the right password; unlock through the control API', async () => {
  await idp.ctlOk('POST', '/users', { username: 'locky', password: 'locky-pass-1' });
  try {
    for (let i = 1; i <= 4; i += 1) {
      const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky' }, password: `bad${i}` });
      assert.equal(r.failed.status, 422, `attempt ${i}`);
    }
    const fifth = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky' }, password: 'bad5' });
    assert.equal(fifth.failed.status, 400);
    assert.equal(fifth.failed.json.code, 'session.verification_blocked_too_many_attempts');
    assert.equal(fifth.failed.json.message, 'Too many attempts in a short time. Please try again in 60 minutes.');
    const right = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky' }, password: 'locky-pass-1' });
    assert.equal(right.failed.status, 400);
    await idp.ctlOk('POST', '/users/locky/unlock');
    const after0 = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky' }, password: 'locky-pass-1' });
    assert.ok(after0.code);
  } finally {
    await idp.ctlOk('DELETE', '/users/locky');
  }
});

test('lockout window passes after lockout_seconds', async () => {
  await idp.ctlOk('POST', '/users', { username: 'locky2', password: 'locky2-pass-1' });
  await idp.ctlOk('POST', '/settings', { max_attempts: 2, lockout_seconds: 1 });
  try {
    await experienceLogin(idp, { identifier: { type: 'username', value: 'locky2' }, password: 'bad' });
    const blocked = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky2' }, password: 'bad' });
    assert.equal(blocked.failed.status, 400);
    await new Promise((r) => { setTimeout(r, 1100); });
    await idp.ctlOk('POST', '/settings', { max_attempts: 5 });
    const ok = await experienceLogin(idp, { identifier: { type: 'username', value: 'locky2' }, password: 'locky2-pass-1' });
    assert.ok(ok.code, JSON.stringify(ok.failed?.json));
  } finally {
    await idp.ctlOk('POST', '/settings', { max_attempts: 5, lockout_seconds: 3600 });
    await idp.ctlOk('DELETE', '/users/locky2');
  }
});

test('suspended user: 401 user.suspended at password verification and at identification', async () => {
  const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'carol' }, password: 'carol-pass-1' });
  assert.equal(r.failed.status, 401);
  assert.deepEqual(r.failed.json, { code: 'user.suspended', message: 'This account is suspended.' });
  const wrong = await experienceLogin(idp, { identifier: { type: 'username', value: 'carol' }, password: 'bad' });
  assert.equal(wrong.failed.status, 422, 'a wrong password is reported before suspension');

  await idp.ctlOk('POST', '/users', { username: 'susp', password: 'susp-pass-1' });
  try {
    const b = await openInteraction();
    await b.request('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
    const pw = await b.request('POST', '/api/experience/verification/password', {
      json: { identifier: { type: 'username', value: 'susp' }, password: 'susp-pass-1' },
    });
    assert.equal(pw.status, 200);
    await idp.ctlOk('PATCH', '/users/susp', { suspended: true });
    const id = await b.request('POST', '/api/experience/identification', { json: { verificationId: pw.json.verificationId } });
    assert.equal(id.status, 401);
    assert.equal(id.json.code, 'user.suspended');
    b.close();
  } finally {
    await idp.ctlOk('DELETE', '/users/susp');
  }
});

test('MFA: 403 require_mfa_verification with availableFactors ["Totp"], TOTP verify, then submit', async () => {
  const plain = await experienceLogin(idp, { identifier: { type: 'username', value: 'dave' }, password: 'dave-pass-1' });
  assert.equal(plain.failed.status, 403);
  assert.deepEqual(plain.failed.json, {
    code: 'session.mfa.require_mfa_verification',
    data: { availableFactors: ['Totp'], maskedIdentifiers: {} },
    message: 'Mfa verification is required to sign in.',
  });

  const b = await openInteraction();
  await b.request('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
  const pw = await b.request('POST', '/api/experience/verification/password', {
    json: { identifier: { type: 'username', value: 'dave' }, password: 'dave-pass-1' },
  });
  await b.request('POST', '/api/experience/identification', { json: { verificationId: pw.json.verificationId } });
  const near = new Set([-1, 0, 1, 2].map((d) => hotp(DAVE_SECRET, currentStep() + d)));
  const wrongCode = ['000000', '111111', '222222', '333333', '444444'].find((c) => !near.has(c));
  const wrong = await b.request('POST', '/api/experience/verification/totp/verify', { json: { code: wrongCode } });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.code, 'session.mfa.invalid_totp_code');
  const { code } = await idp.ctlOk('GET', '/users/dave/totp');
  assert.match(code, /^\d{6}$/);
  const ok = await b.request('POST', '/api/experience/verification/totp/verify', { json: { code } });
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.json.verificationId, /^[0-9a-z]{21}$/);
  const submit = await b.request('POST', '/api/experience/submit');
  assert.equal(submit.status, 200);
  assert.ok(submit.json.redirectTo);
  b.close();

  // Replay protection: the same code (time step) cannot be used twice.
  const b2 = await openInteraction();
  await b2.request('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
  const pw2 = await b2.request('POST', '/api/experience/verification/password', {
    json: { identifier: { type: 'username', value: 'dave' }, password: 'dave-pass-1' },
  });
  await b2.request('POST', '/api/experience/identification', { json: { verificationId: pw2.json.verificationId } });
  const replay = await b2.request('POST', '/api/experience/verification/totp/verify', { json: { code } });
  assert.equal(replay.status, 400);
  assert.equal(replay.json.code, 'session.mfa.invalid_totp_code');
  const fresh = await idp.ctlOk('GET', '/users/dave/totp');
  assert.ok(fresh.step > matchStepOf(code));
  const ok2 = await b2.request('POST', '/api/experience/verification/totp/verify', { json: { code: fresh.code } });
  assert.equal(ok2.status, 200);
  b2.close();
});

test('TOTP codes are RFC 6238 (SHA-1, 6 digits, 30 s)', () => {
  // RFC 6238 appendix B test vector (SHA-1, secret "12345678901234567890").
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  assert.equal(hotp(secret, Math.floor(59 / 30)), '287082');
  assert.equal(hotp(secret, Math.floor(1111111109 / 30)), '081804');
  assert.equal(hotp(secret, Math.floor(20000000000 / 30)), '353130');
});

test('captcha switch: 422 session.captcha_required at submit', async () => {
  await idp.ctlOk('POST', '/settings', { captcha: true });
  try {
    const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'alice' }, password: 'alice-pass-1' });
    assert.equal(r.failed.status, 422);
    assert.equal(r.failed.json.code, 'session.captcha_required');
    assert.equal(r.hops.at(-1).path, '/api/experience/submit');
  } finally {
    await idp.ctlOk('POST', '/settings', { captcha: false });
  }
});

test('no interaction: session.not_found; no PUT first: session.interaction_not_found', async () => {
  const b = idp.browser();
  const r = await b.request('POST', '/api/experience/verification/password', {
    json: { identifier: { type: 'username', value: 'alice' }, password: 'alice-pass-1' },
  });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'session.not_found');
  assert.equal(r.json.message, 'Session not found. Please go back and sign in again.');
  const put = await b.request('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
  assert.equal(put.json.code, 'session.not_found');
  b.close();

  const b2 = await openInteraction();
  const early = await b2.request('POST', '/api/experience/submit');
  assert.equal(early.status, 404);
  assert.equal(early.json.code, 'session.interaction_not_found');
  await b2.request('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
  const noUser = await b2.request('POST', '/api/experience/submit');
  assert.equal(noUser.status, 404);
  assert.equal(noUser.json.code, 'session.identifier_not_found');
  const badBody = await b2.request('POST', '/api/experience/verification/password', { json: { password: 'x' } });
  assert.equal(badBody.status, 400);
  assert.equal(badBody.json.code, 'guard.invalid_input');
  const noId = await b2.request('POST', '/api/experience/identification', { json: {} });
  assert.equal(noId.status, 400);
  const unknownId = await b2.request('POST', '/api/experience/identification', { json: { verificationId: 'nope' } });
  assert.equal(unknownId.status, 404);
  assert.equal(unknownId.json.code, 'session.verification_session_not_found');
  b2.close();
});

test('consent without an interaction is session.not_found', async () => {
  const r = await idp.browser().request('GET', '/consent?app_id=native-app');
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'session.not_found');
});

// ---- sign-in experience: MFA policy, sign-in methods (logto-real-1.42.md D1-D3) ----

test('optional MFA (TOTP factor, UserControlled): 422 user.suggest_mfa, mfa-skipped 204, remembered', async () => {
  await idp.ctlOk('POST', '/settings', { mfa_factors: ['Totp'], mfa_policy: 'UserControlled' });
  try {
    const bob = { identifier: { type: 'username', value: 'bob' }, password: 'bob-pass-1' };
    const r = await experienceLogin(idp, bob);
    assert.equal(r.failed.status, 422);
    assert.equal(r.failed.json.code, 'user.suggest_mfa');
    assert.deepEqual(r.failed.json.data, { availableFactors: ['Totp'], skippable: true });
    assert.equal((await idp.ctlOk('GET', '/users/bob')).mfa_skipped, false);
    const skipped = await experienceLogin(idp, { ...bob, skipMfa: true });
    assert.ok(skipped.code, JSON.stringify(skipped.failed?.json));
    assert.deepEqual(skipped.hops.slice(4, 7).map((h) => [h.path, h.status]), [
      ['/api/experience/submit', 422], ['/api/experience/profile/mfa/mfa-skipped', 204], ['/api/experience/submit', 200],
    ]);
    assert.equal((await idp.ctlOk('GET', '/users/bob')).mfa_skipped, true);
    const again = await experienceLogin(idp, bob);
    assert.ok(again.code, 'the skip is remembered on the user');
    // The other prompting policies suggest too; NoPrompt does not.
    await idp.ctlOk('PATCH', '/users/bob', { mfa_skipped: false });
    for (const policy of ['PromptAtSignInAndSignUp', 'PromptOnlyAtSignIn']) {
      await idp.ctlOk('POST', '/settings', { mfa_policy: policy });
      assert.equal((await experienceLogin(idp, bob)).failed.json.code, 'user.suggest_mfa', policy);
    }
    await idp.ctlOk('POST', '/settings', { mfa_policy: 'NoPrompt' });
    assert.ok((await experienceLogin(idp, bob)).code, 'NoPrompt');
    // A user with TOTP is asked for the code, not the suggestion.
    await idp.ctlOk('POST', '/settings', { mfa_policy: 'UserControlled' });
    const dave = await experienceLogin(idp, { identifier: { type: 'username', value: 'dave' }, password: 'dave-pass-1' });
    assert.equal(dave.failed.json.code, 'session.mfa.require_mfa_verification');
  } finally {
    await idp.ctlOk('POST', '/settings', { mfa_factors: [], mfa_policy: 'UserControlled' });
    await idp.ctlOk('PATCH', '/users/bob', { mfa_skipped: false });
  }
});

test('mandatory MFA: 422 user.missing_mfa with the factors; mfa-skipped refused', async () => {
  await idp.ctlOk('POST', '/settings', { mfa_factors: ['Totp'], mfa_policy: 'Mandatory' });
  try {
    const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'erin' }, password: 'erin-pass-1', skipMfa: true });
    assert.equal(r.failed.status, 422);
    assert.deepEqual(r.failed.json, {
      code: 'user.missing_mfa', data: { availableFactors: ['Totp'] },
      message: 'You need to bind additional MFA before signing-in.',
    });
    const b = r.browser;
    const skip = await b.request('POST', '/api/experience/profile/mfa/mfa-skipped');
    assert.equal(skip.status, 422);
    assert.equal(skip.json.code, 'session.mfa.mfa_policy_not_user_controlled');
    b.close();
  } finally {
    await idp.ctlOk('POST', '/settings', { mfa_factors: [], mfa_policy: 'UserControlled' });
  }
});

test('sign-in method not enabled: password verified, then 422 at identification', async () => {
  await idp.ctlOk('POST', '/settings', { password_sign_in: ['email'] });
  try {
    const r = await experienceLogin(idp, { identifier: { type: 'username', value: 'alice' }, password: 'alice-pass-1' });
    assert.equal(r.failed.status, 422);
    assert.deepEqual(r.failed.json, { code: 'user.sign_in_method_not_enabled', message: 'This sign-in method is not enabled.' });
    assert.equal(r.hops.at(-1).path, '/api/experience/identification');
    assert.equal(r.hops.at(-2).status, 200, 'the password itself was accepted');
    const byMail = await experienceLogin(idp, { identifier: { type: 'email', value: 'alice@example.com' }, password: 'alice-pass-1' });
    assert.ok(byMail.code);
    assert.equal((await idp.ctl('POST', '/settings', { password_sign_in: ['nope'] })).status, 400);
  } finally {
    await idp.ctlOk('POST', '/settings', { password_sign_in: ['username', 'email', 'phone'] });
  }
});
