// Control API: plain HTTP JSON on its own 127.0.0.1 listener (so the main HTTPS listener can
// be stopped and started). The contract is documented in tests/idp/README.md.
import Koa from 'koa';

import { Router } from './router.js';
import { StoreError } from './store.js';
import { approveDevice, denyDevice, nextTotpCode, HopError } from './approve.js';
import { isPlainObject } from './util.js';
import { MFA_POLICIES } from './experience.js';
import { accessControlRoutes } from './access-control.js';
import { REVOCATION_PUBLIC } from './revocation.js';
import { normalize as normalizeUserCode } from 'oidc-provider/lib/helpers/user_codes.js';

class ControlError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function body(ctx) {
  const raw = ctx.req.rawBody;
  if (!raw || raw.length === 0) return {};
  let parsed;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new ControlError(400, `invalid JSON body: ${e.message}`);
  }
  if (!isPlainObject(parsed)) throw new ControlError(400, 'JSON body must be an object');
  return parsed;
}

function userRecord(idp, u) {
  const { store } = idp;
  return {
    id: u.id,
    sub: idp.profile === 'logto' ? u.id : store.genericSub(u),
    username: u.username,
    email: u.primaryEmail,
    phone: u.primaryPhone,
    name: u.name,
    password: u.password,
    roles: store.userRoles(u).map((r) => r.name),
    organizations: store.userOrganizations(u).map(({ org, organizationRoles }) => ({
      id: org.id, name: org.name, roles: organizationRoles.map((r) => r.name),
    })),
    groups: store.genericGroups(u),
    suspended: u.isSuspended,
    custom_data: u.customData,
    totp: u.totpSecret !== null,
    mfa_skipped: Boolean(u.mfaSkipped),
    created_at: u.createdAt,
    updated_at: u.updatedAt,
    last_sign_in_at: u.lastSignInAt,
  };
}

// In the order the device_code grant checks them: a consumed code is invalid_grant, an
// expired one expired_token (even if approved or denied), then access_denied, then tokens.
function deviceStatus(row, now = Date.now()) {
  const p = row.payload;
  if (row.consumedAt || p.consumed) return 'consumed';
  if (p.exp * 1000 <= now) return 'expired';
  if (p.error) return 'denied';
  if (p.accountId) return 'approved';
  return 'pending';
}

function findDeviceRow(idp, userCode) {
  if (typeof userCode !== 'string' || !userCode) throw new ControlError(400, 'user_code required');
  const normalized = normalizeUserCode(userCode);
  const id = idp.storage.userCodes.get(normalized);
  const row = id === undefined ? undefined : idp.storage.rows.get(`DeviceCode:${id}`);
  if (!row) throw new ControlError(404, `no device code with user_code ${userCode}`);
  return row;
}

function displayUserCode(normalized) {
  return normalized.length === 8 ? `${normalized.slice(0, 4)}-${normalized.slice(4)}` : normalized;
}

