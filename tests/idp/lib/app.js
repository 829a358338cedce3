// The main (HTTPS) listener's request handler: classify the request (endpoint class for
// faults, route key for /stats), apply network faults, buffer the body, then hand the request
// to oidc-provider (mounted at /oidc or /realms/test) or to the Koa harness app.
import * as querystring from 'node:querystring';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as nodePath from 'node:path';

import Koa from 'koa';

import { Router, errorMiddleware } from './router.js';
import { logtoUiRoutes, experienceRoutes } from './experience.js';
import { genericUiRoutes } from './generic-ui.js';
import { mgmtRoutes } from './mgmt.js';
import { DIRECTORY_FAULTS, NETWORK_FAULTS, applyNetworkFault } from './faults.js';
import { GENERIC_REALM_PATH } from './provider.js';

const BODY_LIMIT = 1024 * 1024;

// Returns { endpoint, routeKey, area, toProvider }.
export function classify(profile, method, pathname) {
  const key = (p) => `${method} ${p}`;
  if (profile === 'logto') {
    if (pathname === '/oidc' || pathname.startsWith('/oidc/')) {
      const sub = pathname.slice(5);
      let endpoint = 'other';
      let route = pathname;
      if (sub.startsWith('/.well-known/')) endpoint = 'discovery';
      else if (sub === '/jwks') endpoint = 'jwks';
      else if (sub === '/device/auth') endpoint = 'device_auth';
      else if (sub === '/token') endpoint = 'token';
      else if (sub === '/me') endpoint = 'userinfo';
      else if (sub === '/token/revocation') endpoint = 'revocation';
      else if (sub === '/auth' || sub === '/device') endpoint = 'auth';
      else if (/^\/auth\/[^/]+$/.test(sub)) {
        endpoint = 'auth';
        route = '/oidc/auth/:uid';
      } else if (/^\/device\/[^/]+$/.test(sub)) {
        endpoint = 'auth';
        route = '/oidc/device/:uid';
      }
      return { endpoint, routeKey: key(route), area: 'oidc', toProvider: true };
    }
    if (pathname === '/device' || pathname.startsWith('/device/') || pathname === '/sign-in' || pathname === '/consent') {
      return { endpoint: 'auth', routeKey: key(pathname), area: 'ui', toProvider: false };
    }
    if (pathname === '/api/experience' || pathname.startsWith('/api/experience/')) {
      return { endpoint: 'experience', routeKey: key(pathname), area: 'api', toProvider: false };
    }
    if (pathname.startsWith('/api/')) {
      const route = pathname
        .replace(/^\/api\/users\/[^/]+/, '/api/users/:id')
        .replace(/^\/api\/roles\/[^/]+/, '/api/roles/:id')
        .replace(/^\/api\/organizations\/[^/]+/, '/api/organizations/:id');
      return { endpoint: 'mgmt', routeKey: key(route), area: 'api', toProvider: false };
    }
    return { endpoint: 'other', routeKey: key(pathname), area: 'ui', toProvider: false };
  }
  // generic (Keycloak-like)
  if (pathname === GENERIC_REALM_PATH || pathname.startsWith(`${GENERIC_REALM_PATH}/`)) {
    const sub = pathname.slice(GENERIC_REALM_PATH.length);
    if (sub.startsWith('/login-actions/')) {
      return { endpoint: 'auth', routeKey: key(pathname), area: 'ui', toProvider: false };
    }
    const oc = '/protocol/openid-connect';
    let endpoint = 'other';
    let route = pathname;
    if (sub.startsWith('/.well-known/')) endpoint = 'discovery';
    else if (sub === `${oc}/certs`) endpoint = 'jwks';
    else if (sub === `${oc}/auth/device`) endpoint = 'device_auth';
    else if (sub === `${oc}/token`) endpoint = 'token';
    else if (sub === `${oc}/userinfo`) endpoint = 'userinfo';
    else if (sub === `${oc}/revoke`) endpoint = 'revocation';
    else if (sub === `${oc}/auth` || sub === '/device') endpoint = 'auth';
    else if (sub.startsWith(`${oc}/auth/`)) {
      endpoint = 'auth';
      route = `${GENERIC_REALM_PATH}${oc}/auth/:uid`;
    } else if (sub.startsWith('/device/')) {
      endpoint = 'auth';
      route = `${GENERIC_REALM_PATH}/device/:uid`;
    }
    return { endpoint, routeKey: key(route), area: 'oidc', toProvider: true };
  }
  return { endpoint: 'other', routeKey: key(pathname), area: 'ui', toProvider: false };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(Object.assign(new Error('request entity too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function createHarness(idp) {
  const app = new Koa();
  app.keys = idp.cookieKeys;
  app.silent = true;
  const router = new Router();
  if (idp.profile === 'logto') {
    logtoUiRoutes(router, idp);
    experienceRoutes(router, idp);
    mgmtRoutes(router, idp);
  } else {
    genericUiRoutes(router, idp, GENERIC_REALM_PATH);
  }
  app.use(errorMiddleware(idp.log));
  app.use(router.middleware());
  return app.callback();
}

// --static-dir: GET /relay/<file> serves a file of that directory (a relay of `logtoctl publish`,
// like any static HTTPS server): a strong ETag (SHA-256 of the bytes) and 304 for If-None-Match.
// Counted apart from the IdP's requests (stats.relay).
function serveStatic(idp, url, req, res) {
  idp.stats.relay = (idp.stats.relay ?? 0) + 1;
  const name = decodeURIComponent(url.pathname.slice('/relay/'.length));
  let body;
  try {
    if (req.method !== 'GET' || !name || name.includes('/') || name.startsWith('.')) throw new Error('no');
    body = readFileSync(nodePath.join(idp.staticDir, name));
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag });
    res.end();
    return;
  }
  res.writeHead(200, { etag, 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
}

// Bytes of a request and its answer at the HTTP level (request line, headers, body as announced
// by content-length; status line, headers, body as written), into bucket {in, out}: what the
// tenant or the relay serves per sync, before TLS framing (bench/fleet-bench.sh).
function countBytes(req, res, bucket) {
  let n = req.method.length + req.url.length + 12;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) n += req.rawHeaders[i].length + req.rawHeaders[i + 1].length + 4;
  bucket.in += n + (Number(req.headers['content-length']) || 0);
  let body = 0;
  const size = (chunk, enc) => (chunk == null || typeof chunk === 'function' ? 0
    : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? chunk.length
      : Buffer.byteLength(String(chunk), typeof enc === 'string' ? enc : 'utf8'));
  const { write, end } = res;
  res.write = function countedWrite(chunk, enc, ...rest) {
    body += size(chunk, enc);
    return write.call(this, chunk, enc, ...rest);
  };
  res.end = function countedEnd(chunk, enc, ...rest) {
    body += size(chunk, enc);
    return end.call(this, chunk, enc, ...rest);
  };
  res.once('finish', () => { bucket.out += body + (res._header?.length ?? 0); });
}

export function createMainHandler(idp) {
  const harness = createHarness(idp);
  const mount = idp.profile === 'logto' ? '/oidc' : GENERIC_REALM_PATH;

  return function mainHandler(req, res) {
    handle(req, res).catch((e) => {
      idp.log(`main listener: ${req.method} ${req.url}: ${e.stack ?? e}`);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Internal server error.' }));
      } else {
        res.destroy();
      }
    });
  };

  async function handle(req, res) {
    const url = new URL(req.url, 'https://placeholder');
    if (idp.staticDir && url.pathname.startsWith('/relay/')) {
      countBytes(req, res, idp.stats.relayBytes);
      serveStatic(idp, url, req, res);
      return;
    }
    const info = classify(idp.profile, req.method, url.pathname);
    const internal = idp.internalSecret && req.headers['x-idp-internal'] === idp.internalSecret;
    if (!internal) {
      idp.stats.total += 1;
      countBytes(req, res, idp.stats.bytes);
      idp.stats.byRoute.set(info.routeKey, (idp.stats.byRoute.get(info.routeKey) ?? 0) + 1);
      const rule = idp.faults.takeRule(info.endpoint, NETWORK_FAULTS);
      if (rule) {
        // Drain the request body so the fault answers a complete request.
        req.resume();
        applyNetworkFault(rule.fault, req, res, { area: info.area, hanging: idp.hanging, retryAfter: rule.retryAfter });
        return;
      }
      if (idp.faults.take(info.endpoint, DIRECTORY_FAULTS)) {
        idp.grown = (idp.grown ?? 0) + 1;
        idp.store.createUser({ username: `grown${idp.grown}` });
      }
    }

    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      try {
        req.rawBody = await readBody(req);
      } catch (e) {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(e.status ?? 400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: e.message }));
        }
        return;
      }
    }

    if (info.toProvider) {
      if (req.rawBody) {
        const type = String(req.headers['content-type'] ?? '');
        if (idp.profile === 'logto' && /^application\/json/i.test(type)) {
          // Logto accepts JSON bodies on OIDC endpoints and hands them on as a form.
          try {
            req.body = JSON.parse(req.rawBody.toString('utf8'));
          } catch {
            req.body = {};
          }
          if (req.body === null || typeof req.body !== 'object') req.body = {};
          req.headers['content-type'] = 'application/x-www-form-urlencoded';
        } else if (/^application\/x-www-form-urlencoded/i.test(type)) {
          req.body = querystring.parse(req.rawBody.toString('utf8'));
        }
      }
      req.originalUrl = req.url;
      req.url = req.url.slice(mount.length) || '/';
      if (!req.url.startsWith('/')) req.url = `/${req.url}`;
      idp.provider.callback()(req, res);
      return;
    }
    harness(req, res);
  }
}
