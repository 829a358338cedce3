// Signing keys with Logto's states (logto-protocol.md §1.3, §1.4): the Current key signs, the
// Previous key stays published until the next rotation. kid = RFC 7638 thumbprint; the public
// JWKS entries carry only kty/crv/x/y (or kty/e/n) and kid, no alg/use.
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import * as jose from 'jose';

function algFor(jwk) {
  if (jwk.kty === 'RSA') return 'RS256'; // Logto: RSA keys fall back to oidc-provider's RS256
  switch (jwk.crv) {
    case 'P-256': return 'ES256';
    case 'P-384': return 'ES384';
    case 'P-521': return 'ES512';
    default: throw new Error(`unsupported curve ${jwk.crv}`);
  }
}

export function publicPart(jwk) {
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', e: jwk.e, n: jwk.n }
    : { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
}

export async function generateKey(type) {
  let pair;
  if (type === 'EC') {
    pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  } else if (type === 'RSA') {
    // Logto generates 4096-bit RSA keys; 2048 keeps the tests fast and is equivalent on the wire.
    pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  } else {
    throw new TypeError('type must be "EC" or "RSA"');
  }
  const privateJwk = pair.privateKey.export({ format: 'jwk' });
  const pub = publicPart(privateJwk);
  const kid = await jose.calculateJwkThumbprint(pub, 'sha256');
  return {
    kid,
    type,
    alg: algFor(privateJwk),
    privateJwk: { ...privateJwk, kid },
    publicJwk: { ...pub, kid },
    keyObject: pair.privateKey,
    createdAt: Date.now(),
  };
}

export class KeyRing {
  constructor() {
    this.keys = []; // index 0 = Current, index 1 = Previous
  }

  static async create(type) {
    const ring = new KeyRing();
    ring.keys = [await generateKey(type)];
    return ring;
  }

  get current() {
    return this.keys[0];
  }

  get alg() {
    return this.current.alg;
  }

  // Immediate rotation (getImmediatelyRotatedOidcPrivateKeys): new -> Current,
  // old Current -> Previous, older Previous dropped.
  async rotate(type) {
    const key = await generateKey(type);
    this.keys = [key, this.keys[0]];
    return key;
  }

  providerJwks() {
    return { keys: this.keys.map((k) => ({ ...k.privateJwk })) };
  }

  publicJwks() {
    return this.keys.map((k) => ({ ...k.publicJwk }));
  }

  describe() {
    return this.keys.map((k, i) => ({
      kid: k.kid, type: k.type, alg: k.alg, state: i === 0 ? 'Current' : 'Previous', createdAt: k.createdAt,
    }));
  }

  static keyObjectFromJwk(jwk) {
    return createPrivateKey({ key: jwk, format: 'jwk' });
  }
}
