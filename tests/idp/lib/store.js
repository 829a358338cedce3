// Directory data of the test tenant: users, roles, organizations, organization roles,
// resources and personal access tokens. Loaded from a fixture file, optionally extended with
// deterministic synthetic data (--generate), changed at run time through the control API.
// Shapes follow logto-protocol.md §4.2 (claims) and §5 (Management API objects).
import { readFileSync } from 'node:fs';

import { stableId, randomId, stableUuid, ALNUM, isPlainObject } from './util.js';
import { isValidSecret } from './totp.js';

export const TENANT_ID = 'default';
export const MGMT_API_INDICATOR = 'https://default.logto.app/api';
export const ORG_RESOURCE = 'urn:logto:resource:organizations';
// Logto usernames: ^[A-Z_a-z]\w*$ (core-kit regex.ts)
export const USERNAME_RE = /^[A-Z_a-z]\w*$/;
const FIXTURE_EPOCH = Date.UTC(2024, 0, 1); // created_at of fixture users unless given

export class StoreError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function asArray(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

export class Store {
  constructor() {
    this.users = new Map(); // id -> user
    this.roles = new Map(); // id -> role
    this.orgs = new Map(); // id -> organization
    this.orgRoles = new Map(); // id -> organization role
    this.orgScopes = []; // organization permission names (scopes of urn:logto:resource:organizations)
    this.resources = new Map(); // indicator -> { indicator, name, scopes[], accessTokenTtl }
    this.pats = new Map(); // value -> { userId, name, value, createdAt, expiresAt }
    this.appScopes = new Map(); // clientId -> { indicator: [scopes] }
    this.sortedCache = null;
    this.lastCreatedAt = 0;
  }

  // ---- loading -----------------------------------------------------------------------------

  static fromFile(path) {
    const store = new Store();
    store.load(JSON.parse(readFileSync(path, 'utf8')));
    return store;
  }

  load(fx) {
    this.resources.set(MGMT_API_INDICATOR, {
      indicator: MGMT_API_INDICATOR, name: 'Logto Management API', scopes: ['all'], accessTokenTtl: 3600,
    });
    for (const r of asArray(fx.resources)) {
      this.resources.set(r.indicator, {
        indicator: r.indicator,
        name: r.name ?? r.indicator,
        scopes: asArray(r.scopes),
        accessTokenTtl: r.access_token_ttl ?? 3600,
      });
    }
    this.orgScopes = asArray(fx.organization_scopes);
    // Machine-to-machine app permissions: m2m-app holds the Management API `all` scope
    // through an M2M role, as a Logto M2M app with the "Logto Management API access" role.
    this.appScopes.set('m2m-app', { [MGMT_API_INDICATOR]: ['all'] });
    for (const [clientId, perms] of Object.entries(fx.app_scopes ?? {})) {
      this.appScopes.set(clientId, perms);
    }
    this.addRole({ name: 'Logto Management API access', description: 'M2M role of m2m-app', type: 'MachineToMachine' });
    for (const r of asArray(fx.roles)) this.addRole(r);
    for (const r of asArray(fx.organization_roles)) this.addOrgRole(r);
    let i = 0;
    for (const o of asArray(fx.organizations)) {
      this.addOrganization({ createdAt: FIXTURE_EPOCH + i * 1000, ...o });
      i += 1;
    }
    i = 0;
    for (const u of asArray(fx.users)) {
      this.createUser({ created_at: FIXTURE_EPOCH + i * 60_000, ...u }, { fixture: true });
      i += 1;
    }
  }

  // Deterministic synthetic data for scale tests: users user00001.., roles grole001..,
  // organizations gorg001.. (names "Generated Org 001"). Memberships are spread by index.
  generate({ users = 0, roles = 0, orgs = 0 } = {}) {
    const width = (n, min) => Math.max(min, String(n).length);
    const roleIds = [];
    for (let r = 1; r <= roles; r += 1) {
      const name = `grole${String(r).padStart(width(roles, 3), '0')}`;
      roleIds.push(this.addRole({ name, description: `Generated role ${r}` }).id);
    }
    const orgIds = [];
    const base = this.lastCreatedAt + 60_000;
    for (let o = 1; o <= orgs; o += 1) {
      const num = String(o).padStart(width(orgs, 3), '0');
      const org = this.addOrganization({
        id: stableId(`gorg:${o}`, 12), name: `Generated Org ${num}`, description: `Generated organization ${o}`,
        createdAt: base + o,
      });
      orgIds.push(org.id);
    }
    if (orgs > 0 && ![...this.orgRoles.values()].some((r) => r.name === 'member')) {
      this.addOrgRole({ name: 'member', description: 'Organization member' });
    }
    const memberRole = [...this.orgRoles.values()].find((r) => r.name === 'member');
    const adminRole = [...this.orgRoles.values()].find((r) => r.name === 'admin');
    const uw = width(users, 5);
    const t0 = Math.max(base + orgs + 1000, this.lastCreatedAt + 1000);
    for (let n = 1; n <= users; n += 1) {
      const username = `user${String(n).padStart(uw, '0')}`;
      const id = stableId(`user:${username}`, 12);
      const user = this.newUserRecord({
        id,
        username,
        primaryEmail: `${username}@generated.example.com`,
        name: `Generated User ${n}`,
        password: `pw-${username}`,
        createdAt: t0 + n * 1000,
      });
      if (roleIds.length) {
        user.roles.add(roleIds[(n - 1) % roleIds.length]);
        if (roleIds.length > 1 && n % 3 === 0) user.roles.add(roleIds[(n * 7) % roleIds.length]);
      }
      if (orgIds.length) {
        const orgId = orgIds[(n - 1) % orgIds.length];
        const oroles = new Set(memberRole ? [memberRole.id] : []);
        if (adminRole && n % 10 === 0) oroles.add(adminRole.id);
        user.organizations.set(orgId, oroles);
      }
      this.users.set(id, user);
      this.lastCreatedAt = Math.max(this.lastCreatedAt, user.createdAt);
    }
    this.sortedCache = null;
  }

  // ---- roles / organizations ---------------------------------------------------------------

  addRole({ name, description, id, type = 'User', scopes }) {
    if (typeof name !== 'string' || !name) throw new StoreError(400, 'role name required');
    if (this.roleByName(name)) throw new StoreError(409, `role ${name} exists`);
    const role = {
      tenantId: TENANT_ID,
      id: id ?? stableId(`role:${name}`, 21),
      name,
      description: description ?? name,
      type,
      isDefault: false,
      scopes: isPlainObject(scopes) ? scopes : {},
    };
    this.roles.set(role.id, role);
    return role;
  }

  roleByName(name) {
    for (const r of this.roles.values()) if (r.name === name) return r;
    return undefined;
  }

  deleteRole(name) {
    const role = this.roleByName(name);
    if (!role) throw new StoreError(404, `role ${name} not found`);
    this.roles.delete(role.id);
    for (const u of this.users.values()) u.roles.delete(role.id);
    return role;
  }

  // scopes: the organization permissions (organization_scopes) the role grants.
  addOrgRole({ name, description, id, scopes }) {
    if (this.orgRoleByName(name)) throw new StoreError(409, `organization role ${name} exists`);
    for (const sc of asArray(scopes)) {
      if (!this.orgScopes.includes(sc)) throw new StoreError(400, `unknown organization permission ${sc}`);
    }
    const role = {
      id: id ?? stableId(`orgrole:${name}`, 21), name, description: description ?? null, scopes: asArray(scopes),
    };
    this.orgRoles.set(role.id, role);
    return role;
  }

  orgRoleByName(name) {
    for (const r of this.orgRoles.values()) if (r.name === name) return r;
    return undefined;
  }

  addOrganization({ id, name, description = null, createdAt, customData = {} }) {
    if (typeof name !== 'string' || !name) throw new StoreError(400, 'organization name required');
    const orgId = id ?? randomId(12);
    if (this.orgs.has(orgId)) throw new StoreError(409, `organization ${orgId} exists`);
    const org = {
      tenantId: TENANT_ID,
      id: orgId,
      name,
      description,
      customData,
      isMfaRequired: false,
      color: {},
      branding: {},
      customCss: null,
      createdAt: createdAt ?? Date.now(),
    };
    this.orgs.set(org.id, org);
    return org;
  }

  deleteOrganization(id) {
    const org = this.orgs.get(id);
    if (!org) throw new StoreError(404, `organization ${id} not found`);
    this.orgs.delete(id);
    for (const u of this.users.values()) u.organizations.delete(id);
    return org;
  }

  // ---- users -------------------------------------------------------------------------------

  newUserRecord(fields) {
    const now = Date.now();
    return {
      id: fields.id,
      username: fields.username ?? null,
      primaryEmail: fields.primaryEmail ?? null,
      primaryPhone: fields.primaryPhone ?? null,
      name: fields.name ?? null,
      avatar: fields.avatar ?? null,
      customData: fields.customData ?? {},
      identities: fields.identities ?? {},
      ssoIdentities: fields.ssoIdentities ?? [],
      profile: fields.profile ?? {},
      groups: fields.groups ?? null,
      lastSignInAt: fields.lastSignInAt ?? null,
      createdAt: fields.createdAt ?? now,
      updatedAt: fields.updatedAt ?? fields.createdAt ?? now,
      applicationId: fields.applicationId ?? null,
      isSuspended: Boolean(fields.isSuspended),
      password: fields.password ?? null,
      totpSecret: fields.totpSecret ?? null,
      totpLastStep: undefined,
      roles: new Set(),
      organizations: new Map(), // orgId -> Set(orgRoleId)
    };
  }

  // `input` uses the control-API / fixture field names (snake_case).
  createUser(input, { fixture = false } = {}) {
    if (!isPlainObject(input)) throw new StoreError(400, 'user must be an object');
    const username = input.username ?? null;
    const email = input.email ?? null;
    if (username === null && email === null && !input.phone) {
      throw new StoreError(400, 'a user needs a username, an email or a phone');
    }
    this.checkUsername(username);
    this.checkEmail(email);
    const id = input.id ?? (fixture ? stableId(`user:${username ?? email}`, 12) : randomId(12));
    if (this.users.has(id)) throw new StoreError(409, `user id ${id} exists`);
    let createdAt = input.created_at;
    if (createdAt === undefined) {
      createdAt = Math.max(Date.now(), this.lastCreatedAt + 1);
    }
    const user = this.newUserRecord({
      id,
      username,
      primaryEmail: email,
      primaryPhone: input.phone ?? null,
      name: input.name ?? null,
      avatar: input.avatar ?? null,
      customData: input.custom_data ?? {},
      identities: input.identities ?? {},
      ssoIdentities: input.sso_identities ?? [],
      profile: input.profile ?? {},
      groups: input.groups ?? null,
      isSuspended: input.suspended,
      password: input.password ?? null,
      totpSecret: input.totp_secret ?? null,
      createdAt,
      updatedAt: input.updated_at ?? createdAt,
      lastSignInAt: input.last_sign_in_at ?? null,
      applicationId: input.application_id ?? null,
    });
    if (user.totpSecret !== null && !isValidSecret(user.totpSecret)) {
      throw new StoreError(400, 'totp_secret must be 16..32 base32 characters');
    }
    this.setUserRoles(user, input.roles ?? []);
    this.setUserOrganizations(user, input.organizations ?? []);
    this.users.set(id, user);
    this.lastCreatedAt = Math.max(this.lastCreatedAt, createdAt);
    for (const pat of asArray(input.pats)) this.addPat(user, pat);
    this.sortedCache = null;
    return user;
  }

  checkUsername(username, exceptId) {
    if (username === null) return;
    if (typeof username !== 'string' || !USERNAME_RE.test(username)) {
      throw new StoreError(400, `username ${JSON.stringify(username)} does not match ^[A-Z_a-z]\\w*$`);
    }
    // Logto's default username policy is case-sensitive: `Alice` and `alice` are two users
    // (username_policy.caseSensitive, `queries/user.ts` hasUser). Without it, unique ignoring case.
    const caseSensitive = this.settings?.usernameCaseSensitive ?? true;
    const same = (a, b) => (caseSensitive ? a === b : a.toLowerCase() === b.toLowerCase());
    for (const u of this.users.values()) {
      if (u.id !== exceptId && u.username && same(u.username, username)) {
        throw new StoreError(409, `username ${username} exists`);
      }
    }
  }

  checkEmail(email, exceptId) {
    if (email === null) return;
    if (typeof email !== 'string' || !/^\S+@\S+\.\S+$/.test(email)) {
      throw new StoreError(400, `invalid email ${JSON.stringify(email)}`);
    }
    for (const u of this.users.values()) {
      if (u.id !== exceptId && u.primaryEmail && u.primaryEmail.toLowerCase() === email.toLowerCase()) {
        throw new StoreError(409, `email ${email} exists`);
      }
    }
  }

  setUserRoles(user, names) {
    const ids = new Set();
    for (const name of asArray(names)) {
      const role = this.roleByName(name);
      if (!role || role.type !== 'User') throw new StoreError(400, `unknown role ${name}`);
      ids.add(role.id);
    }
    user.roles = ids;
  }

  setUserOrganizations(user, list) {
    const map = new Map();
    for (const m of asArray(list)) {
      const orgId = typeof m === 'string' ? m : m?.id;
      if (!this.orgs.has(orgId)) throw new StoreError(400, `unknown organization ${orgId}`);
      const roleIds = new Set();
      for (const name of asArray(typeof m === 'string' ? [] : m.roles)) {
        const role = this.orgRoleByName(name);
        if (!role) throw new StoreError(400, `unknown organization role ${name}`);
        roleIds.add(role.id);
      }
      map.set(orgId, roleIds);
    }
    user.organizations = map;
  }

  updateUser(user, patch) {
    if (!isPlainObject(patch)) throw new StoreError(400, 'patch must be an object');
    const known = new Set(['roles', 'organizations', 'suspended', 'custom_data', 'password', 'name',
      'email', 'phone', 'username', 'totp_secret', 'avatar', 'profile', 'identities', 'groups',
      'mfa_skipped']);
    for (const k of Object.keys(patch)) {
      if (!known.has(k)) throw new StoreError(400, `unknown field ${k}`);
    }
    if ('username' in patch) this.checkUsername(patch.username, user.id);
    if ('email' in patch) this.checkEmail(patch.email, user.id);
    if ('totp_secret' in patch && patch.totp_secret !== null && !isValidSecret(patch.totp_secret)) {
      throw new StoreError(400, 'totp_secret must be 16..32 base32 characters');
    }
    if ('custom_data' in patch && !isPlainObject(patch.custom_data)) {
      throw new StoreError(400, 'custom_data must be an object');
    }
    if ('roles' in patch) this.setUserRoles(user, patch.roles);
    if ('organizations' in patch) this.setUserOrganizations(user, patch.organizations);
    if ('suspended' in patch) user.isSuspended = Boolean(patch.suspended);
    if ('custom_data' in patch) user.customData = patch.custom_data;
    if ('password' in patch) user.password = patch.password;
    if ('name' in patch) user.name = patch.name;
    if ('email' in patch) user.primaryEmail = patch.email;
    if ('phone' in patch) user.primaryPhone = patch.phone;
    if ('username' in patch) user.username = patch.username;
    if ('avatar' in patch) user.avatar = patch.avatar;
    if ('profile' in patch) user.profile = patch.profile ?? {};
    if ('identities' in patch) user.identities = patch.identities ?? {};
    if ('groups' in patch) user.groups = patch.groups;
    if ('mfa_skipped' in patch) user.mfaSkipped = Boolean(patch.mfa_skipped);
    if ('totp_secret' in patch) {
      user.totpSecret = patch.totp_secret;
      user.totpLastStep = undefined;
    }
    this.touch(user);
    return user;
  }

  touch(user) {
    user.updatedAt = Math.max(Date.now(), user.updatedAt + 1);
    this.sortedCache = null;
  }

  deleteUser(user) {
    this.users.delete(user.id);
    for (const [value, pat] of this.pats) if (pat.userId === user.id) this.pats.delete(value);
    this.sortedCache = null;
  }

  // Control-API addressing: username (exact, then case-insensitive), user id, or email.
  findUserByKey(key) {
    if (typeof key !== 'string' || !key) return undefined;
    for (const u of this.users.values()) if (u.username === key) return u;
    if (this.users.has(key)) return this.users.get(key);
    const lower = key.toLowerCase();
    for (const u of this.users.values()) if (u.username && u.username.toLowerCase() === lower) return u;
    for (const u of this.users.values()) if (u.primaryEmail && u.primaryEmail.toLowerCase() === lower) return u;
    return undefined;
  }

  // Experience API identifier lookup (routes/experience/classes/utils.ts findUserByIdentifier).
  findUserByIdentifier({ type, value }, { caseSensitiveUsername = true } = {}) {
    if (typeof value !== 'string') return undefined;
    for (const u of this.users.values()) {
      switch (type) {
        case 'username':
          if (u.username !== null && (caseSensitiveUsername
            ? u.username === value : u.username.toLowerCase() === value.toLowerCase())) return u;
          break;
        case 'email':
          if (u.primaryEmail !== null && u.primaryEmail.toLowerCase() === value.toLowerCase()) return u;
          break;
        case 'phone':
          if (u.primaryPhone !== null && u.primaryPhone.replace(/\D/g, '') === value.replace(/\D/g, '')) return u;
          break;
        case 'userId':
          if (u.id === value) return u;
          break;
        default:
      }
    }
    return undefined;
  }

  // Users ordered newest first (`order by created_at desc`), stable on id.
  sortedUsers() {
    if (!this.sortedCache) {
      this.sortedCache = [...this.users.values()].sort((a, b) => (b.createdAt - a.createdAt)
        || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    return this.sortedCache;
  }

  // ---- personal access tokens --------------------------------------------------------------

  addPat(user, { name, value, expires_at: expiresAt = null } = {}) {
    if (typeof name !== 'string' || !name) throw new StoreError(400, 'PAT name required');
    for (const p of this.pats.values()) {
      if (p.userId === user.id && p.name === name) throw new StoreError(409, `PAT ${name} exists`);
    }
    const pat = {
      userId: user.id,
      name,
      value: value ?? `pat_${randomId(32, ALNUM)}`,
      createdAt: Date.now(),
      expiresAt: expiresAt ?? null,
    };
    this.pats.set(pat.value, pat);
    return pat;
  }

  // ---- derived data ------------------------------------------------------------------------

  userRoles(user) {
    return [...user.roles].map((id) => this.roles.get(id)).filter(Boolean);
  }

  // `getOrganizationsByUserId`: organizations with `organizationRoles: [{id, name}]`.
  userOrganizations(user) {
    const out = [];
    for (const [orgId, roleIds] of user.organizations) {
      const org = this.orgs.get(orgId);
      if (!org) continue;
      const organizationRoles = [...roleIds].map((rid) => this.orgRoles.get(rid)).filter(Boolean)
        .map(({ id, name }) => ({ id, name }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      out.push({ org, organizationRoles });
    }
    return out;
  }

  // Organization permissions the user holds in one organization through its organization roles.
  userOrganizationScopes(user, orgId) {
    const scopes = new Set();
    for (const rid of user.organizations.get(orgId) ?? []) {
      for (const sc of this.orgRoles.get(rid)?.scopes ?? []) scopes.add(sc);
    }
    return [...scopes];
  }

  // Scopes the user holds for an API resource through global roles (Logto: user roles and,
  // for organizations, organization roles; here roles carry `scopes: {indicator: [...]}`).
  userResourceScopes(user, indicator) {
    if (indicator === ORG_RESOURCE) return [...this.orgScopes];
    const scopes = new Set();
    for (const role of this.userRoles(user)) {
      for (const s of asArray(role.scopes?.[indicator])) scopes.add(s);
    }
    return [...scopes];
  }

  appResourceScopes(clientId, indicator) {
    return asArray(this.appScopes.get(clientId)?.[indicator]);
  }

  // Generic-profile subject (Keycloak style UUID) and groups.
  genericSub(user) {
    return stableUuid(user.id);
  }

  findByGenericSub(sub) {
    if (!this.genericSubs || !this.genericSubs.has(sub)) {
      this.genericSubs = new Map([...this.users.values()].map((u) => [stableUuid(u.id), u.id]));
    }
    const id = this.genericSubs.get(sub);
    return id === undefined ? undefined : this.users.get(id);
  }

  genericGroups(user) {
    if (Array.isArray(user.groups)) return [...user.groups];
    return this.userRoles(user).map((r) => r.name);
  }
}
