// Builds the oidc-provider (npm 9.11.3, the version Logto master resolves) for a profile.
//   logto:   logto-protocol.md §1, §2, §3.4, §4, §6.2, §6.3 (Logto's init.ts configuration)
//   generic: a Keycloak-like realm: issuer <base>/realms/test, RS256, password grant, `groups`.
import { Provider, errors } from 'oidc-provider';
import presence from 'oidc-provider/lib/helpers/validate_presence.js';
import * as refreshGrant from 'oidc-provider/lib/actions/grants/refresh_token.js';
import {
  createAccessToken, createRefreshToken, issueIdToken, buildTokenResponse,
} from 'oidc-provider/lib/helpers/grant_common.js';
import { jwtVerify, createLocalJWKSet } from 'jose';

import {
  LOGTO_USER_CLAIMS, ORG_SCOPES, GENERIC_SCOPE_CLAIMS, logtoClaims, genericClaims,
} from './claims.js';
import { ORG_RESOURCE } from './store.js';
import { decorateOidcError } from './errors.js';
import { refreshAccessDenied } from './access-control.js';
import { publicRevocationRefused, revocationDiscovery } from './revocation.js';
import {
  DEVICE_TEXT_FAULTS, ID_TOKEN_FAULTS, TOKEN_TEXT_FAULTS, hostileDeviceAnswer, hostileTokenError, tamperIdToken,
} from './faults.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const PAT_TOKEN_TYPE = 'urn:logto:token-type:personal_access_token';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const IMPERSONATION_TOKEN_TYPE = 'urn:logto:token-type:impersonation_token';

const SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512'];
// Logto ExtraParamsKey (packages/schemas/src/consts/oidc.ts)
const LOGTO_EXTRA_PARAMS = ['interaction_mode', 'first_screen', 'direct_sign_in', 'organization_id',
  'login_hint', 'ui_locales', 'identifier', 'one_time_token', 'google_one_tap_credential'];

export const GENERIC_REALM_PATH = '/realms/test';
const GENERIC_ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  device_authorization: '/protocol/openid-connect/auth/device',
  code_verification: '/device',
  token: '/protocol/openid-connect/token',
  userinfo: '/protocol/openid-connect/userinfo',
  jwks: '/protocol/openid-connect/certs',
  revocation: '/protocol/openid-connect/revoke',
  introspection: '/protocol/openid-connect/token/introspect',
  end_session: '/protocol/openid-connect/logout',
  pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
};

// Logto's discovery key set (integration-tests/.../oidc/discovery.test.ts, §1.2).
const LOGTO_DISCOVERY_KEYS = ['issuer', 'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint',
  'jwks_uri', 'end_session_endpoint', 'revocation_endpoint', 'introspection_endpoint',
  'device_authorization_endpoint', 'pushed_authorization_request_endpoint',
  'id_token_signing_alg_values_supported', 'code_challenge_methods_supported', 'grant_types_supported',
  'response_types_supported', 'response_modes_supported', 'token_endpoint_auth_methods_supported',
  'scopes_supported', 'claims_supported', 'claims_parameter_supported', 'request_uri_parameter_supported',
  'subject_types_supported', 'backchannel_logout_supported', 'backchannel_logout_session_supported',
  'authorization_response_iss_parameter_supported'];

function errOut(err) {
  if (err.expose) {
    const out = { error: err.message };
    if (err.error_description) out.error_description = err.error_description;
    if (err.scope) out.scope = err.scope;
    return out;
  }
  return { error: 'server_error', error_description: 'oops! something went wrong' };
}

function firstParam(v) {
  return Array.isArray(v) ? v[0] : v;
}

