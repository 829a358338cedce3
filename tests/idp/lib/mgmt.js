// Management API subset used for directory sync (logto-protocol.md §3.2, §5).
// Auth (middleware/koa-auth): Bearer JWT from client_credentials for
// https://default.logto.app/api with scope `all`. Pagination (middleware/koa-pagination.ts):
// page (1-based), page_size (default 20, max 100), Total-Number and Link headers.
import { jwtVerify, createLocalJWKSet } from 'jose';

import { ApiError } from './errors.js';
import { DEVICE_CODE_GRANT } from './provider.js';
import { jsonBody } from './router.js';
import { MGMT_API_INDICATOR, StoreError } from './store.js';
import { isPlainObject, camelToSnake } from './util.js';

const USER_SEARCH_FIELDS = ['id', 'primary_email', 'primary_phone', 'username', 'name'];
const ROLE_SEARCH_FIELDS = ['id', 'name', 'description'];
const MATCH_MODES = new Set(['exact', 'like', 'similar_to', 'posix']);

// ---- object shapes -------------------------------------------------------------------------

export function userInfo(u) {
  return {
    id: u.id,
    username: u.username,
    primaryEmail: u.primaryEmail,
    primaryPhone: u.primaryPhone,
    name: u.name,
    avatar: u.avatar,
    customData: u.customData,
    identities: u.identities,
    lastSignInAt: u.lastSignInAt,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    profile: u.profile,
    applicationId: u.applicationId,
    cimdClientId: null,
    isSuspended: u.isSuspended,
  };
}

export function userProfile(u) {
  return { ...userInfo(u), hasPassword: u.password !== null };
}

function roleOut(r) {
  return { tenantId: r.tenantId, id: r.id, name: r.name, description: r.description, type: r.type, isDefault: r.isDefault };
}

function orgOut(o) {
  return {
    tenantId: o.tenantId,
    id: o.id,
    name: o.name,
    description: o.description,
    customData: o.customData,
    isMfaRequired: o.isMfaRequired,
    color: o.color,
    branding: o.branding,
    customCss: o.customCss,
    createdAt: o.createdAt,
  };
}

// ---- search (utils/search.ts) --------------------------------------------------------------

function likeToRegExp(pattern, flags) {
  let re = '';
  for (const ch of pattern) {
    if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, flags);
}

function similarToRegExp(pattern) {
  return new RegExp(`^${pattern.replace(/%/g, '.*').replace(/_/g, '.')}$`, 's');
}

export function parseSearch(searchParams, allowedFields) {
  const joint = searchParams.get('joint') ?? searchParams.get('jointMode') ?? 'or';
  if (!['or', 'and'].includes(joint)) throw new TypeError(`Search joint mode \`${joint}\` is not valid, expect one of or, and.`);
  const isCaseSensitive = ['true', '1', 'yes', 'y'].includes(String(searchParams.get('isCaseSensitive') ?? 'false').toLowerCase());
  const modes = new Map();
  const values = new Map();
  for (const [key, value] of searchParams.entries()) {
    const isMode = key.startsWith('mode');
    const isSearch = key.startsWith('search');
    if (!isMode && !isSearch) continue;
    const path = key.split('.');
    if (path.length > 2) throw new TypeError(`Unsupported nested search field path \`${path.slice(1).join('.')}\` detected. Only the first level field is supported.`);
    const field = path[1];
    if (allowedFields && field && !allowedFields.includes(field)) throw new TypeError(`Search field \`${field}\` is not allowed.`);
    if (isMode) {
      if (!MATCH_MODES.has(value)) throw new TypeError(`Search match mode \`${value}\` is not valid, expect one of ${[...MATCH_MODES].join(', ')}.`);
      modes.set(field, value);
    } else {
      if (!values.has(field)) values.set(field, []);
      values.get(field).push(value);
    }
  }
  const matches = [];
  for (const [field, vals] of values) {
    const mode = modes.get(field) ?? modes.get(undefined) ?? 'like';
    if (mode === 'exact') {
      if (!vals.every(Boolean)) throw new TypeError('Search value cannot be empty.');
    } else {
      if (vals.length !== 1) throw new TypeError('Only one search value is allowed when search mode is not `exact`.');
      if (!vals[0]) throw new TypeError('Search value cannot be empty.');
    }
    if (mode === 'similar_to' && !isCaseSensitive) throw new TypeError('Cannot use case-insensitive match for `similar to`.');
    matches.push({ mode, field, values: vals });
  }
  return { matches, joint, isCaseSensitive };
}

