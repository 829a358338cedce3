// RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30 s steps) on node:crypto, as Logto's otplib setup:
// `authenticator.options = { window: 1 }`, so codes of the previous and next step are accepted.
import { createHmac, randomBytes } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const STEP_SECONDS = 30;
export const DIGITS = 6;

export function base32Decode(input) {
  const clean = String(input).toUpperCase().replace(/=+$/, '').replace(/\s+/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = B32.indexOf(ch);
    if (idx === -1) throw new TypeError(`invalid base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function base32Encode(buf) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

// Logto's validateTotpSecret: 16..32 base32 characters.
export function isValidSecret(secret) {
  return typeof secret === 'string' && secret.length >= 16 && secret.length <= 32
    && /^[A-Z2-7]+=*$/.test(secret);
}

export function generateSecret() {
  return base32Encode(randomBytes(20));
}

export function hotp(secret, counter) {
  const key = base32Decode(secret);
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16)
    | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(bin % 10 ** DIGITS).padStart(DIGITS, '0');
}

export function currentStep(nowMs = Date.now()) {
  return Math.floor(nowMs / 1000 / STEP_SECONDS);
}

export function codeForStep(secret, step) {
  return hotp(secret, step);
}

// Returns the time step the code belongs to (current ±1), or undefined.
export function matchStep(secret, code, nowMs = Date.now()) {
  if (typeof code !== 'string' || !/^\d{6}$/.test(code)) return undefined;
  const step = currentStep(nowMs);
  for (const delta of [0, -1, 1]) {
    if (hotp(secret, step + delta) === code) return step + delta;
  }
  return undefined;
}
