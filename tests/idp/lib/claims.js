// Scope -> claim tables and claim values.
// Logto: packages/toolkit/core-kit/src/openid.ts (idTokenClaims, extendedIdTokenClaimsByScope,
// userClaims) and packages/core/src/oidc/scope.ts (getAcceptedUserClaims, getUserClaimsData);
// logto-protocol.md §4.1, §4.2.

export const LOGTO_ID_TOKEN_CLAIMS = {
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
    'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
    'username', 'created_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
  custom_data: [],
  identities: [],
  roles: [],
  'urn:logto:scope:organizations': [],
  'urn:logto:scope:organization_roles': [],
  'urn:logto:scope:sessions': [],
  'urn:logto:scope:trusted_devices': [],
};

export const LOGTO_EXTENDED_CLAIMS = {
  custom_data: ['custom_data'],
  identities: ['identities', 'sso_identities'],
  roles: ['roles'],
  'urn:logto:scope:organizations': ['organizations', 'organization_data'],
  'urn:logto:scope:organization_roles': ['organization_roles'],
};

// Default ID token config (createDefaultIdTokenConfig): these extended claims go into ID tokens.
export const LOGTO_ENABLED_EXTENDED_ID_TOKEN_CLAIMS = ['roles', 'organizations', 'organization_roles'];

export const LOGTO_USER_CLAIMS = Object.fromEntries(Object.keys(LOGTO_ID_TOKEN_CLAIMS)
  .map((scope) => [scope, [...LOGTO_ID_TOKEN_CLAIMS[scope], ...(LOGTO_EXTENDED_CLAIMS[scope] ?? [])]]));

export const ORG_SCOPES = ['urn:logto:scope:organizations', 'urn:logto:scope:organization_roles'];

const PROFILE_KEYS = {
  family_name: 'familyName',
  given_name: 'givenName',
  middle_name: 'middleName',
  nickname: 'nickname',
  preferred_username: 'preferredUsername',
  profile: 'profile',
  website: 'website',
  gender: 'gender',
  birthdate: 'birthdate',
  zoneinfo: 'zoneinfo',
  locale: 'locale',
  address: 'address',
};

const USER_KEYS = {
  name: 'name',
  picture: 'avatar',
  username: 'username',
  email: 'primaryEmail',
  phone_number: 'primaryPhone',
  custom_data: 'customData',
  identities: 'identities',
  created_at: 'createdAt',
  updated_at: 'updatedAt',
};

export function acceptedLogtoClaims(use, scope, rejected = []) {
  const out = [];
  for (const s of String(scope ?? '').split(' ')) {
    if (!(s in LOGTO_ID_TOKEN_CLAIMS)) continue;
    if (use === 'userinfo') {
      out.push(...LOGTO_USER_CLAIMS[s]);
    } else {
      out.push(...LOGTO_ID_TOKEN_CLAIMS[s],
        ...(LOGTO_EXTENDED_CLAIMS[s] ?? []).filter((c) => LOGTO_ENABLED_EXTENDED_ID_TOKEN_CLAIMS.includes(c)));
    }
  }
  return out.filter((c) => !rejected.includes(c));
}

export function logtoClaims(store, user, use, scope, rejected) {
  const claims = { sub: user.id };
  const wanted = acceptedLogtoClaims(use, scope, rejected);
  const orgs = wanted.some((c) => c.startsWith('organization')) ? store.userOrganizations(user) : [];
  for (const claim of wanted) {
    switch (claim) {
      case 'email_verified': claims[claim] = Boolean(user.primaryEmail); break;
      case 'phone_number_verified': claims[claim] = Boolean(user.primaryPhone); break;
      case 'roles': claims[claim] = store.userRoles(user).map((r) => r.name); break;
      case 'organizations': claims[claim] = orgs.map(({ org }) => org.id); break;
      case 'organization_roles':
        claims[claim] = orgs.flatMap(({ org, organizationRoles }) => organizationRoles.map((r) => `${org.id}:${r.name}`));
        break;
      case 'organization_data':
        claims[claim] = orgs.map(({ org }) => ({ id: org.id, name: org.name, description: org.description }));
        break;
      case 'sso_identities':
        claims[claim] = (user.ssoIdentities ?? []).map(({ issuer, identityId, detail }) => ({ issuer, identityId, detail }));
        break;
      case 'preferred_username': {
        const v = user.profile.preferredUsername ?? user.username ?? undefined;
        if (v !== undefined) claims[claim] = v;
        break;
      }
      default:
        if (claim in PROFILE_KEYS) {
          // profile.* claims are omitted (undefined) when unset
          const v = user.profile[PROFILE_KEYS[claim]];
          if (v !== undefined) claims[claim] = v;
        } else if (claim in USER_KEYS) {
          // user columns: null when unset (name, picture, username, email, phone_number)
          claims[claim] = user[USER_KEYS[claim]];
        }
    }
  }
  return claims;
}

// Generic (Keycloak/FusionAuth-like) claims: standard OIDC, seconds, no nulls, `groups`.
export const GENERIC_SCOPE_CLAIMS = {
  openid: ['sub', 'groups'],
  profile: ['name', 'preferred_username', 'given_name', 'family_name', 'updated_at'],
  email: ['email', 'email_verified'],
};

export function genericClaims(store, user) {
  const claims = {
    sub: store.genericSub(user),
    groups: store.genericGroups(user),
    updated_at: Math.floor(user.updatedAt / 1000),
  };
  if (user.username) claims.preferred_username = user.username.toLowerCase();
  else if (user.primaryEmail) claims.preferred_username = user.primaryEmail.toLowerCase();
  if (user.name) claims.name = user.name;
  if (user.profile.givenName) claims.given_name = user.profile.givenName;
  if (user.profile.familyName) claims.family_name = user.profile.familyName;
  if (user.primaryEmail) {
    claims.email = user.primaryEmail;
    claims.email_verified = true;
  }
  return claims;
}