function compileMatch({ mode, values }, isCaseSensitive) {
  switch (mode) {
    case 'exact': {
      const set = new Set(isCaseSensitive ? values : values.map((v) => v.toLowerCase()));
      return (v) => set.has(isCaseSensitive ? v : v.toLowerCase());
    }
    case 'like': {
      const re = likeToRegExp(values[0], isCaseSensitive ? 's' : 'is');
      return (v) => re.test(v);
    }
    case 'posix': {
      const re = new RegExp(values[0], isCaseSensitive ? '' : 'i');
      return (v) => re.test(v);
    }
    case 'similar_to': {
      const re = similarToRegExp(values[0]);
      return (v) => re.test(v);
    }
    default: throw new TypeError('bad mode');
  }
}

export function searchFilter(search, searchFields, valueOf) {
  if (search.matches.length === 0) return () => true;
  const conds = search.matches.map((m) => {
    const field = m.field && camelToSnake(m.field);
    if (field && !searchFields.includes(field)) {
      throw new TypeError(`Search field \`${field}\` is not valid, expect one of ${searchFields.join(', ')}.`);
    }
    const test = compileMatch(m, search.isCaseSensitive);
    const fields = field ? [field] : searchFields;
    return (item) => fields.some((f) => {
      const v = valueOf(item, f);
      return v !== null && v !== undefined && test(String(v));
    });
  });
  return search.joint === 'and'
    ? (item) => conds.every((c) => c(item))
    : (item) => conds.some((c) => c(item));
}

const USER_FIELD = {
  id: 'id', primary_email: 'primaryEmail', primary_phone: 'primaryPhone', username: 'username', name: 'name',
};
const userValue = (u, f) => u[USER_FIELD[f]];
const roleValue = (r, f) => r[f];

function wrapSearch(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TypeError) throw new ApiError(400, 'request.invalid_input', { details: e.message });
    throw e;
  }
}

// ---- pagination ----------------------------------------------------------------------------

function paginate(ctx, items, { optional = false } = {}) {
  const rawPage = ctx.query.page;
  const rawSize = ctx.query.page_size;
  if (optional && !rawPage && !rawSize) return items;
  const page = rawPage ? Number(rawPage) : 1;
  const size = rawSize ? Number(rawSize) : 20;
  if (!Number.isInteger(page) || page <= 0 || !Number.isInteger(size) || size <= 0 || size > 100) {
    throw new ApiError(400, 'guard.invalid_pagination');
  }
  const total = items.length;
  const totalPage = Math.ceil(total / size) || 1;
  // Logto's Link is wrong (issue 14.6, logto-real-1.42.md D11): koa-pagination builds it from
  // the path after koa-mount('/api'), so the /api prefix is missing. Clients must page by
  // page/Total-Number, never by following Link.
  const link = (n, rel) => {
    const q = new URLSearchParams({ ...ctx.query, page: String(n) });
    return `<${ctx.URL.origin}${ctx.path.replace(/^\/api(?=\/)/, '')}?${q}>; rel="${rel}"`;
  };
  ctx.set('Total-Number', String(total));
  const links = [link(1, 'first')];
  if (page > 1) links.push(link(page - 1, 'prev'));
  links.push(link(totalPage, 'last'));
  if (page < totalPage) links.push(link(page + 1, 'next'));
  ctx.set('Link', links);
  return items.slice((page - 1) * size, page * size);
}

// ---- routes --------------------------------------------------------------------------------