export function clientsFor(idp) {
  const alg = idp.keyRing.alg;
  if (idp.profile === 'logto') {
    return [
      {
        // Native app with customClientMetadata.isDeviceFlow = true
        client_id: 'device-app',
        client_name: 'Device flow app',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: alg,
      },
      {
        // Native app (authorization code + PKCE), allowTokenExchange = true
        client_id: 'native-app',
        client_name: 'Native app',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE_GRANT],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
        id_token_signed_response_alg: alg,
      },
      {
        // Machine-to-machine app with the Management API `all` permission
        client_id: 'm2m-app',
        client_name: 'M2M app',
        client_secret: 'm2m-secret',
        application_type: 'web',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: alg,
      },
    ];
  }
  return [
    {
      client_id: 'generic-app',
      client_name: 'Generic public client',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_CODE_GRANT, 'password', 'refresh_token', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      id_token_signed_response_alg: alg,
    },
    {
      client_id: 'generic-confidential',
      client_name: 'Generic confidential client',
      client_secret: 'generic-secret',
      application_type: 'web',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['password', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      id_token_signed_response_alg: alg,
    },
  ];
}

// ---- device flow sources -----------------------------------------------------------------

const XSRF_COOKIE = '_logto_device_flow_xsrf';

function logtoDeviceFlow(idp) {
  const setXsrfCookie = (ctx) => {
    ctx.cookies.set(XSRF_COOKIE, ctx.oidc.session.state.secret, {
      httpOnly: false, maxAge: 600_000, overwrite: true, path: '/device', sameSite: 'lax', signed: false,
    });
  };
  const setUiCookie = (ctx, shared) => {
    ctx.cookies.set('_logto', JSON.stringify(shared), {
      httpOnly: false, overwrite: true, sameSite: 'lax', signed: false,
    });
  };
  const shared = (source) => {
    const out = {};
    if (typeof source?.app_id === 'string' && source.app_id) out.appId = source.app_id;
    if (typeof source?.organization_id === 'string' && source.organization_id) out.organizationId = source.organization_id;
    if (typeof source?.ui_locales === 'string' && source.ui_locales) out.uiLocales = source.ui_locales;
    return out;
  };
  const pageUrl = (sharedParams, state = {}) => {
    const q = new URLSearchParams();
    if (sharedParams.appId) q.append('app_id', sharedParams.appId);
    if (sharedParams.organizationId) q.append('organization_id', sharedParams.organizationId);
    if (sharedParams.uiLocales) q.append('ui_locales', sharedParams.uiLocales);
    if (state.userCode) q.append('user_code', state.userCode);
    else if (state.inputCode) q.append('input_code', state.inputCode);
    if (state.error) q.append('error', state.error);
    const s = q.toString();
    return s ? `/device?${s}` : '/device';
  };
  return {
    enabled: true,
    async userCodeInputSource(ctx, form, out, err) {
      const sp = shared(ctx.query);
      setXsrfCookie(ctx);
      setUiCookie(ctx, sp);
      ctx.redirect(pageUrl(sp, { error: err?.name, inputCode: typeof err?.userCode === 'string' ? err.userCode : undefined }));
    },
    async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
      const sp = { ...shared(ctx.oidc.entities.DeviceCode?.params ?? {}), ...shared(ctx.query) };
      setXsrfCookie(ctx);
      setUiCookie(ctx, sp);
      ctx.redirect(pageUrl(sp, { userCode }));
    },
    async successSource(ctx) {
      ctx.cookies.set(XSRF_COOKIE, '', {
        httpOnly: false, maxAge: 0, overwrite: true, path: '/device', sameSite: 'lax', signed: false,
      });
      ctx.redirect('/device/success');
    },
  };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function genericDeviceFlow() {
  const page = (title, inner) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${inner}</body></html>`;
  return {
    enabled: true,
    async userCodeInputSource(ctx, form, out, err) {
      const msg = err ? `<p id="error">${esc(err.name ?? 'error')}</p>` : '<p>Enter the code displayed on your device</p>';
      ctx.type = 'html';
      ctx.body = page('Device login', `${msg}${form}`);
    },
    async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
      ctx.type = 'html';
      ctx.body = page('Confirm device', `<p>Code <code>${esc(userCode)}</code> for ${esc(client.clientId)}</p>${form}`);
    },
    async successSource(ctx) {
      ctx.type = 'html';
      ctx.body = page('Device login successful', '<p id="success">Device login successful. You can close this window.</p>');
    },
  };
}

// ---- custom grants -------------------------------------------------------------------------

function resourceServerInfo(idp, ctx, indicator, client) {
  const { store } = idp;
  const res = indicator === ORG_RESOURCE
    ? { accessTokenTtl: 3600 }
    : store.resources.get(indicator);
  if (!res) throw new errors.InvalidTarget();
  const accountId = ctx.oidc.session?.accountId ?? ctx.oidc.entities.Account?.accountId;
  const user = accountId ? idp.userByAccountId(accountId) : undefined;
  const scopes = user
    ? store.userResourceScopes(user, indicator)
    : store.appResourceScopes(client?.clientId ?? ctx.oidc.client?.clientId, indicator);
  return {
    scope: scopes.join(' '),
    accessTokenTTL: idp.ttl.access ?? res.accessTokenTtl ?? 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: idp.keyRing.alg } },
  };
}

// Logto's client_credentials (oidc/grants/client-credentials.ts): a resource is mandatory.
function logtoClientCredentials(idp) {
  return async function clientCredentialsHandler(ctx) {
    const { client, params, provider } = ctx.oidc;
    const requested = params.scope ? [...new Set(String(params.scope).split(' ').filter(Boolean))] : [];
    const resources = params.resource === undefined ? [] : [].concat(params.resource);
    if (params.organization_id) {
      const e = new errors.AccessDenied('app has not associated with the organization');
      e.statusCode = 403;
      throw e;
    }
    if (resources.length === 0) {
      throw new errors.InvalidTarget('both `resource` and `organization_id` are not provided');
    }
    if (resources.length > 1) {
      throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    }
    const info = resourceServerInfo(idp, ctx, resources[0], client);
    const token = new provider.ClientCredentials({ client, scope: requested.join(' ') || undefined });
    token.resourceServer = new provider.ResourceServer(resources[0], info);
    const available = new Set(info.scope.split(' ').filter(Boolean));
    token.scope = requested.filter((s) => available.has(s)).join(' ') || undefined;
    ctx.oidc.entity('ClientCredentials', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: token.tokenType,
      scope: token.scope,
    };
  };
}

// Logto's token exchange (oidc/grants/token-exchange/*), PAT and access-token subjects.
function logtoTokenExchange(idp) {
  return async function tokenExchangeHandler(ctx) {
    const { client, params, provider } = ctx.oidc;
    const { store } = idp;
    // customClientMetadata.allowTokenExchange (false for new apps since Logto 1.36): the answer
    // of logto-real-1.42.md D4.
    if (!idp.settings.allowTokenExchange) {
      throw new errors.InvalidRequest('requested grant type is not allowed for this client');
    }
    presence(ctx, 'subject_token', 'subject_token_type');
    const subjectToken = String(params.subject_token);
    const type = String(params.subject_token_type);
    let userId;
    if (type === PAT_TOKEN_TYPE) {
      const pat = store.pats.get(subjectToken);
      if (!pat) throw new errors.InvalidGrant('subject token not found');
      if (pat.expiresAt && pat.expiresAt <= Date.now()) throw new errors.InvalidGrant('subject token is expired');
      userId = pat.userId;
    } else if (type === IMPERSONATION_TOKEN_TYPE) {
      throw new errors.InvalidGrant('subject token not found');
    } else if (type === ACCESS_TOKEN_TYPE) {
      const opaque = await provider.AccessToken.find(subjectToken, { ignoreExpiration: true });
      if (opaque?.accountId) {
        if (opaque.isExpired) throw new errors.InvalidGrant('subject token is expired');
        userId = opaque.accountId;
      } else {
        try {
          const { payload, protectedHeader } = await jwtVerify(subjectToken,
            createLocalJWKSet({ keys: idp.keyRing.publicJwks() }), { issuer: idp.issuer });
          if (protectedHeader.typ?.toLowerCase().replace(/^application\//, '') !== 'at+jwt'
            || typeof payload.client_id !== 'string') {
            throw new errors.InvalidGrant('subject token is not an access token');
          }
          if (!payload.sub) throw new errors.InvalidGrant('subject token does not contain a valid `sub` claim');
          userId = payload.sub;
        } catch (e) {
          if (e instanceof errors.OIDCProviderError) throw e;
          throw new errors.InvalidGrant('invalid subject token');
        }
      }
    } else {
      throw new errors.InvalidGrant('unsupported subject token type');
    }

    const { findAccount } = idp.providerConfig;
    const account = await findAccount(ctx, userId);
    if (!account) throw new errors.InvalidGrant('subject token invalid (referenced account not found)');
    ctx.oidc.entity('Account', account);

    const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
    const at = new provider.AccessToken({
      accountId: account.accountId, client, gty: TOKEN_EXCHANGE_GRANT,
    });
    const requested = [...new Set(String(params.scope ?? '').split(' ').filter(Boolean))];
    const resources = params.resource === undefined ? [] : [].concat(params.resource);
    if (resources.length > 1) {
      throw new errors.InvalidTarget('only a single resource indicator value must be requested/resolved during Access Token Request');
    }
    if (resources.length === 1) {
      const info = resourceServerInfo(idp, ctx, resources[0], client);
      at.resourceServer = new provider.ResourceServer(resources[0], info);
      at.scope = requested.filter((s) => at.resourceServer.scopes.has(s)).join(' ');
      grant.addResourceScope(resources[0], at.scope);
    } else {
      const oidcScopes = new Set(idp.oidcScopes);
      let scopes = requested.filter((s) => oidcScopes.has(s));
      if (idp.settings.orgScopesRequireResource) scopes = scopes.filter((s) => !ORG_SCOPES.includes(s));
      at.scope = scopes.join(' ');
      grant.addOIDCScope(at.scope);
    }
    at.grantId = await grant.save();
    ctx.oidc.entity('Grant', grant);
    ctx.oidc.entity('AccessToken', at);
    const value = await at.save();
    ctx.body = {
      access_token: value,
      expires_in: at.expiration,
      scope: at.scope,
      token_type: at.tokenType,
    };
  };
}

// Resource owner password credentials for the generic profile (Keycloak answers wrong
// credentials with invalid_grant "Invalid user credentials").
function genericPasswordGrant(idp) {
  return async function passwordHandler(ctx) {
    const { client, params, provider } = ctx.oidc;
    const { store } = idp;
    if (!idp.settings.passwordGrant) {
      throw new errors.UnauthorizedClient('requested grant type is not allowed for this client');
    }
    presence(ctx, 'username', 'password');
    const username = String(params.username);
    const user = store.findUserByIdentifier({ type: 'username', value: username }, { caseSensitiveUsername: false })
      ?? store.findUserByIdentifier({ type: 'email', value: username });
    if (!user || user.password === null || user.password !== String(params.password)) {
      throw new errors.InvalidGrant('Invalid user credentials');
    }
    if (user.isSuspended) throw new errors.InvalidGrant('Account disabled');
    const config = idp.providerConfig;
    const accountId = idp.accountIdOf(user);
    const account = await config.findAccount(ctx, accountId);
    ctx.oidc.entity('Account', account);

    const oidcScopes = new Set(idp.oidcScopes);
    const requested = params.scope ? String(params.scope).split(' ').filter(Boolean) : ['openid'];
    const scopes = [...new Set(requested)].filter((s) => oidcScopes.has(s));
    const scope = scopes.join(' ');
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    ctx.oidc.entity('Grant', grant);

    const source = {
      accountId,
      grantId,
      scope,
      scopes: new Set(scopes),
      authTime: Math.floor(Date.now() / 1000),
    };
    const at = createAccessToken(ctx, provider.AccessToken, source, 'password');
    at.scope = grant.getOIDCScopeFiltered(source.scopes);
    ctx.oidc.entity('AccessToken', at);
    const accessToken = await at.save();
    const refreshToken = await createRefreshToken(ctx, source, at, 'password', {
      issueRefreshToken: config.issueRefreshToken, RefreshToken: provider.RefreshToken,
    });
    const idToken = await issueIdToken(ctx, source, at, grant, {
      conformIdTokenClaims: false, userinfo: { enabled: true },
    });
    ctx.body = buildTokenResponse(at, accessToken, { idToken, refreshToken, source });
  };
}

// ---- provider ------------------------------------------------------------------------------

export function buildProvider(idp) {
  const { store, profile, keyRing } = idp;
  const logto = profile === 'logto';
  const alg = keyRing.alg;
  const cookie = { sameSite: 'lax', path: '/', signed: true, overwrite: true };

  idp.storage.clients = new Map(clientsFor(idp).map((c) => [c.client_id, c]));

  const findAccount = async (ctx, sub) => {
    const user = idp.userByAccountId(sub);
    if (!user) throw new errors.InvalidGrant('user not found');
    if (user.isSuspended) throw new errors.InvalidGrant('user is suspended');
    return {
      accountId: sub,
      claims: async (use, scope, _claims, rejected) => (logto
        ? logtoClaims(store, user, use, scope, rejected ?? [])
        : genericClaims(store, user)),
    };
  };

  const issueRefreshToken = async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access');

  const scopeClaims = logto ? LOGTO_USER_CLAIMS : GENERIC_SCOPE_CLAIMS;
  idp.oidcScopes = ['openid', 'offline_access', ...Object.keys(scopeClaims)];

  const config = {
    adapter: idp.storage.adapterClass(),
    findAccount,
    claims: logto ? { openid: ['sub'], ...scopeClaims } : scopeClaims,
    cookies: { keys: idp.cookieKeys, long: cookie, short: cookie },
    jwks: keyRing.providerJwks(),
    clientDefaults: { id_token_signed_response_alg: alg },
    enabledJWA: {
      authorizationSigningAlgValues: SIGNING_ALGS,
      userinfoSigningAlgValues: SIGNING_ALGS,
      idTokenSigningAlgValues: SIGNING_ALGS,
      introspectionSigningAlgValues: SIGNING_ALGS,
    },
    conformIdTokenClaims: false,
    renderError: (ctx, out) => { ctx.body = out; },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: logto },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      deviceFlow: logto ? logtoDeviceFlow(idp) : genericDeviceFlow(),
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, indicator, client) => resourceServerInfo(idp, ctx, indicator, client),
      },
    },
    extraParams: logto ? LOGTO_EXTRA_PARAMS : [],
    extraTokenClaims: logto ? organizationApiResourceClaims : undefined,
    pkce: { required: (ctx, client) => client.clientAuthMethod !== 'client_secret_basic' },
    issueRefreshToken,
    ttl: {
      AccessToken: (ctx, token) => idp.ttl.access ?? token.resourceServer?.accessTokenTTL ?? 3600,
      ClientCredentials: (ctx, token) => idp.ttl.access ?? token.resourceServer?.accessTokenTTL ?? 3600,
      IdToken: 3600,
      RefreshToken: () => idp.ttl.refresh ?? 14 * 24 * 3600,
      DeviceCode: idp.ttl.device ?? 600,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 180 * 24 * 3600,
    },
    interactions: {
      url(ctx, interaction) {
        const appId = interaction.params.client_id;
        if (logto) {
          const sp = {};
          if (typeof appId === 'string' && appId) sp.appId = appId;
          ctx.cookies.set('_logto', JSON.stringify(sp), {
            sameSite: 'lax', overwrite: true, httpOnly: false, signed: false,
          });
          const q = new URLSearchParams();
          if (sp.appId) q.append('app_id', sp.appId);
          for (const k of ['organization_id', 'ui_locales']) {
            const v = firstParam(interaction.params[k]);
            if (typeof v === 'string' && v) q.append(k, v);
          }
          if (interaction.prompt.name === 'login') {
            for (const k of ['one_time_token', 'login_hint', 'identifier']) {
              const v = firstParam(interaction.params[k]);
              if (typeof v === 'string' && v) q.append(k, v);
            }
            return `/sign-in${q.size ? `?${q}` : ''}`;
          }
          if (interaction.prompt.name === 'consent') {
            const c = new URLSearchParams();
            if (sp.appId) c.append('app_id', sp.appId);
            return `/consent${c.size ? `?${c}` : ''}`;
          }
          throw new Error(`Prompt not supported: ${interaction.prompt.name}`);
        }
        const q = new URLSearchParams({ client_id: String(appId ?? ''), uid: interaction.uid });
        return interaction.prompt.name === 'login'
          ? `${GENERIC_REALM_PATH}/login-actions/authenticate?${q}`
          : `${GENERIC_REALM_PATH}/login-actions/consent?${q}`;
      },
    },
  };
  if (!logto) config.routes = GENERIC_ROUTES;
  idp.providerConfig = config;

  const issuer = logto ? `${idp.base}/oidc` : `${idp.base}${GENERIC_REALM_PATH}`;
  const provider = new Provider(issuer, config);
  provider.proxy = false;

  if (logto) {
    provider.registerGrantType('client_credentials', logtoClientCredentials(idp),
      ['scope', 'organization_id', 'resource'], ['resource']);
    provider.registerGrantType('refresh_token', logtoRefreshToken(idp, refreshGrant.handler),
      [...refreshGrant.parameters, 'organization_id', 'resource'], ['resource']);
    provider.registerGrantType(TOKEN_EXCHANGE_GRANT, logtoTokenExchange(idp),
      ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'organization_id', 'scope', 'resource'],
      ['resource']);
  } else {
    provider.registerGrantType('password', genericPasswordGrant(idp), ['username', 'password', 'scope', 'resource'], ['resource']);
  }

  installMiddleware(idp, provider);
  return provider;
}

// ---- organization tokens: Logto's refusals (grants/utils.ts checkOrganizationAccess) ----
// refresh_token + organization_id for a user who is not a member, or for an organization with
// isMfaRequired when the user has no MFA: 403 access_denied, and the refresh token is not
// consumed (logto-real-1.42.md "logtoctl token", D7). Members get an organization token
// (logtoRefreshToken).
async function organizationTokenGate(idp, provider, body) {
  const orgId = String(firstParam(body.organization_id));
  const rt = body.refresh_token ? await provider.RefreshToken.find(String(firstParam(body.refresh_token))) : undefined;
  const user = rt?.accountId ? idp.userByAccountId(rt.accountId) : undefined;
  if (!user) return; // the grant itself answers invalid_grant
  // The refresh token must hold the organizations scope (logto-protocol.md 4.4: "refresh token
  // missing required scope" -> insufficient_scope; oidc-provider's status for it, 403).
  if (!String(rt.scope ?? '').split(' ').includes('urn:logto:scope:organizations')) {
    throw new errors.InsufficientScope('refresh token missing required scope', 'urn:logto:scope:organizations');
  }
  const deny = (description) => {
    const e = new errors.AccessDenied(description);
    e.statusCode = 403;
    throw e;
  };
  if (!user.organizations.has(orgId)) deny('user is not a member of the organization');
  const org = idp.store.orgs.get(orgId);
  if (org?.isMfaRequired && !user.totpSecret) deny('organization requires MFA but user has no MFA configured');
}

// refresh_token + organization_id + resource=<api> (logto-protocol.md 4.4; seen on Logto 1.42,
// logto-real-1.42.md "logtoctl token": "--organization + --resource -> API JWT with
// organization_id"): the membership and MFA refusals run as for an organization token
// (organizationTokenGate), then the usual API JWT for the resource (aud, scope as without an
// organization) carries the claim organization_id, as Logto's extraTokenClaims adds it
// (extra-token-claims.ts getExtraTokenClaimsForOrganizationApiResource). Which API permissions
// Logto grants there (the organization roles' or the user's) the references do not say: the
// user's, as for the resource alone.
function organizationApiResourceClaims(ctx, token) {
  const params = ctx?.oidc?.params;
  if (token.kind !== 'AccessToken' || !params || params.grant_type !== 'refresh_token') return undefined;
  if (!params.organization_id || !params.resource) return undefined;
  return { organization_id: String(params.organization_id) };
}

// Organization tokens for members (Logto 1.42 oidc/grants/refresh-token.ts, "RFC 0001";
// logto-real-1.42.md "logtoctl token", D8): refresh_token + organization_id without a resource
// gives a JWT access token with aud urn:logto:organization:<id> and, as scope, the user's
// organization-role permissions in that organization that the request (or else the refresh
// token) holds. The refusals run before (organizationTokenGate). oidc-provider's own handler
// does the rest (rotation, ID token); only its access token is given the organization audience.
function logtoRefreshToken(idp, original) {
  return async function refreshTokenHandler(ctx) {
    const { params } = ctx.oidc;
    if (!params.organization_id || params.resource) return original(ctx);
    const orgId = String(params.organization_id);
    const entity = ctx.oidc.entity.bind(ctx.oidc);
    ctx.oidc.entity = (key, value) => {
      if (key === 'AccessToken') {
        const scope = params.scope ? ctx.oidc.requestParamScopes : ctx.oidc.entities.RefreshToken.scopes;
        const user = idp.userByAccountId(value.accountId);
        const available = user ? idp.store.userOrganizationScopes(user, orgId) : [];
        const issued = available.filter((s) => scope.has(s)).join(' ');
        const audience = `urn:logto:organization:${orgId}`;
        value.resourceServer = new ctx.oidc.provider.ResourceServer(audience, {
          scope: issued,
          audience,
          accessTokenTTL: idp.ttl.access ?? 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: idp.keyRing.alg } },
        });
        value.scope = issued;
        value.claims = undefined;
      }
      return entity(key, value);
    };
    return original(ctx);
  };
}

function routePath(provider, name) {
  return provider.pathFor(name, { mountPath: '' });
}

function installMiddleware(idp, provider) {
  const logto = idp.profile === 'logto';
  const paths = {
    token: routePath(provider, 'token'),
    jwks: routePath(provider, 'jwks'),
    device: routePath(provider, 'device_authorization'),
    revocation: routePath(provider, 'revocation'),
  };

  // Outermost: Logto's koaOidcErrorHandler (decoration + ?parse_error=false).
  if (logto) {
    provider.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        if (!(err instanceof errors.OIDCProviderError)) throw err;
        ctx.status = err.statusCode || 500;
        ctx.body = errOut(err);
      }
      if (ctx.query.parse_error !== 'false' && ctx.status >= 400 && ctx.body && typeof ctx.body === 'object') {
        ctx.body = decorateOidcError(ctx.body);
      }
    });
  }

  provider.use(async (ctx, next) => {
    const isToken = ctx.method === 'POST' && ctx.path === paths.token;
    const body = ctx.req.body ?? {};

    // slow_down fault: answer a device-code poll before the grant handler sees it.
    if (isToken && firstParam(body.grant_type) === DEVICE_CODE_GRANT
      && idp.faults.take('token', new Set(['slow_down']))) {
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'slow_down',
        error_description: 'the authorization request is still pending and polling should be slowed down',
      };
      return;
    }
    if (logto && isToken && firstParam(body.grant_type) === 'refresh_token' && body.organization_id) {
      await organizationTokenGate(idp, provider, body);
    }
    if (isToken && firstParam(body.grant_type) === DEVICE_CODE_GRANT
      && idp.faults.take('token', TOKEN_TEXT_FAULTS)) {
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = hostileTokenError();
      return;
    }

    // Revocation refused for public clients (revocation.js).
    if (ctx.method === 'POST' && ctx.path === paths.revocation && publicRevocationRefused(idp, ctx, body)) {
      return;
    }

    // App-level access control (access-control.js): refused before the grant sees the token.
    if (isToken && logto && firstParam(body.grant_type) === 'refresh_token'
      && await refreshAccessDenied(idp, provider, ctx, firstParam(body.refresh_token))) {
      return;
    }

    await next();

    if (ctx.method === 'GET' && ctx.path === paths.jwks && ctx.status === 200) {
      if (logto) ctx.set('Cache-Control', 'no-cache, max-age=0, must-revalidate');
      if (!idp.settings.jwksAlgUse) {
        ctx.body = { keys: ctx.body.keys.map(({ alg, use, ...rest }) => rest) };
      } else if (logto) {
        // Logto 1.42 (logto-real-1.42.md D11): EC entries carry alg and use, RSA entries no alg.
        ctx.body = { keys: ctx.body.keys.map(({ alg, ...rest }) => (rest.kty === 'EC' ? { ...rest, alg } : rest)) };
      }
    }

    if (ctx.method === 'GET' && ctx.path.startsWith('/.well-known/') && ctx.status === 200
      && ctx.body && typeof ctx.body === 'object') {
      if (logto) {
        const doc = {};
        for (const k of LOGTO_DISCOVERY_KEYS) if (k in ctx.body) doc[k] = ctx.body[k];
        ctx.body = doc;
      }
      if (!logto && Array.isArray(ctx.body.grant_types_supported)) {
        const unlisted = new Set();
        if (!idp.settings.passwordGrantListed) unlisted.add('password');
        if (!idp.settings.deviceGrantListed) unlisted.add('urn:ietf:params:oauth:grant-type:device_code');
        ctx.body = { ...ctx.body, grant_types_supported: ctx.body.grant_types_supported.filter((g) => !unlisted.has(g)) };
      }
      ctx.body = revocationDiscovery(idp, ctx.body);
      if (idp.faults.take('discovery', new Set(['wrong_issuer']))) {
        ctx.body = { ...ctx.body, issuer: 'https://evil.example.com/oidc' };
      }
    }

    if (ctx.method === 'POST' && ctx.path === paths.device && ctx.status === 200
      && ctx.body && typeof ctx.body.verification_uri === 'string') {
      if (logto) {
        // koa-device-flow-shortcut: /oidc/device -> /device
        const shorten = (uri) => uri.replace('/oidc/device', '/device');
        ctx.body = {
          ...ctx.body,
          verification_uri: shorten(ctx.body.verification_uri),
          verification_uri_complete: shorten(ctx.body.verification_uri_complete),
        };
      } else {
        ctx.body = { ...ctx.body, interval: idp.deviceInterval };
      }
      const fault = idp.faults.take('device_auth', DEVICE_TEXT_FAULTS);
      if (fault) {
        ctx.body = hostileDeviceAnswer(fault, ctx.body);
        ctx.type = 'application/json; charset=utf-8';
      }
    }

    // Glewlwyd-like bare errors: the password grant's refusals without a body (glewlwyd.md).
    if (!logto && isToken && idp.settings.bareTokenErrors && ctx.status >= 400 && ctx.status < 500
      && firstParam(body.grant_type) === 'password') {
      const status = ctx.status;
      ctx.body = '';
      ctx.remove('Content-Type');
      ctx.status = status;
    }

    if (isToken && ctx.status === 200 && ctx.body && typeof ctx.body.id_token === 'string') {
      const fault = idp.faults.take('token', ID_TOKEN_FAULTS);
      if (fault) {
        ctx.body = { ...ctx.body, id_token: await tamperIdToken(fault, ctx.body.id_token, { keyRing: idp.keyRing }) };
      }
    }
  });
}

