// Test helpers: start a test IdP on free ports with a per-run CA, HTTP(S) clients.
import { spawn, execFileSync } from 'node:child_process';
import {
  mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Browser } from '../lib/browser.js';

export const IDP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const PAT_TYPE = 'urn:logto:token-type:personal_access_token';
export const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

let certCache;
// One CA + server certificate per test process (made with openssl, as tests/lib/idp.sh does).
export function certs() {
  if (certCache) return certCache;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idp-test-ca-'));
  const run = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(path.join(dir, 'server.ext'), 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path.join(dir, 'ca.key'));
  run('req', '-new', '-key', path.join(dir, 'ca.key'), '-subj', '/CN=idp test CA', '-out', path.join(dir, 'ca.csr'));
  run('x509', '-req', '-in', path.join(dir, 'ca.csr'), '-signkey', path.join(dir, 'ca.key'), '-days', '2',
    '-extfile', path.join(dir, 'ca.ext'), '-out', path.join(dir, 'ca.pem'));
  run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path.join(dir, 'server.key'));
  run('req', '-new', '-key', path.join(dir, 'server.key'), '-subj', '/CN=127.0.0.1', '-out', path.join(dir, 'server.csr'));
  run('x509', '-req', '-in', path.join(dir, 'server.csr'), '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca.key'),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', path.join(dir, 'server.ext'),
    '-out', path.join(dir, 'server.pem'));
  certCache = {
    dir, ca: readFileSync(path.join(dir, 'ca.pem')), caFile: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'),
  };
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return certCache;
}

// Starts server.js; resolves once the ready file exists. Always call stop() (after()).
export async function startIdp({ profile = 'logto', args = [], fixtures } = {}) {
  const c = certs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idp-test-'));
  const readyFile = path.join(dir, 'ready.json');
  const argv = [path.join(IDP_DIR, 'server.js'), '--profile', profile, '--cert', c.cert, '--key', c.key,
    '--ready-file', readyFile, '--watch-pid', String(process.pid), ...(fixtures ? ['--fixtures', fixtures] : []), ...args];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, sig })));
  const deadline = Date.now() + 20000;
  while (!existsSync(readyFile)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      const why = proc.exitCode !== null ? `IdP exited (${proc.exitCode})` : 'IdP not ready after 20 s';
      proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${why}: ${stderr}`);
    }
    await sleep(25);
  }
  const ready = JSON.parse(readFileSync(readyFile, 'utf8'));
  const idp = {
    ...ready,
    profile,
    ca: c.ca,
    caFile: c.caFile,
    proc,
    dir,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    // ---- clients ----
    browser() {
      return new Browser(ready.url, { ca: c.ca });
    },
    async ctl(method, p, body) {
      return control(ready.control, method, p, body);
    },
    async ctlOk(method, p, body) {
      const r = await control(ready.control, method, p, body);
      if (r.status >= 400) throw new Error(`control ${method} ${p} -> ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    },
    async req(method, p, opts = {}) {
      return request(method, new URL(p, ready.url), { ca: c.ca, ...opts });
    },
  };
  return idp;
}

export function control(base, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(new URL(p, base), {
      method,
      headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks = [];
      res.on('data', (ch) => chunks.push(ch));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text, headers: res.headers });
      });
    });
    req.setTimeout(90000, () => req.destroy(new Error('control timeout')));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// One HTTPS request (no redirects). opts: form, json, headers, ca, timeoutMs, raw.
