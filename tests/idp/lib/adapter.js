// In-memory oidc-provider adapter with the semantics of Logto's Postgres adapter
// (packages/core/src/queries/oidc-model-instance.ts), not of oidc-provider's LRU memory adapter:
//   * nothing is evicted by size (the stock adapter is an LRU capped at 1000 entries);
//   * expired rows are still returned by find(), so oidc-provider itself decides "expired"
//     (an expired device code answers expired_token, not "device code not found");
//   * a consumed refresh token only counts as consumed once `refreshReuseLeeway` seconds
//     (Logto: 3) have passed since its consumption.
// The storage outlives Provider instances, so key rotation (which rebuilds the provider)
// keeps every grant, token, session and interaction.

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

// Expired rows are kept this long before the sweeper drops them.
const RETAIN_EXPIRED_MS = 60 * 60 * 1000;

export class Storage {
  constructor({ refreshReuseLeeway = 3 } = {}) {
    this.refreshReuseLeeway = refreshReuseLeeway;
    this.rows = new Map(); // `${model}:${id}` -> { model, id, payload, expiresAt, consumedAt }
    this.grants = new Map(); // grantId -> Set(rowKey)
    this.uids = new Map(); // session uid -> session id
    this.userCodes = new Map(); // normalized user code -> device code id
    this.clients = new Map(); // client_id -> static client metadata (set by buildProvider)
    this.sweeper = setInterval(() => this.sweep(), 60 * 1000);
    this.sweeper.unref();
  }

  close() {
    clearInterval(this.sweeper);
  }

  sweep(now = Date.now()) {
    for (const [key, row] of this.rows) {
      if (row.expiresAt !== undefined && row.expiresAt + RETAIN_EXPIRED_MS < now) {
        this.remove(key);
      }
    }
  }

  isConsumed(row, now = Date.now()) {
    if (!row.consumedAt) return false;
    if (row.model !== 'RefreshToken') return true;
    return row.consumedAt + this.refreshReuseLeeway * 1000 < now;
  }

  remove(key) {
    const row = this.rows.get(key);
    if (!row) return;
    this.rows.delete(key);
    const { payload } = row;
    if (payload.uid && this.uids.get(payload.uid) === row.id) this.uids.delete(payload.uid);
    if (payload.userCode && this.userCodes.get(payload.userCode) === row.id) {
      this.userCodes.delete(payload.userCode);
    }
    if (payload.grantId && this.grants.has(payload.grantId)) {
      const set = this.grants.get(payload.grantId);
      set.delete(key);
      if (set.size === 0) this.grants.delete(payload.grantId);
    }
  }

  // All rows of one model (used by the control API: device codes, grant counts).
  *entries(model) {
    for (const row of this.rows.values()) {
      if (row.model === model) yield row;
    }
  }

  // Revoke everything issued to an account (suspension / deletion, like Logto's signOutUser).
  revokeAccount(accountId) {
    for (const [key, row] of [...this.rows]) {
      if (row.payload.accountId === accountId
        && ['Grant', 'Session', 'AccessToken', 'RefreshToken', 'AuthorizationCode'].includes(row.model)) {
        this.remove(key);
      }
    }
  }

  liveCounts(accountId, now = Date.now()) {
    const counts = { grants: 0, refresh_tokens: 0, access_tokens: 0 };
    for (const row of this.rows.values()) {
      if (row.payload.accountId !== accountId) continue;
      const expired = row.payload.exp !== undefined && row.payload.exp * 1000 <= now;
      if (expired) continue;
      if (row.model === 'Grant') counts.grants += 1;
      if (row.model === 'RefreshToken' && !row.consumedAt) counts.refresh_tokens += 1;
      if (row.model === 'AccessToken') counts.access_tokens += 1;
    }
    return counts;
  }

  adapterClass() {
    const storage = this;
    return class LogtoLikeMemoryAdapter {
      constructor(model) {
        this.model = model;
      }

      key(id) {
        return `${this.model}:${id}`;
      }

      async upsert(id, payload, expiresIn) {
        const key = this.key(id);
        storage.remove(key);
        const row = {
          model: this.model,
          id,
          payload: structuredClone(payload),
          expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined,
          consumedAt: undefined,
        };
        storage.rows.set(key, row);
        if (this.model === 'Session' && payload.uid) storage.uids.set(payload.uid, id);
        if (payload.userCode) storage.userCodes.set(payload.userCode, id);
        if (GRANTABLE.has(this.model) && payload.grantId) {
          if (!storage.grants.has(payload.grantId)) storage.grants.set(payload.grantId, new Set());
          storage.grants.get(payload.grantId).add(key);
        }
      }

      async find(id) {
        // Clients come from the adapter as in Logto (applications table), so their metadata is
        // validated lazily, after the custom grant types are registered.
        if (this.model === 'Client') {
          const client = storage.clients.get(id);
          return client ? structuredClone(client) : undefined;
        }
        const row = storage.rows.get(this.key(id));
        if (!row) return undefined;
        const payload = structuredClone(row.payload);
        if (storage.isConsumed(row)) payload.consumed = true;
        return payload;
      }

      async findByUid(uid) {
        const id = storage.uids.get(uid);
        return id === undefined ? undefined : this.find(id);
      }

      async findByUserCode(userCode) {
        const id = storage.userCodes.get(userCode);
        return id === undefined ? undefined : this.find(id);
      }

      async consume(id) {
        const row = storage.rows.get(this.key(id));
        if (row) row.consumedAt = Date.now();
      }

      async destroy(id) {
        storage.remove(this.key(id));
      }

      async revokeByGrantId(grantId) {
        const set = storage.grants.get(grantId);
        if (!set) return;
        for (const key of [...set]) {
          if (key.startsWith(`${this.model}:`)) storage.remove(key);
        }
      }
    };
  }
}