export function createControlApp(idp) {
  const { store } = idp;
  const app = new Koa();
  app.silent = true;
  const r = new Router();

  const user = (ctx) => {
    const u = store.findUserByKey(ctx.params.username);
    if (!u) throw new ControlError(404, `no user ${ctx.params.username}`);
    return u;
  };

  r.get('/health', async (ctx) => {
    ctx.body = { ok: true, profile: idp.profile, up: idp.main.up };
  });

  // ---- device codes ----
  r.get('/device', async (ctx) => {
    const out = [];
    for (const row of idp.storage.entries('DeviceCode')) {
      const p = row.payload;
      out.push({
        user_code: displayUserCode(p.userCode),
        client_id: p.clientId,
        status: deviceStatus(row),
        scope: p.params?.scope ?? p.scope ?? '',
        account_id: p.accountId ?? null,
        expires_at: p.exp * 1000,
      });
    }
    ctx.body = out;
  });

  r.post('/device/approve', async (ctx) => {
    const b = body(ctx);
    const row = findDeviceRow(idp, b.user_code);
    const u = store.findUserByKey(b.username);
    if (!u) throw new ControlError(404, `no user ${b.username}`);
    try {
      await approveDevice(idp, displayUserCode(row.payload.userCode), u);
    } catch (e) {
      if (e instanceof HopError) {
        throw new ControlError(409, e.message, { hop: e.hop, status: e.status, body: e.body });
      }
      throw e;
    }
    ctx.body = { ok: true };
  });

  r.post('/device/deny', async (ctx) => {
    const row = findDeviceRow(idp, body(ctx).user_code);
    try {
      await denyDevice(idp, displayUserCode(row.payload.userCode));
    } catch (e) {
      if (e instanceof HopError) throw new ControlError(409, e.message, { hop: e.hop, status: e.status, body: e.body });
      throw e;
    }
    ctx.body = { ok: true };
  });

  r.post('/device/expire', async (ctx) => {
    const row = findDeviceRow(idp, body(ctx).user_code);
    row.payload.exp = Math.floor(Date.now() / 1000) - 1;
    ctx.body = { ok: true };
  });

  // ---- users ----
  r.get('/users', async (ctx) => {
    ctx.body = store.sortedUsers().map((u) => ({ id: u.id, username: u.username, email: u.primaryEmail }));
  });

  r.get('/users/:username', async (ctx) => {
    ctx.body = userRecord(idp, user(ctx));
  });

  r.post('/users', async (ctx) => {
    const u = store.createUser(body(ctx));
    ctx.status = 201;
    ctx.body = userRecord(idp, u);
  });

  r.patch('/users/:username', async (ctx) => {
    const u = user(ctx);
    const patch = body(ctx);
    const wasSuspended = u.isSuspended;
    store.updateUser(u, patch);
    if (u.isSuspended && !wasSuspended) idp.storage.revokeAccount(idp.accountIdOf(u));
    ctx.body = userRecord(idp, u);
  });

  r.delete('/users/:username', async (ctx) => {
    const u = user(ctx);
    idp.storage.revokeAccount(idp.accountIdOf(u));
    store.deleteUser(u);
    idp.sentinel.clear([u.username, u.primaryEmail, u.primaryPhone, u.id]);
    ctx.body = { ok: true };
  });

  r.post('/users/:username/unlock', async (ctx) => {
    const u = user(ctx);
    idp.sentinel.clear([u.username, u.primaryEmail, u.primaryPhone, u.id]);
    ctx.body = { ok: true };
  });

  r.post('/users/:username/revoke', async (ctx) => {
    idp.storage.revokeAccount(idp.accountIdOf(user(ctx)));
    ctx.body = { ok: true };
  });

  r.get('/users/:username/totp', async (ctx) => {
    const u = user(ctx);
    if (!u.totpSecret) throw new ControlError(404, `user ${ctx.params.username} has no TOTP secret`);
    const { code, step } = await nextTotpCode(u);
    ctx.body = { code, step };
  });

  r.post('/users/:username/pats', async (ctx) => {
    const u = user(ctx);
    const b = body(ctx);
    if (b.expires_at !== undefined && b.expires_at !== null && typeof b.expires_at !== 'number') {
      throw new ControlError(400, 'expires_at must be a number (ms since epoch) or null');
    }
    const pat = store.addPat(u, { name: b.name, value: b.value, expires_at: b.expires_at ?? null });
    ctx.status = 201;
    ctx.body = { name: pat.name, value: pat.value, expires_at: pat.expiresAt };
  });

  r.get('/users/:username/grants', async (ctx) => {
    const counts = idp.storage.liveCounts(idp.accountIdOf(user(ctx)));
    ctx.body = { active: counts.refresh_tokens, ...counts };
  });

  // ---- roles / organizations ----
  r.post('/roles', async (ctx) => {
    const b = body(ctx);
    const role = store.addRole({ name: b.name, description: b.description, scopes: b.scopes });
    ctx.status = 201;
    ctx.body = { id: role.id, name: role.name, description: role.description };
  });

  r.delete('/roles/:name', async (ctx) => {
    store.deleteRole(ctx.params.name);
    ctx.body = { ok: true };
  });

  r.post('/organizations', async (ctx) => {
    const b = body(ctx);
    if (b.id !== undefined && (typeof b.id !== 'string' || !/^[0-9a-z]{1,21}$/.test(b.id))) {
      throw new ControlError(400, 'organization id must match [0-9a-z]{1,21}');
    }
    const org = store.addOrganization({ id: b.id, name: b.name, description: b.description ?? null });
    ctx.status = 201;
    ctx.body = { id: org.id, name: org.name, description: org.description };
  });

  r.patch('/organizations/:id', async (ctx) => {
    const b = body(ctx);
    const org = store.orgs.get(ctx.params.id);
    if (!org) throw new ControlError(404, `no organization ${ctx.params.id}`);
    for (const [k, v] of Object.entries(b)) {
      if (k !== 'is_mfa_required' || typeof v !== 'boolean') throw new ControlError(400, 'only is_mfa_required (boolean) can be changed');
      org.isMfaRequired = v;
    }
    ctx.body = { id: org.id, name: org.name, is_mfa_required: org.isMfaRequired };
  });

  r.delete('/organizations/:id', async (ctx) => {
    store.deleteOrganization(ctx.params.id);
    ctx.body = { ok: true };
  });

  r.post('/organization-roles', async (ctx) => {
    const b = body(ctx);
    const role = store.addOrgRole({ name: b.name, description: b.description, scopes: b.scopes });
    ctx.status = 201;
    ctx.body = { id: role.id, name: role.name };
  });

  // ---- keys ----
  r.get('/keys', async (ctx) => {
    ctx.body = idp.keyRing.describe();
  });

  r.post('/keys/rotate', async (ctx) => {
    const b = body(ctx);
    const type = b.type ?? 'EC';
    if (!['EC', 'RSA'].includes(type)) throw new ControlError(400, 'type must be "EC" or "RSA"');
    const key = await idp.rotateKeys(type);
    ctx.body = { kid: key.kid, alg: key.alg };
  });

  // ---- app-level access control (access-control.js) ----
  accessControlRoutes(r, idp, body, ControlError);

  // ---- settings ----
  const settingsOut = () => ({
    captcha: idp.settings.captcha,
    max_attempts: idp.settings.maxAttempts,
    lockout_seconds: idp.settings.lockoutSeconds,
    username_case_sensitive: idp.settings.usernameCaseSensitive,
    org_scopes_require_resource: idp.settings.orgScopesRequireResource,
    jwks_alg_use: idp.settings.jwksAlgUse,
    refresh_reuse_leeway: idp.storage.refreshReuseLeeway,
    device_interval: idp.deviceInterval,
    mfa_factors: idp.settings.mfaFactors,
    mfa_policy: idp.settings.mfaPolicy,
    password_sign_in: idp.settings.passwordSignIn,
    allow_token_exchange: idp.settings.allowTokenExchange,
    password_grant_listed: idp.settings.passwordGrantListed,
    device_grant_listed: idp.settings.deviceGrantListed,
    password_grant: idp.settings.passwordGrant,
    bare_token_errors: idp.settings.bareTokenErrors,
    revocation_public: idp.settings.revocationPublic ?? 'allow',
  });
  r.get('/settings', async (ctx) => { ctx.body = settingsOut(); });
  r.post('/settings', async (ctx) => {
    const b = body(ctx);
    const bools = {
      captcha: 'captcha', username_case_sensitive: 'usernameCaseSensitive',
      org_scopes_require_resource: 'orgScopesRequireResource', jwks_alg_use: 'jwksAlgUse',
      allow_token_exchange: 'allowTokenExchange', password_grant_listed: 'passwordGrantListed',
      device_grant_listed: 'deviceGrantListed',
      password_grant: 'passwordGrant', bare_token_errors: 'bareTokenErrors',
    };
    for (const [k, v] of Object.entries(b)) {
      if (k in bools) {
        if (typeof v !== 'boolean') throw new ControlError(400, `${k} must be a boolean`);
        idp.settings[bools[k]] = v;
      } else if (k === 'max_attempts') {
        if (!Number.isInteger(v) || v < 1) throw new ControlError(400, 'max_attempts must be a positive integer');
        idp.settings.maxAttempts = v;
      } else if (k === 'lockout_seconds') {
        if (typeof v !== 'number' || v < 0) throw new ControlError(400, 'lockout_seconds must be >= 0');
        idp.settings.lockoutSeconds = v;
      } else if (k === 'refresh_reuse_leeway') {
        if (typeof v !== 'number' || v < 0) throw new ControlError(400, 'refresh_reuse_leeway must be >= 0');
        idp.storage.refreshReuseLeeway = v;
      } else if (k === 'mfa_factors') {
        if (!Array.isArray(v) || v.some((f) => f !== 'Totp')) throw new ControlError(400, 'mfa_factors must be [] or ["Totp"]');
        idp.settings.mfaFactors = [...v];
      } else if (k === 'mfa_policy') {
        if (!MFA_POLICIES.includes(v)) throw new ControlError(400, `mfa_policy must be one of ${MFA_POLICIES.join(', ')}`);
        idp.settings.mfaPolicy = v;
      } else if (k === 'password_sign_in') {
        if (!Array.isArray(v) || v.some((t) => !['username', 'email', 'phone'].includes(t))) {
          throw new ControlError(400, 'password_sign_in must list username, email, phone');
        }
        idp.settings.passwordSignIn = [...v];
      } else if (k === 'revocation_public') {
        if (!REVOCATION_PUBLIC.has(v)) throw new ControlError(400, `revocation_public must be one of ${[...REVOCATION_PUBLIC].join(', ')}`);
        idp.settings.revocationPublic = v;
      } else if (k === 'device_interval') {
        if (!Number.isInteger(v) || v < 1) throw new ControlError(400, 'device_interval must be a positive integer');
        idp.deviceInterval = v;
      } else {
        throw new ControlError(400, `unknown setting ${k}`);
      }
    }
    ctx.body = settingsOut();
  });

  // ---- faults ----
  r.get('/faults', async (ctx) => { ctx.body = idp.faults.list(); });
  r.post('/faults', async (ctx) => {
    try {
      const rule = idp.faults.add(body(ctx));
      ctx.status = 201;
      ctx.body = { ok: true, id: rule.id };
    } catch (e) {
      if (e instanceof TypeError) throw new ControlError(400, e.message);
      throw e;
    }
  });
  r.delete('/faults', async (ctx) => {
    idp.faults.clear();
    ctx.body = { ok: true };
  });

  // ---- main listener ----
  r.post('/down', async (ctx) => {
    await idp.main.down();
    ctx.body = { ok: true, up: false };
  });
  r.post('/up', async (ctx) => {
    await idp.main.upAgain();
    ctx.body = { ok: true, up: true, url: idp.base };
  });

  // ---- stats ----
  r.get('/stats', async (ctx) => {
    ctx.body = {
      total: idp.stats.total,
      by_route: Object.fromEntries(idp.stats.byRoute),
      relay: idp.stats.relay ?? 0,
      bytes_in: idp.stats.bytes.in,
      bytes_out: idp.stats.bytes.out,
      relay_bytes_in: idp.stats.relayBytes.in,
      relay_bytes_out: idp.stats.relayBytes.out,
    };
  });
  r.post('/stats/reset', async (ctx) => {
    idp.stats.total = 0;
    idp.stats.byRoute.clear();
    idp.stats.relay = 0;
    idp.stats.bytes = { in: 0, out: 0 };
    idp.stats.relayBytes = { in: 0, out: 0 };
    ctx.body = { ok: true };
  });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: `no control route ${ctx.method} ${ctx.path}` };
      }
    } catch (e) {
      if (e instanceof ControlError || e instanceof StoreError) {
        ctx.status = e.status;
        ctx.body = { ok: false, error: e.message, ...(e.extra ?? {}) };
        return;
      }
      idp.log(`control: ${ctx.method} ${ctx.path}: ${e.stack ?? e}`);
      ctx.status = 500;
      ctx.body = { ok: false, error: String(e.message ?? e) };
    }
  });
  app.use(r.middleware());
  return app.callback();
}
