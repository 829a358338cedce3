// Device-code approval and denial as a person's browser would do them against the main HTTPS
// listener. Logto profile: the hop list of logto-protocol.md §2.3 / §6.3 (Logto's own
// integration test interaction/consent/device-flow.test.ts). Generic profile: the HTML device
// form, the login form, automatic consent.
import { Browser, HopError, hiddenInputs } from './browser.js';
import { GENERIC_REALM_PATH } from './provider.js';
import { currentStep, codeForStep } from './totp.js';

export { HopError };

// The next TOTP code the IdP will accept for this user (the current step, or the next one if
// the current step was already used; replay protection forbids reusing a step). Waits for a
// fresh step when both are used.
export async function nextTotpCode(user, { wait = true } = {}) {
  for (;;) {
    const step = currentStep();
    for (const s of [step, step + 1]) {
      if (user.totpLastStep === undefined || s > user.totpLastStep) {
        return { code: codeForStep(user.totpSecret, s), step: s };
      }
    }
    if (!wait) return undefined;
    const msToNext = 30_000 - (Date.now() % 30_000) + 50;
    await new Promise((r) => { setTimeout(r, msToNext); });
  }
}

function identifierFor(user) {
  if (user.username) return { type: 'username', value: user.username };
  if (user.primaryEmail) return { type: 'email', value: user.primaryEmail };
  return { type: 'phone', value: user.primaryPhone };
}

async function logtoOpenDevicePage(b) {
  await b.hop('GET', '/device', { expect: 302, location: /^\/oidc\/device$/ });
  await b.hop('GET', '/oidc/device', { expect: 302, location: /^\/device$/ });
  await b.hop('GET', '/device', { expect: 200 });
  const xsrf = b.cookie('_logto_device_flow_xsrf');
  if (!xsrf) throw new HopError('GET /oidc/device', 302, undefined, 'no _logto_device_flow_xsrf cookie was set');
  return xsrf;
}

async function logtoApprove(idp, userCode, user) {
  const b = new Browser(idp.base, { internalSecret: idp.internalSecret });
  try {
    const xsrf = await logtoOpenDevicePage(b);
    const confirm = await b.request('POST', '/oidc/device', { form: { confirm: 'yes', user_code: userCode, xsrf } });
    if (confirm.status !== 303 || !/^\/sign-in(\?|$)/.test(new URL(confirm.location ?? '/', idp.base).pathname)) {
      const err = confirm.location ? new URL(confirm.location, idp.base).searchParams.get('error') : undefined;
      throw new HopError('POST /oidc/device', confirm.status, confirm.json ?? confirm.location,
        `POST /oidc/device: ${err ?? `unexpected answer ${confirm.status} ${confirm.location ?? ''}`}`);
    }
    await b.hop('GET', confirm.location, { expect: 200 });
    await b.hop('PUT', '/api/experience', { expect: 204, json: { interactionEvent: 'SignIn' } });
    if (user.password === null) throw new HopError('POST /api/experience/verification/password', 0, undefined, 'user has no password');
    const pw = await b.hop('POST', '/api/experience/verification/password', {
      expect: 200, json: { identifier: identifierFor(user), password: user.password },
    });
    await b.hop('POST', '/api/experience/identification', { expect: 204, json: { verificationId: pw.json.verificationId } });
    let submit = await b.request('POST', '/api/experience/submit');
    if (submit.status === 403 && submit.json?.code === 'session.mfa.require_mfa_verification' && user.totpSecret) {
      const { code } = await nextTotpCode(user);
      await b.hop('POST', '/api/experience/verification/totp/verify', { expect: 200, json: { code } });
      submit = await b.request('POST', '/api/experience/submit');
    }
    if (submit.status === 422 && submit.json?.code === 'user.suggest_mfa') {
      // The sign-in page's "Skip" button.
      await b.hop('POST', '/api/experience/profile/mfa/mfa-skipped', { expect: 204 });
      submit = await b.request('POST', '/api/experience/submit');
    }
    if (submit.status !== 200 || typeof submit.json?.redirectTo !== 'string') {
      throw new HopError('POST /api/experience/submit', submit.status, submit.json ?? submit.text);
    }
    const resume = await b.hop('GET', submit.json.redirectTo, { expect: 303, location: /^\/consent(\?|$)/ });
    // 200: the consent page of app-level access control (logto-real-1.42.md D12), no way on.
    const consent = await b.hop('GET', resume.location, { expect: [200, 302] });
    if (consent.status === 200) {
      throw new HopError('GET /consent', 200, undefined,
        'GET /consent: the sign-in stopped at the consent page (no access to the application); the device code stays pending');
    }
    if (!/^\/oidc\/device\/[^/?]+$/.test(new URL(consent.location ?? '/', idp.base).pathname)) {
      throw new HopError('GET /consent', consent.status, undefined, `GET /consent: unexpected redirect to ${consent.location}`);
    }
    const done = await b.hop('GET', consent.location, { expect: 302 });
    const target = new URL(done.location ?? '/', idp.base);
    if (target.pathname !== '/device/success') {
      throw new HopError(`GET ${new URL(consent.location, idp.base).pathname}`, done.status, undefined,
        `device flow ended at ${done.location} (${target.searchParams.get('error') ?? 'no success'})`);
    }
    await b.hop('GET', done.location, { expect: 200 });
  } finally {
    b.close();
  }
}

