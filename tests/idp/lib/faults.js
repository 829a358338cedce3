// Fault injection for the main listener. A rule { endpoint, fault, remaining } affects the
// requests of one endpoint class (or "*"); `remaining` counts the requests it still affects
// (Infinity = until DELETE /faults). A rule is only consumed by requests it actually changes.
import { CompactSign, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from 'jose';
import { createHmac, createPublicKey } from 'node:crypto';

import { generateKey } from './keys.js';

export const ENDPOINTS = new Set(['discovery', 'jwks', 'device_auth', 'token', 'userinfo',
  'revocation', 'auth', 'experience', 'mgmt', '*']);

// Bare errors (issue 14.8): a 4xx without an OAuth body, as Glewlwyd answers (glewlwyd.md):
// `bare_400`/`bare_401`/`bare_403` an empty body, `html_400` an HTML page.
export const BARE_ERROR_FAULTS = new Set(['bare_400', 'bare_401', 'bare_403', 'html_400']);
// Rate limits (issue 18.3): `http429` a 429, `http503` a 503, each with the rule's `retry_after`
// (seconds, or a string such as an HTTP date) as Retry-After when the rule has one.
export const RATE_LIMIT_FAULTS = new Set(['http429', 'http503']);
export const NETWORK_FAULTS = new Set(['reset', 'hang', 'http500', 'malformed', 'truncated', 'huge',
  ...BARE_ERROR_FAULTS, ...RATE_LIMIT_FAULTS]);
// `grow`: the request is answered normally, but first a new user (grown1, grown2, ...) is added,
// so a walk of the directory sees it change under it (Total-Number moves).
export const DIRECTORY_FAULTS = new Set(['grow']);
export const ID_TOKEN_FAULTS = new Set(['wrong_issuer', 'bad_signature', 'unknown_kid',
  'expired_id_token', 'alg_none', 'alg_hs256', 'wrong_aud']);
// Hostile text (issue 12.6): what a person is shown carries C1, bidi and control characters.
export const DEVICE_TEXT_FAULTS = new Set(['hostile_uri', 'hostile_uri_bytes', 'hostile_uri_control',
  'hostile_user_code']);
export const TOKEN_TEXT_FAULTS = new Set(['hostile_error']);
export const FAULTS = new Set([...NETWORK_FAULTS, ...ID_TOKEN_FAULTS, ...DIRECTORY_FAULTS, 'slow_down',
  ...DEVICE_TEXT_FAULTS, ...TOKEN_TEXT_FAULTS]);

// U+202E RIGHT-TO-LEFT OVERRIDE, U+009B (8-bit CSI, encoded), U+200F RIGHT-TO-LEFT MARK.
export const HOSTILE_TEXT = '\u202e\u009b31m\u200fevil';

export const HUGE_BYTES = 10 * 1024 * 1024;

export class Faults {
  constructor() {
    this.rules = [];
    this.nextId = 1;
  }

  // retry_after: a whole number of seconds (0..86400) or a short printable string (an HTTP date,
  // or garbage on purpose); after: how many affected requests pass untouched first.
  add({ endpoint, fault, count, retry_after: retryAfter, after } = {}) {
    if (!ENDPOINTS.has(endpoint)) throw new TypeError(`unknown endpoint ${JSON.stringify(endpoint)}; one of ${[...ENDPOINTS].join(', ')}`);
    if (!FAULTS.has(fault)) throw new TypeError(`unknown fault ${JSON.stringify(fault)}; one of ${[...FAULTS].join(', ')}`);
    if (count !== undefined && count !== null && !(Number.isInteger(count) && count > 0)) {
      throw new TypeError('count must be a positive integer');
    }
    if (retryAfter !== undefined && retryAfter !== null
      && !(Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 86400)
      && !(typeof retryAfter === 'string' && /^[\x20-\x7e]{1,64}$/.test(retryAfter))) {
      throw new TypeError('retry_after must be 0..86400 seconds or a printable string of at most 64 characters');
    }
    if (after !== undefined && after !== null && !(Number.isInteger(after) && after >= 0)) {
      throw new TypeError('after must be a non-negative integer');
    }
    const rule = {
      id: this.nextId, endpoint, fault, remaining: count ?? Infinity, retryAfter: retryAfter ?? null, after: after ?? 0,
    };
    this.nextId += 1;
    this.rules.push(rule);
    return rule;
  }

  clear() {
    this.rules = [];
  }

  list() {
    return this.rules.map((r) => ({
      id: r.id,
      endpoint: r.endpoint,
      fault: r.fault,
      remaining: Number.isFinite(r.remaining) ? r.remaining : null,
      ...(r.retryAfter !== null ? { retry_after: r.retryAfter } : {}),
      ...(r.after ? { after: r.after } : {}),
    }));
  }

  // Takes (consumes one use of) the first live rule for `endpoint` whose fault is in `allowed`,
  // and returns it. Every such rule still letting `after` requests pass counts this one down
  // instead (so `after` counts the class's requests since the rule was added).
  takeRule(endpoint, allowed) {
    let taken;
    for (const rule of this.rules) {
      if (rule.remaining <= 0) continue;
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      if (!allowed.has(rule.fault)) continue;
      if (rule.after > 0) {
        rule.after -= 1;
      } else if (!taken) {
        taken = rule;
        rule.remaining -= 1;
      }
    }
    if (taken) this.rules = this.rules.filter((r) => r.remaining > 0);
    return taken;
  }

  take(endpoint, allowed) {
    return this.takeRule(endpoint, allowed)?.fault;
  }
}

// ---- network-level faults ------------------------------------------------------------------

function errorBodyFor(area) {
  if (area === 'oidc') {
    return {
      code: 'oidc.server_error',
      message: 'An unknown OIDC error occurred. Please try again later.',
      error: 'server_error',
      error_description: 'oops! something went wrong',
    };
  }
  return { message: 'Internal server error.' };
}

// Applies a network fault to a raw node request/response. `hanging` is a Set where hung
// sockets are recorded so that /down and shutdown can destroy them.
export function applyNetworkFault(fault, req, res, { area, hanging, retryAfter = null }) {
  const socket = req.socket;
  switch (fault) {
    case 'reset':
      // A TCP RST ("connection reset by peer"). A TLS socket cannot send one itself
      // (ERR_INVALID_HANDLE_TYPE), its underlying TCP socket (_parent) can; else just close.
      for (const s of [socket, socket._parent]) {
        if (typeof s?.resetAndDestroy === 'function') {
          try {
            s.resetAndDestroy();
            if (s !== socket) socket.destroy();
            return;
          } catch { /* try the next one */ }
        }
      }
      socket.destroy();
      return;
    case 'hang':
      hanging.add(socket);
      socket.once('close', () => hanging.delete(socket));
      return;
    case 'http500': {
      const body = JSON.stringify(errorBodyFor(area));
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    case 'malformed': {
      const body = '{"error": "this is not json", oops ]';
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    case 'truncated': {
      const full = JSON.stringify({
        access_token: 'x'.repeat(64), issuer: 'truncated', keys: [], padding: 'y'.repeat(512),
      });
      const half = full.slice(0, Math.floor(full.length / 2));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(full) });
      res.write(half, () => {
        setTimeout(() => socket.destroy(), 50);
      });
      return;
    }
    case 'huge': {
      const head = '{"padding":"';
      const tail = '"}';
      const fill = HUGE_BYTES - head.length - tail.length;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': HUGE_BYTES });
      res.write(head);
      const chunk = 'A'.repeat(64 * 1024);
      let left = fill;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(n === chunk.length ? chunk : chunk.slice(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(tail);
      };
      pump();
      return;
    }
    case 'http429':
    case 'http503': {
      const body = JSON.stringify({ message: fault === 'http429' ? 'Too many requests.' : 'Service unavailable.' });
      const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
      if (retryAfter !== null) headers['retry-after'] = String(retryAfter);
      res.writeHead(Number(fault.slice(4)), headers);
      res.end(body);
      return;
    }
    case 'bare_400':
    case 'bare_401':
    case 'bare_403':
      res.writeHead(Number(fault.slice(5)), { 'content-length': 0 });
      res.end();
      return;
    case 'html_400': {
      const body = '<html><body><h1>400 Bad Request</h1></body></html>';
      res.writeHead(400, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    default:
      throw new Error(`not a network fault: ${fault}`);
  }
}

// ---- hostile text ---------------------------------------------------------------------------

// The device authorization answer `body` (already Logto-shaped) made hostile. Returns a new body:
// an object, or a Buffer for `hostile_uri_bytes` (a lone 0x9b byte: invalid UTF-8, so invalid
// JSON too). The device and user codes stay usable where the fault allows it.
export function hostileDeviceAnswer(fault, body) {
  const complete = body.verification_uri_complete;
  switch (fault) {
    case 'hostile_uri':
      return { ...body, verification_uri_complete: `${complete}&note=${HOSTILE_TEXT}` };
    case 'hostile_uri_control':
      return { ...body, verification_uri_complete: `${complete}&note=\u001b[2J\u001b]0;pwned\u0007` };
    case 'hostile_user_code':
      return { ...body, user_code: `${body.user_code}${HOSTILE_TEXT}` };
    case 'hostile_uri_bytes': {
      const json = JSON.stringify({ ...body, verification_uri_complete: `${complete}&note=MARK` });
      const [head, tail] = json.split('MARK');
      return Buffer.concat([Buffer.from(head), Buffer.from([0x9b]), Buffer.from(`31m${tail}`)]);
    }
    default:
      throw new Error(`not a device text fault: ${fault}`);
  }
}

// A device-code poll refused by the person, with a hostile error_description.
export function hostileTokenError() {
  return { error: 'access_denied', error_description: `End-User aborted interaction${HOSTILE_TEXT}` };
}

// ---- ID token faults -----------------------------------------------------------------------

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function sign(header, payload, keyObject) {
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(keyObject);
}

// Returns a tampered copy of `idToken`. `keyRing` holds the real signing keys.
export async function tamperIdToken(fault, idToken, { keyRing }) {
  const header = decodeProtectedHeader(idToken);
  const payload = decodeJwt(idToken);
  const current = keyRing.current;
  const now = Math.floor(Date.now() / 1000);
  switch (fault) {
    case 'wrong_issuer':
      return sign(header, { ...payload, iss: 'https://evil.example.com/oidc' }, current.keyObject);
    case 'wrong_aud':
      return sign(header, { ...payload, aud: 'another-client' }, current.keyObject);
    case 'expired_id_token':
      return sign(header, { ...payload, iat: now - 7200, exp: now - 3600 }, current.keyObject);
    case 'bad_signature': {
      const [h, p, s] = idToken.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[Math.floor(sig.length / 2)] ^= 0x5a;
      return `${h}.${p}.${sig.toString('base64url')}`;
    }
    case 'unknown_kid': {
      const rogue = await generateKey(current.type);
      return sign({ ...header, kid: await calculateJwkThumbprint(rogue.publicJwk) }, payload, rogue.keyObject);
    }
    case 'alg_none':
      return `${b64({ alg: 'none' })}.${b64(payload)}.`;
    case 'alg_hs256': {
      // Key confusion: HMAC keyed with the published public key (PEM), kid of the real key.
      const pem = createPublicKey({ key: current.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const h = b64({ alg: 'HS256', kid: header.kid });
      const p = b64(payload);
      const sig = createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url');
      return `${h}.${p}.${sig}`;
    }
    default:
      throw new Error(`not an ID token fault: ${fault}`);
  }
}