export function mgmtRoutes(router, idp) {
  const { store } = idp;

  const auth = async (ctx, next) => {
    const header = ctx.get('authorization');
    if (!header) throw new ApiError(401, 'auth.authorization_header_missing');
    if (!header.startsWith('Bearer ')) throw new ApiError(401, 'auth.authorization_token_type_not_supported');
    let payload;
    try {
      ({ payload } = await jwtVerify(header.slice(7), createLocalJWKSet({ keys: idp.keyRing.publicJwks() }), {
        issuer: idp.issuer, audience: MGMT_API_INDICATOR,
      }));
    } catch {
      throw new ApiError(401, 'auth.unauthorized');
    }
    if (!payload.sub) throw new ApiError(401, 'auth.jwt_sub_missing');
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes('all')) throw new ApiError(403, 'auth.forbidden');
    await next();
  };

  const findUser = (id) => {
    const u = store.users.get(id);
    if (!u) throw new ApiError(404, 'entity.not_exists_with_id', { vars: { name: 'users', id } });
    return u;
  };
  const findRole = (id) => {
    const r = store.roles.get(id);
    if (!r) throw new ApiError(404, 'entity.not_exists_with_id', { vars: { name: 'roles', id } });
    return r;
  };
  const findOrg = (id) => {
    const o = store.orgs.get(id);
    if (!o) throw new ApiError(404, 'entity.not_exists_with_id', { vars: { name: 'organizations', id } });
    return o;
  };
  const userSearch = (ctx) => {
    const search = wrapSearch(() => parseSearch(ctx.URL.searchParams));
    return wrapSearch(() => searchFilter(search, USER_SEARCH_FIELDS, userValue));
  };

  router.get('/api/users', auth, async (ctx) => {
    const excludeRoleId = ctx.query.excludeRoleId;
    const excludeOrganizationId = ctx.query.excludeOrganizationId;
    if (excludeRoleId && excludeOrganizationId) {
      throw new ApiError(400, 'request.invalid_input', { details: 'Parameter `excludeRoleId` and `excludeOrganizationId` cannot be used at the same time.' });
    }
    const match = userSearch(ctx);
    const users = store.sortedUsers().filter((u) => match(u)
      && !(excludeRoleId && u.roles.has(excludeRoleId))
      && !(excludeOrganizationId && u.organizations.has(excludeOrganizationId)));
    ctx.body = paginate(ctx, users).map(userProfile);
  });

  router.get('/api/users/:userId', auth, async (ctx) => {
    // Logto 1.42 answers this one with entity.not_found (logto-real-1.42.md D11).
    if (!store.users.get(ctx.params.userId)) throw new ApiError(404, 'entity.not_found');
    const u = findUser(ctx.params.userId);
    const body = userProfile(u);
    if (['true', '1', 'yes'].includes(String(ctx.query.includeSsoIdentities))) body.ssoIdentities = u.ssoIdentities;
    ctx.body = body;
  });

  router.get('/api/users/:userId/custom-data', auth, async (ctx) => {
    ctx.body = findUser(ctx.params.userId).customData;
  });

  router.patch('/api/users/:userId/custom-data', auth, async (ctx) => {
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || !isPlainObject(body.customData)) {
      throw new ApiError(400, 'guard.invalid_input', { vars: { type: 'body' } });
    }
    const u = findUser(ctx.params.userId);
    // updateUserById(..., jsonbMode 'merge'): top-level merge of the jsonb column
    u.customData = { ...u.customData, ...body.customData };
    store.touch(u);
    ctx.body = u.customData;
  });

  // Logto 1.42 routes/admin-user/basics.ts: body {isSuspended: boolean}; suspending calls
  // signOutUser (every access token, refresh token and session of the user goes, also when the
  // user was suspended already); unsuspending brings none of them back (logto-real-1.42.md
  // "Account phase ... Suspension", D11). Answers the user profile.
  router.patch('/api/users/:userId/is-suspended', auth, async (ctx) => {
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || typeof body.isSuspended !== 'boolean') {
      throw new ApiError(400, 'guard.invalid_input', { vars: { type: 'body' } });
    }
    const u = findUser(ctx.params.userId);
    u.isSuspended = body.isSuspended;
    store.touch(u);
    if (u.isSuspended) idp.storage.revokeAccount(idp.accountIdOf(u));
    ctx.body = userProfile(u);
  });

  router.get('/api/users/:userId/roles', auth, async (ctx) => {
    const u = findUser(ctx.params.userId);
    const search = wrapSearch(() => parseSearch(ctx.URL.searchParams));
    const match = wrapSearch(() => searchFilter(search, ROLE_SEARCH_FIELDS, roleValue));
    const roles = [...store.roles.values()].filter((r) => r.type === 'User' && u.roles.has(r.id) && match(r));
    ctx.body = paginate(ctx, roles).map(roleOut);
  });

  router.get('/api/users/:userId/organizations', auth, async (ctx) => {
    const u = findUser(ctx.params.userId);
    ctx.body = store.userOrganizations(u).map(({ org, organizationRoles }) => ({ ...orgOut(org), organizationRoles }));
  });

  router.post('/api/users/:userId/password/verify', auth, async (ctx) => {
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || typeof body.password !== 'string' || body.password.length < 1) {
      throw new ApiError(400, 'guard.invalid_input', { vars: { type: 'body' } });
    }
    const u = findUser(ctx.params.userId);
    // No sentinel, no suspension check (routes/admin-user/basics.ts).
    if (u.password === null || u.password !== body.password) throw new ApiError(422, 'session.invalid_credentials');
    ctx.status = 204;
  });

  router.get('/api/users/:userId/personal-access-tokens', auth, async (ctx) => {
    const u = findUser(ctx.params.userId);
    ctx.body = [...store.pats.values()].filter((p) => p.userId === u.id).map((p) => ({
      tenantId: 'default', userId: p.userId, name: p.name, value: p.value, createdAt: p.createdAt, expiresAt: p.expiresAt,
    }));
  });

  router.post('/api/users/:userId/personal-access-tokens', auth, async (ctx) => {
    const body = jsonBody(ctx);
    if (!isPlainObject(body) || typeof body.name !== 'string' || !body.name
      || (body.expiresAt !== undefined && body.expiresAt !== null && typeof body.expiresAt !== 'number')) {
      throw new ApiError(400, 'guard.invalid_input', { vars: { type: 'body' } });
    }
    const u = findUser(ctx.params.userId);
    let pat;
    try {
      pat = store.addPat(u, { name: body.name, expires_at: body.expiresAt ?? null });
    } catch (e) {
      if (e instanceof StoreError) throw new ApiError(422, 'user.personal_access_token_name_exists');
      throw e;
    }
    ctx.status = 201;
    ctx.body = {
      tenantId: 'default', userId: pat.userId, name: pat.name, value: pat.value, createdAt: pat.createdAt, expiresAt: pat.expiresAt,
    };
  });

  router.get('/api/roles', auth, async (ctx) => {
    const { type } = ctx.query;
    if (type !== undefined && !['User', 'MachineToMachine'].includes(type)) {
      throw new ApiError(400, 'guard.invalid_input', { vars: { type: 'query' } });
    }
    const excludeUser = ctx.query.excludeUserId ? store.users.get(ctx.query.excludeUserId) : undefined;
    const search = wrapSearch(() => parseSearch(ctx.URL.searchParams));
    const match = wrapSearch(() => searchFilter(search, ROLE_SEARCH_FIELDS, roleValue));
    const roles = [...store.roles.values()].filter((r) => (!type || r.type === type) && match(r)
      && !(excludeUser && excludeUser.roles.has(r.id)));
    ctx.body = paginate(ctx, roles).map((r) => {
      const members = store.sortedUsers().filter((u) => u.roles.has(r.id));
      const apps = r.type === 'MachineToMachine' ? [{ id: 'm2m-app', name: 'M2M app', type: 'MachineToMachine' }] : [];
      return {
        ...roleOut(r),
        usersCount: members.length,
        featuredUsers: members.slice(0, 3).map((u) => ({ id: u.id, avatar: u.avatar, name: u.name })),
        applicationsCount: apps.length,
        featuredApplications: apps,
      };
    });
  });

  router.get('/api/roles/:id', auth, async (ctx) => {
    ctx.body = roleOut(findRole(ctx.params.id));
  });

  router.get('/api/roles/:id/users', auth, async (ctx) => {
    const role = findRole(ctx.params.id);
    const match = userSearch(ctx);
    const users = store.sortedUsers().filter((u) => u.roles.has(role.id) && match(u));
    ctx.body = paginate(ctx, users).map(userProfile);
  });

  router.get('/api/organizations', auth, async (ctx) => {
    const q = typeof ctx.query.q === 'string' && ctx.query.q ? ctx.query.q.toLowerCase() : undefined;
    const orgs = [...store.orgs.values()]
      .filter((o) => !q || o.id.toLowerCase().includes(q) || o.name.toLowerCase().includes(q))
      .sort((a, b) => (b.createdAt - a.createdAt) || (a.id < b.id ? -1 : 1));
    const featured = ['true', '1', 'yes'].includes(String(ctx.query.showFeatured));
    ctx.body = paginate(ctx, orgs).map((o) => {
      if (!featured) return orgOut(o);
      const members = store.sortedUsers().filter((u) => u.organizations.has(o.id));
      return {
        ...orgOut(o),
        usersCount: members.length,
        featuredUsers: members.slice(0, 3).map((u) => ({ id: u.id, avatar: u.avatar, name: u.name })),
      };
    });
  });

  router.get('/api/organizations/:id', auth, async (ctx) => {
    ctx.body = orgOut(findOrg(ctx.params.id));
  });

  router.get('/api/organizations/:id/users', auth, async (ctx) => {
    const org = findOrg(ctx.params.id);
    const q = typeof ctx.query.q === 'string' && ctx.query.q ? ctx.query.q.toLowerCase() : undefined;
    const roleFilter = ctx.query.organizationRoleId;
    const users = store.sortedUsers().filter((u) => {
      const roles = u.organizations.get(org.id);
      if (!roles) return false;
      if (roleFilter && !roles.has(roleFilter)) return false;
      if (q && !USER_SEARCH_FIELDS.some((f) => String(userValue(u, f) ?? '').toLowerCase().includes(q))) return false;
      return true;
    });
    ctx.body = paginate(ctx, users).map((u) => ({
      ...userInfo(u),
      organizationRoles: [...u.organizations.get(org.id)].map((rid) => store.orgRoles.get(rid)).filter(Boolean)
        .map(({ id, name }) => ({ id, name })),
    }));
  });

  // GET /api/applications/{id} in Logto's shape, the fields logtoctl config check --online reads:
  // type, oidcClientMetadata.redirectUris, customClientMetadata.{isDeviceFlow,allowTokenExchange}.
  router.get('/api/applications/:id', auth, async (ctx) => {
    const c = idp.storage.clients.get(ctx.params.id);
    if (!c) throw new ApiError(404, 'entity.not_exists_with_id', { vars: { name: 'applications', id: ctx.params.id } });
    const custom = {};
    if (c.grant_types.includes(DEVICE_CODE_GRANT)) custom.isDeviceFlow = true;
    if (c.client_id === 'native-app') custom.allowTokenExchange = Boolean(idp.settings.allowTokenExchange);
    ctx.body = {
      tenantId: 'default', id: c.client_id, name: c.client_name, secret: 'app-secret-never-shown',
      type: c.application_type === 'native' ? 'Native' : 'MachineToMachine', isThirdParty: false,
      oidcClientMetadata: { redirectUris: c.redirect_uris, postLogoutRedirectUris: [] },
      customClientMetadata: custom,
    };
  });

  router.get('/api/organization-roles', auth, async (ctx) => {
    const roles = [...store.orgRoles.values()];
    ctx.body = paginate(ctx, roles).map((r) => ({
      tenantId: 'default', id: r.id, name: r.name, description: r.description, type: 'User',
    }));
  });
}