async function logtoDeny(idp, userCode) {
  const b = new Browser(idp.base, { internalSecret: idp.internalSecret });
  try {
    const xsrf = await logtoOpenDevicePage(b);
    const r = await b.hop('POST', '/oidc/device', { expect: 302, form: { abort: 'yes', user_code: userCode, xsrf } });
    const err = new URL(r.location, idp.base).searchParams.get('error');
    if (err !== 'AbortedError') throw new HopError('POST /oidc/device', r.status, r.location, `POST /oidc/device: ${err ?? r.location}`);
  } finally {
    b.close();
  }
}

async function genericOpenForm(b, userCode) {
  const page = await b.hop('GET', `${GENERIC_REALM_PATH}/device?user_code=${encodeURIComponent(userCode)}`, { expect: 200 });
  const fields = hiddenInputs(page.text);
  if (!fields.xsrf) throw new HopError(`GET ${GENERIC_REALM_PATH}/device`, 200, undefined, 'no xsrf field in the device form');
  return fields.xsrf;
}

async function genericApprove(idp, userCode, user) {
  const b = new Browser(idp.base, { internalSecret: idp.internalSecret });
  try {
    const xsrf = await genericOpenForm(b, userCode);
    const confirm = await b.request('POST', `${GENERIC_REALM_PATH}/device`, { form: { confirm: 'yes', user_code: userCode, xsrf } });
    if (confirm.status !== 303) {
      const err = /<p id="error">([^<]*)<\/p>/.exec(confirm.text)?.[1];
      throw new HopError(`POST ${GENERIC_REALM_PATH}/device`, confirm.status, undefined,
        `POST ${GENERIC_REALM_PATH}/device: ${err ?? `unexpected answer ${confirm.status}`}`);
    }
    await b.hop('GET', confirm.location, { expect: 200 });
    const login = await b.request('POST', confirm.location, {
      form: { username: user.username ?? user.primaryEmail, password: user.password ?? '' },
    });
    if (login.status !== 303) {
      const err = /<p id="input-error">([^<]*)<\/p>/.exec(login.text)?.[1];
      throw new HopError(`POST ${new URL(confirm.location, idp.base).pathname}`, login.status, undefined,
        `login failed: ${err ?? login.status}`);
    }
    const resume = await b.hop('GET', login.location, { expect: 303 });
    const consent = await b.hop('GET', resume.location, { expect: 303 });
    const done = await b.hop('GET', consent.location, { expect: 200 });
    if (!done.text.includes('id="success"')) {
      throw new HopError(`GET ${new URL(consent.location, idp.base).pathname}`, 200, undefined, 'no success page');
    }
  } finally {
    b.close();
  }
}

async function genericDeny(idp, userCode) {
  const b = new Browser(idp.base, { internalSecret: idp.internalSecret });
  try {
    const xsrf = await genericOpenForm(b, userCode);
    const r = await b.hop('POST', `${GENERIC_REALM_PATH}/device`, { expect: 200, form: { abort: 'yes', user_code: userCode, xsrf } });
    if (!r.text.includes('AbortedError')) throw new HopError(`POST ${GENERIC_REALM_PATH}/device`, 200, undefined, 'abort was not accepted');
  } finally {
    b.close();
  }
}

export function approveDevice(idp, userCode, user) {
  return idp.profile === 'logto' ? logtoApprove(idp, userCode, user) : genericApprove(idp, userCode, user);
}

export function denyDevice(idp, userCode) {
  return idp.profile === 'logto' ? logtoDeny(idp, userCode) : genericDeny(idp, userCode);
}