export function request(method, url, {
  form, json, headers = {}, ca, timeoutMs = 10000, body: rawBody,
} = {}) {
  return new Promise((resolve, reject) => {
    let body = rawBody;
    const h = { ...headers };
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    } else if (json !== undefined) {
      body = JSON.stringify(json);
      h['content-type'] = 'application/json';
    }
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = https.request(url, { method, headers: h, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (ch) => chunks.push(ch));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = undefined; }
        resolve({
          status: res.statusCode, headers: res.headers, text, json: parsed, length: buf.length, raw: buf,
          location: res.headers.location,
        });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ABORTED' })));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
  };
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// ---- flows -----------------------------------------------------------------------------------

export async function deviceAuth(idp, { clientId = 'device-app', scope = 'openid offline_access profile', resource } = {}) {
  const devicePath = idp.profile === 'logto' ? '/oidc/device/auth' : '/realms/test/protocol/openid-connect/auth/device';
  const form = { client_id: clientId, scope };
  const body = new URLSearchParams(form);
  for (const r of [].concat(resource ?? [])) body.append('resource', r);
  const r = await idp.req('POST', devicePath, { body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  if (r.status !== 200) throw new Error(`device auth ${r.status} ${r.text}`);
  return r.json;
}

export function tokenPath(idp) {
  return idp.profile === 'logto' ? '/oidc/token' : '/realms/test/protocol/openid-connect/token';
}

export function poll(idp, deviceCode, clientId = 'device-app') {
  return idp.req('POST', tokenPath(idp), {
    form: { client_id: clientId, grant_type: DEVICE_GRANT, device_code: deviceCode },
  });
}

// Device flow to tokens for `username` (approved through the control API).
export async function deviceLogin(idp, username, opts = {}) {
  const da = await deviceAuth(idp, opts);
  await idp.ctlOk('POST', '/device/approve', { user_code: da.user_code, username });
  const r = await poll(idp, da.device_code, opts.clientId);
  if (r.status !== 200) throw new Error(`device poll ${r.status} ${r.text}`);
  return { ...r.json, device_code: da.device_code, user_code: da.user_code };
}

export function refresh(idp, refreshToken, { clientId = 'device-app', resource, extra = {} } = {}) {
  const form = { client_id: clientId, grant_type: 'refresh_token', refresh_token: refreshToken, ...extra };
  if (resource) form.resource = resource;
  return idp.req('POST', tokenPath(idp), { form });
}

export function userinfo(idp, accessToken) {
  const p = idp.profile === 'logto' ? '/oidc/me' : '/realms/test/protocol/openid-connect/userinfo';
  return idp.req('GET', p, { headers: { authorization: `Bearer ${accessToken}` } });
}

export async function m2mToken(idp, { resource = 'https://default.logto.app/api', scope = 'all', post = false } = {}) {
  const form = { grant_type: 'client_credentials' };
  if (resource) form.resource = resource;
  if (scope) form.scope = scope;
  const headers = {};
  if (post) {
    form.client_id = 'm2m-app';
    form.client_secret = 'm2m-secret';
  } else {
    headers.authorization = `Basic ${Buffer.from('m2m-app:m2m-secret').toString('base64')}`;
  }
  return idp.req('POST', '/oidc/token', { form, headers });
}

export async function mgmt(idp, method, p, { token, json } = {}) {
  return idp.req(method, p, { headers: { authorization: `Bearer ${token}` }, json });
}

// Authorization code + Experience API up to the callback; returns the hops and the code.
export async function experienceLogin(idp, {
  identifier, password, scope = 'openid offline_access profile', prompt = 'consent', totp, resource,
  skipMfa = false,
} = {}) {
  const b = idp.browser();
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const q = new URLSearchParams({
    client_id: 'native-app', redirect_uri: 'http://127.0.0.1/callback', response_type: 'code', scope, state,
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  if (prompt) q.set('prompt', prompt);
  for (const r of [].concat(resource ?? [])) q.append('resource', r);
  const hops = [];
  const step = async (method, target, opts) => {
    const r = await b.request(method, target, opts);
    hops.push({ method, path: new URL(target, idp.url).pathname, status: r.status, location: r.location, json: r.json });
    return r;
  };
  const auth = await step('GET', `/oidc/auth?${q}`);
  await step('PUT', '/api/experience', { json: { interactionEvent: 'SignIn' } });
  const pw = await step('POST', '/api/experience/verification/password', { json: { identifier, password } });
  if (pw.status !== 200) return { hops, browser: b, failed: pw };
  const ident = await step('POST', '/api/experience/identification', { json: { verificationId: pw.json.verificationId } });
  if (ident.status !== 204) return { hops, browser: b, failed: ident };
  let submit = await step('POST', '/api/experience/submit');
  if (submit.status === 403 && totp) {
    const code = typeof totp === 'function' ? await totp() : totp;
    const t = await step('POST', '/api/experience/verification/totp/verify', { json: { code } });
    if (t.status !== 200) return { hops, browser: b, failed: t };
    submit = await step('POST', '/api/experience/submit');
  }
  if (submit.status === 422 && submit.json?.code === 'user.suggest_mfa' && skipMfa) {
    const skip = await step('POST', '/api/experience/profile/mfa/mfa-skipped');
    if (skip.status !== 204) return { hops, browser: b, failed: skip };
    submit = await step('POST', '/api/experience/submit');
  }
  if (submit.status !== 200) return { hops, browser: b, failed: submit };
  const resume = await step('GET', submit.json.redirectTo);
  const consent = await step('GET', resume.location);
  const final = await step('GET', consent.location);
  const cb = new URL(final.location);
  b.close();
  return {
    hops, auth, code: cb.searchParams.get('code'), state, returnedState: cb.searchParams.get('state'),
    iss: cb.searchParams.get('iss'), verifier, callback: cb,
  };
}

export function exchangeCode(idp, code, verifier) {
  return idp.req('POST', '/oidc/token', {
    form: {
      client_id: 'native-app', grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1/callback',
      code_verifier: verifier,
    },
  });
}
