// Logto's pages outside /oidc and the Experience API (logto-protocol.md §2.3, §3.3):
//   GET /device            koa-device-flow-shortcut: no xsrf cookie -> 302 /oidc/device
//   GET /device/success, GET /sign-in   (the Experience SPA: a stub page)
//   GET /consent           koa-auto-consent for first-party apps -> 302 <returnTo>
//   /api/experience/*      routes/experience (password, identification, TOTP, submit)
import { errors } from 'oidc-provider';

import { ApiError } from './errors.js';
import { jsonBody } from './router.js';
import { relativeMinutes } from './sentinel.js';
import { randomId, isPlainObject } from './util.js';
import { matchStep } from './totp.js';
import { ORG_RESOURCE } from './store.js';
import { ORG_SCOPES } from './claims.js';
import { appAccessDenied } from './access-control.js';

const EVENTS = new Set(['SignIn', 'Register', 'ForgotPassword']);
const IDENTIFIER_TYPES = new Set(['username', 'email', 'phone']);

const spa = (title) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><div id="app">${title}</div></body></html>`;

function invalidInput(type, details) {
  return new ApiError(400, 'guard.invalid_input', { vars: { type }, details });
}

// Auto-consent (koa-auto-consent.ts + libraries/session/consent.ts). Shared with the generic
// profile, which has no organization scope gate.
export async function autoConsent(idp, ctx) {
  const provider = idp.provider;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { session, params, prompt, grantId } = details;
  if (!session) throw new ApiError(400, 'session.not_found');
  const clientId = params.client_id;
  if (!clientId || typeof clientId !== 'string') throw new errors.InvalidClient('client must be available');
  if (prompt.name !== 'consent') throw new ApiError(400, 'session.unsupported_prompt_name');

  const grant = (grantId && await provider.Grant.find(grantId))
    || new provider.Grant({ accountId: session.accountId, clientId });
  const missing = prompt.details ?? {};
  let scopes = [...(missing.missingOIDCScope ?? [])];
  if (idp.profile === 'logto' && idp.settings.orgScopesRequireResource) {
    const resources = [].concat(params.resource ?? []).flatMap((r) => String(r).split(' '));
    if (!resources.includes(ORG_RESOURCE)) {
      const gated = scopes.filter((s) => ORG_SCOPES.includes(s));
      if (gated.length) grant.rejectOIDCScope(gated.join(' '));
      scopes = scopes.filter((s) => !ORG_SCOPES.includes(s));
    }
  }
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, s] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, s.join(' '));
  }
  const newGrantId = await grant.save();
  const user = idp.userByAccountId(session.accountId);
  if (user && !user.applicationId) user.applicationId = clientId;
  return provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: newGrantId } },
    { mergeWithLastSubmission: true });
}

export function logtoUiRoutes(router, idp) {
  router.get('/device', async (ctx) => {
    if (!ctx.cookies.get('_logto_device_flow_xsrf')) {
      ctx.redirect(`/oidc/device${ctx.search}`);
      return;
    }
    ctx.type = 'html';
    ctx.body = spa('Device sign-in');
  });
  router.get('/device/success', async (ctx) => {
    ctx.type = 'html';
    ctx.body = spa('Device sign-in successful');
  });
  router.get('/sign-in', async (ctx) => {
    ctx.type = 'html';
    ctx.body = spa('Sign in');
  });
  router.get('/consent', async (ctx) => {
    // App-level access control (logto-real-1.42.md D12): a user without the app's roles is not
    // auto-consented; the SPA's consent page is all there is, the interaction stays open.
    const details = await idp.provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
    if (details?.session && appAccessDenied(idp, details.params.client_id, details.session.accountId)) {
      ctx.type = 'html';
      ctx.body = spa('Consent');
      return;
    }
    const returnTo = await autoConsent(idp, ctx);
    ctx.redirect(returnTo);
  });
}

// ---- Experience API ------------------------------------------------------------------------

async function loadInteraction(idp, ctx) {
  const details = await idp.provider.interactionDetails(ctx.req, ctx.res);
  return details;
}

function loadState(details) {
  const r = details.result;
  if (!r || typeof r !== 'object' || !EVENTS.has(r.interactionEvent)) {
    throw new ApiError(404, 'session.interaction_not_found');
  }
  return {
    interactionEvent: r.interactionEvent,
    userId: r.userId,
    profile: r.profile ?? {},
    mfa: r.mfa ?? {},
    verificationRecords: Array.isArray(r.verificationRecords) ? r.verificationRecords : [],
    captcha: r.captcha ?? { verified: false, skipped: false },
  };
}

async function saveState(idp, ctx, details, state) {
  await idp.provider.interactionResult(ctx.req, ctx.res, { ...details.result, ...state },
    { mergeWithLastSubmission: true });
}

function setRecord(state, record) {
  state.verificationRecords = [...state.verificationRecords.filter((r) => r.type !== record.type), record];
}

export function experienceRoutes(router, idp) {
  const { store, sentinel } = idp;
  const p = '/api/experience';

  router.put(p, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || !EVENTS.has(body.interactionEvent)
      || (body.captchaToken !== undefined && typeof body.captchaToken !== 'string')) {
      throw invalidInput('body', 'interactionEvent must be one of SignIn, Register, ForgotPassword');
    }
    if (body.captchaToken) {
      // No captcha provider is configured in this tenant: verification always fails.
      throw new ApiError(422, 'session.captcha_failed');
    }
    await saveState(idp, ctx, details, {
      interactionEvent: body.interactionEvent,
      userId: undefined,
      profile: {},
      mfa: {},
      verificationRecords: [],
      captcha: { verified: false, skipped: false },
    });
    ctx.status = 204;
  });

  router.put(`${p}/interaction-event`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || !EVENTS.has(body.interactionEvent)) throw invalidInput('body');
    state.interactionEvent = body.interactionEvent;
    await saveState(idp, ctx, details, state);
    ctx.status = 204;
  });

  router.get(`${p}/interaction`, async (ctx) => {
    const state = loadState(await loadInteraction(idp, ctx));
    ctx.body = state;
  });

  router.post(`${p}/verification/password`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    const body = jsonBody(ctx);
    const identifier = body?.identifier;
    if (!isPlainObject(identifier) || !IDENTIFIER_TYPES.has(identifier.type)
      || typeof identifier.value !== 'string' || typeof body.password !== 'string' || !body.password) {
      throw invalidInput('body', 'expected {"identifier":{"type":"username|email|phone","value":string},"password":string}');
    }
    const user = store.findUserByIdentifier(identifier,
      { caseSensitiveUsername: idp.settings.usernameCaseSensitive });
    let error;
    if (!user || user.password === null || user.password !== body.password) {
      error = new ApiError(422, 'session.invalid_credentials');
    } else if (user.isSuspended) {
      error = new ApiError(401, 'user.suspended');
    }
    const decision = sentinel.report(identifier.value, 'password', Boolean(error));
    if (decision.blocked) {
      throw new ApiError(400, 'session.verification_blocked_too_many_attempts',
        { vars: { relativeTime: relativeMinutes(decision.expiresAt) } });
    }
    if (error) throw error;
    const record = { id: randomId(21), type: 'Password', identifier, verified: true };
    setRecord(state, record);
    await saveState(idp, ctx, details, state);
    ctx.body = { verificationId: record.id };
  });

  router.post(`${p}/identification`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    const body = jsonBody(ctx);
    if (!isPlainObject(body)) throw invalidInput('body');
    if (state.interactionEvent !== 'SignIn') {
      // Registration and password reset are not implemented by this test IdP.
      throw new ApiError(400, 'session.invalid_interaction_type');
    }
    if (!body.verificationId) {
      throw new ApiError(400, 'guard.invalid_input', { details: 'verificationId is missing', vars: { type: 'body' } });
    }
    const record = state.verificationRecords.find((r) => r.id === body.verificationId);
    if (!record) throw new ApiError(404, 'session.verification_session_not_found');
    if (record.type !== 'Password' || !record.verified) throw new ApiError(400, 'session.verification_failed');
    assertSignInMethodEnabled(idp, record.identifier);
    const user = store.findUserByIdentifier(record.identifier,
      { caseSensitiveUsername: idp.settings.usernameCaseSensitive });
    if (!user) {
      throw new ApiError(404, 'user.user_not_exist', { data: { identifier: record.identifier.value }, vars: { identifier: record.identifier.value } });
    }
    if (user.isSuspended) throw new ApiError(401, 'user.suspended');
    if (state.userId) {
      if (state.userId !== user.id) throw new ApiError(409, 'session.identity_conflict');
      ctx.status = 204;
      return;
    }
    state.userId = user.id;
    await saveState(idp, ctx, details, state);
    ctx.status = 204;
  });

  router.post(`${p}/verification/totp/verify`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || typeof body.code !== 'string') throw invalidInput('body');
    if (!state.userId) throw new ApiError(404, 'session.identifier_not_found');
    if (body.verificationId) {
      // Binding a new TOTP secret (verification/totp/secret) is not implemented.
      throw new ApiError(404, 'session.verification_session_not_found');
    }
    const user = store.users.get(state.userId);
    let step;
    let ok = false;
    if (user?.totpSecret) {
      step = matchStep(user.totpSecret, body.code);
      // Replay protection: a time step can be used once (lastUsedTimeStep).
      ok = step !== undefined && (user.totpLastStep === undefined || step > user.totpLastStep);
    }
    const decision = sentinel.report(state.userId, 'MfaTotp', !ok);
    if (decision.blocked) {
      throw new ApiError(400, 'session.verification_blocked_too_many_attempts',
        { vars: { relativeTime: relativeMinutes(decision.expiresAt) } });
    }
    // Logto: assertThat(..., 'session.mfa.invalid_totp_code') -> RequestError default status 400
    if (!ok) throw new ApiError(400, 'session.mfa.invalid_totp_code');
    user.totpLastStep = step;
    const record = { id: randomId(21), type: 'Totp', userId: user.id, verified: true };
    setRecord(state, record);
    await saveState(idp, ctx, details, state);
    ctx.body = { verificationId: record.id };
  });

  // ---- MFA policy: optional MFA can be skipped (logto-real-1.42.md D1, D2) ----
  // POST /api/experience/profile/mfa/mfa-skipped: the sign-in page's "Skip" button.
  router.post(`${p}/profile/mfa/mfa-skipped`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    if (!state.userId) throw new ApiError(404, 'session.identifier_not_found');
    if (idp.settings.mfaPolicy === 'Mandatory') throw new ApiError(422, 'session.mfa.mfa_policy_not_user_controlled');
    state.mfa = { ...state.mfa, skipped: true };
    await saveState(idp, ctx, details, state);
    ctx.status = 204;
  });

  router.post(`${p}/submit`, async (ctx) => {
    const details = await loadInteraction(idp, ctx);
    const state = loadState(details);
    if (idp.settings.captcha && !state.captcha.verified && !state.captcha.skipped) {
      throw new ApiError(422, 'session.captcha_required');
    }
    if (!state.userId) throw new ApiError(404, 'session.identifier_not_found');
    const user = store.users.get(state.userId);
    if (!user) {
      throw new ApiError(404, 'entity.not_exists_with_id', { vars: { name: 'users', id: state.userId } });
    }
    if (state.interactionEvent !== 'SignIn') throw new ApiError(400, 'session.invalid_interaction_type');
    if (user.totpSecret && !state.verificationRecords.some((r) => r.type === 'Totp' && r.verified && r.userId === user.id)) {
      throw new ApiError(403, 'session.mfa.require_mfa_verification',
        { data: { availableFactors: ['Totp'], maskedIdentifiers: {} } });
    }
    assertMfaPolicy(idp, state, user);
    if (state.mfa.skipped) user.mfaSkipped = true;
    user.lastSignInAt = Date.now();
    store.touch(user);
    const redirectTo = await idp.provider.interactionResult(ctx.req, ctx.res,
      { login: { accountId: user.id }, ...state }, { mergeWithLastSubmission: true });
    ctx.body = { redirectTo };
  });
}

// ---- sign-in experience settings (logto-real-1.42.md D1-D3) --------------------------------
// Logto's mfa.policy values; factors are the sign-in experience's MFA factors (["Totp"]).
export const MFA_POLICIES = ['UserControlled', 'PromptAtSignInAndSignUp', 'PromptOnlyAtSignIn',
  'NoPrompt', 'Mandatory'];

// identification: the identifier type must be an enabled password sign-in method
// (422 user.sign_in_method_not_enabled, after the password itself was verified).
function assertSignInMethodEnabled(idp, identifier) {
  if (!idp.settings.passwordSignIn.includes(identifier.type)) {
    throw new ApiError(422, 'user.sign_in_method_not_enabled');
  }
}

// submit, after any MFA verification: a user without MFA under a sign-in experience with MFA
// factors gets 422 user.missing_mfa (Mandatory) or user.suggest_mfa (every policy but
// NoPrompt) unless the skip is on the interaction or remembered on the user
// (classes/mfa.ts assertUserMandatoryMfaFulfilled, assertOptionalMfaEnablement).
function assertMfaPolicy(idp, state, user) {
  const { mfaFactors: factors, mfaPolicy: policy } = idp.settings;
  if (!factors.length || user.totpSecret) return;
  if (policy === 'Mandatory') {
    throw new ApiError(422, 'user.missing_mfa', { data: { availableFactors: factors } });
  }
  if (policy === 'NoPrompt' || user.mfaSkipped || state.mfa.skipped) return;
  throw new ApiError(422, 'user.suggest_mfa', { data: { availableFactors: factors, skippable: true } });
}
