// Small helpers shared by the test IdP modules.
import { createHash, randomInt } from 'node:crypto';

export const LOWER_ALNUM = '0123456789abcdefghijklmnopqrstuvwxyz';
export const ALNUM = `${LOWER_ALNUM}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;

// Deterministic id from a seed: same input, same id on every run (fixtures, --generate).
export function stableId(seed, length, alphabet = LOWER_ALNUM) {
  let out = '';
  let counter = 0;
  while (out.length < length) {
    const digest = createHash('sha256').update(`${seed}#${counter}`).digest();
    for (const byte of digest) {
      // Reject bytes above the largest multiple of the alphabet size: no modulo bias.
      const limit = 256 - (256 % alphabet.length);
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
    counter += 1;
  }
  return out;
}

// Random id (runtime-created entities), Logto's generateStandardShortId/generateStandardId shape.
export function randomId(length, alphabet = LOWER_ALNUM) {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphabet[randomInt(alphabet.length)];
  return out;
}

// RFC 4122-shaped UUID derived from a seed (generic profile subjects look like Keycloak's).
export function stableUuid(seed) {
  const h = createHash('sha1').update(`uuid:${seed}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function snakeToCamel(s) {
  return s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

export function camelToSnake(s) {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function epochSeconds() {
  return Math.floor(Date.now() / 1000);
}
