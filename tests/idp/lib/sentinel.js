// Sign-in lockout, after Logto's BasicSentinel (packages/core/src/sentinel/basic-sentinel.ts):
//   * activities are keyed by the identifier value (Logto: sha256 of identifier.value);
//   * password / verification-code / one-time-token share one pool, each MFA factor has its own;
//   * a failure that brings the failures of the last hour to `maxAttempts` blocks the target for
//     `lockoutSeconds`; while blocked every attempt (even a correct one) is answered "blocked".
// Logto's default policy is maxAttempts 100 / 60 min; this tenant is configured with 5 / 60 min
// (changeable through POST /settings {"max_attempts","lockout_seconds"}).

const WINDOW_MS = 60 * 60 * 1000;

export class Sentinel {
  constructor(settings) {
    this.settings = settings;
    this.activities = []; // { target, pool, failed, blocked, expiresAt, at }
  }

  report(target, pool, failed, now = Date.now()) {
    this.activities = this.activities.filter((a) => a.at > now - 2 * WINDOW_MS
      || (a.blocked && a.expiresAt > now));
    const blocked = this.activities.find((a) => a.target === target && a.pool === pool
      && a.blocked && a.expiresAt > now);
    if (blocked) {
      this.activities.push({ target, pool, failed, blocked: true, expiresAt: blocked.expiresAt, at: now });
      return { blocked: true, expiresAt: blocked.expiresAt };
    }
    const failures = this.activities.filter((a) => a.target === target && a.pool === pool
      && a.failed && !a.blocked && a.at > now - WINDOW_MS).length;
    const block = failures + (failed ? 1 : 0) >= this.settings.maxAttempts;
    const expiresAt = block ? now + this.settings.lockoutSeconds * 1000 : now;
    this.activities.push({ target, pool, failed, blocked: block, expiresAt, at: now });
    return { blocked: block, expiresAt };
  }

  // Forget every activity for these targets (control API unlock).
  clear(targets) {
    const set = new Set(targets.filter((t) => typeof t === 'string'));
    this.activities = this.activities.filter((a) => !set.has(a.target));
  }

  isBlocked(target, pool, now = Date.now()) {
    return this.activities.some((a) => a.target === target && a.pool === pool && a.blocked && a.expiresAt > now);
  }
}

// Intl.RelativeTimeFormat(['en']).format(minutes, 'minute'), as in withSentinel.
export function relativeMinutes(expiresAt, now = Date.now()) {
  return new Intl.RelativeTimeFormat(['en']).format(Math.round((expiresAt - now) / 1000 / 60), 'minute');
}
