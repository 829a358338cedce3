#!/usr/bin/env node
// Logto-compatible test identity provider for nss-pam-logto. See README.md.
//
// node server.js --profile logto|generic --cert server.pem --key server.key --fixtures FILE
//   [--generate users=N,roles=N,orgs=N] [--port 0] [--control-port 0] [--ready-file PATH]
//   [--access-ttl S] [--refresh-ttl S] [--device-ttl S] [--device-interval S]
//   [--refresh-reuse-leeway S] [--watch-pid PID]
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Store } from './lib/store.js';
import { Storage } from './lib/adapter.js';
import { KeyRing } from './lib/keys.js';
import { Faults } from './lib/faults.js';
import { Sentinel } from './lib/sentinel.js';
import { buildProvider, GENERIC_REALM_PATH } from './lib/provider.js';
import { createMainHandler } from './lib/app.js';
import { createControlApp } from './lib/control.js';

function log(msg) {
  process.stderr.write(`test-idp: ${msg}\n`);
}

function fail(msg) {
  log(msg);
  process.exit(2);
}

function intOpt(values, name, { min = 0 } = {}) {
  const v = values[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) fail(`--${name} must be an integer >= ${min}`);
  return Number(v);
}

function parseGenerate(spec) {
  const out = { users: 0, roles: 0, orgs: 0 };
  if (!spec) return out;
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=');
    if (!(k in out) || !/^\d+$/.test(v ?? '')) fail(`bad --generate item ${JSON.stringify(part)} (users=N,roles=N,orgs=N)`);
    out[k] = Number(v);
  }
  return out;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (e) => reject(e);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve(server.address().port);
    });
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'logto' },
      cert: { type: 'string' },
      key: { type: 'string' },
      fixtures: { type: 'string' },
      generate: { type: 'string' },
      port: { type: 'string', default: '0' },
      'control-port': { type: 'string', default: '0' },
      'ready-file': { type: 'string' },
      'access-ttl': { type: 'string' },
      'refresh-ttl': { type: 'string' },
      'device-ttl': { type: 'string' },
      'device-interval': { type: 'string' },
      'refresh-reuse-leeway': { type: 'string' },
      'watch-pid': { type: 'string' },
      'static-dir': { type: 'string' },
    },
    strict: true,
  });
  const profile = values.profile;
  if (!['logto', 'generic'].includes(profile)) fail('--profile must be logto or generic');
  if (!values.cert || !values.key) fail('--cert and --key are required');
  if (values['device-interval'] !== undefined && profile !== 'generic') fail('--device-interval is for --profile generic only');
  const here = path.dirname(new URL(import.meta.url).pathname);
  const fixtures = values.fixtures ?? path.join(here, 'fixtures', 'default.json');

  const store = Store.fromFile(fixtures);
  store.generate(parseGenerate(values.generate));

  const settings = {
    captcha: false,
    maxAttempts: 5,
    lockoutSeconds: 3600,
    usernameCaseSensitive: true,
    orgScopesRequireResource: true,
    jwksAlgUse: true, // Logto 1.42 serves alg/use on EC keys (logto-real-1.42.md D11)
    // Sign-in experience (logto-real-1.42.md D1-D4): MFA factors and policy, the identifier
    // types enabled for password sign-in, and native-app's allowTokenExchange.
    mfaFactors: [],
    mfaPolicy: 'UserControlled',
    passwordSignIn: ['username', 'email', 'phone'],
    allowTokenExchange: true,
    // Generic profile, a provider like Glewlwyd 2.7 (glewlwyd.md): discovery that does not list
    // the password grant it serves, a client the grant is switched off for, bare error answers.
    passwordGrantListed: true,
    deviceGrantListed: true,
    passwordGrant: true,
    bareTokenErrors: false,
  };
  // Username uniqueness follows the username policy, as in Logto (checkUsername).
  store.settings = settings;
  const idp = {
    profile,
    store,
    settings,
    log,
    storage: new Storage({ refreshReuseLeeway: intOpt(values, 'refresh-reuse-leeway') ?? 3 }),
    keyRing: await KeyRing.create(profile === 'logto' ? 'EC' : 'RSA'),
    faults: new Faults(),
    sentinel: new Sentinel(settings),
    ttl: {
      access: intOpt(values, 'access-ttl', { min: 1 }),
      refresh: intOpt(values, 'refresh-ttl', { min: 1 }),
      device: intOpt(values, 'device-ttl', { min: 1 }),
    },
    deviceInterval: intOpt(values, 'device-interval', { min: 1 }) ?? 5,
    cookieKeys: [randomBytes(32).toString('base64url')],
    internalSecret: randomBytes(24).toString('base64url'),
    stats: { total: 0, byRoute: new Map(), bytes: { in: 0, out: 0 }, relayBytes: { in: 0, out: 0 } },
    hanging: new Set(),
    staticDir: values['static-dir'],
  };

  // OIDC subject / oidc-provider accountId: the Logto user id, or a UUID in the generic profile.
  idp.accountIdOf = (user) => (profile === 'logto' ? user.id : store.genericSub(user));
  idp.userByAccountId = (accountId) => (profile === 'logto'
    ? store.users.get(accountId) : store.findByGenericSub(accountId));

  const tls = { cert: readFileSync(values.cert), key: readFileSync(values.key) };
  const handler = createMainHandler(idp);
  const sockets = new Set();
  const makeServer = () => {
    const s = https.createServer(tls, handler);
    // Idle keep-alive connections stay open longer than any poll interval, so a client that
    // reuses a connection never races the server closing it (Node's default is 5 s).
    s.keepAliveTimeout = 65_000;
    s.headersTimeout = 66_000;
    s.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    s.on('tlsClientError', () => {});
    s.on('clientError', (err, sock) => { sock.destroy(); });
    return s;
  };

  let server = makeServer();
  const port = await listen(server, intOpt(values, 'port') ?? 0);
  idp.base = `https://127.0.0.1:${port}`;
  idp.issuer = profile === 'logto' ? `${idp.base}/oidc` : `${idp.base}${GENERIC_REALM_PATH}`;

  const installProvider = () => {
    idp.provider = buildProvider(idp);
  };
  installProvider();

  idp.rotateKeys = async (type) => {
    const key = await idp.keyRing.rotate(type);
    installProvider();
    return key;
  };

  const destroyAll = () => {
    for (const s of sockets) s.destroy();
    for (const s of idp.hanging) s.destroy();
  };

  // http.Server#close first closes idle connections, and Node 20 can throw a TypeError there
  // (seen once under load); the listener itself must close regardless, or /down would leave
  // the port accepting connections.
  const closeListener = (s) => new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch (e) {
      log(`closing the listener: ${e.message}; closing it directly`);
      try {
        net.Server.prototype.close.call(s, () => resolve());
      } catch {
        resolve();
      }
    }
  });

  idp.main = {
    up: true,
    async down() {
      if (!this.up) return;
      this.up = false;
      const closed = closeListener(server); // stop accepting first, then drop what is open
      destroyAll();
      await closed;
    },
    async upAgain() {
      if (this.up) return;
      server = makeServer();
      await listen(server, port);
      this.up = true;
    },
  };

  const controlHandler = createControlApp(idp);
  const control = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      req.rawBody = Buffer.concat(chunks);
      controlHandler(req, res);
    });
  });
  const controlPort = await listen(control, intOpt(values, 'control-port') ?? 0);

  // Signal handlers before the ready signal: a caller may stop us the moment it sees it.
  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    closeListener(server);
    closeListener(control);
    destroyAll();
    control.closeAllConnections?.();
    idp.storage.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  // --watch-pid: stop when that process (the test that started us) is gone, however it died.
  const watchPid = intOpt(values, 'watch-pid', { min: 1 });
  if (watchPid) {
    setInterval(() => {
      try {
        process.kill(watchPid, 0);
      } catch (e) {
        if (e.code === 'ESRCH') stop(`process ${watchPid} is gone`);
      }
    }, 500);
  }

  const ready = {
    url: idp.base,
    issuer: idp.issuer,
    control: `http://127.0.0.1:${controlPort}`,
    pid: process.pid,
    profile,
  };
  if (values['ready-file']) {
    const tmp = `${values['ready-file']}.tmp.${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(ready)}\n`);
    renameSync(tmp, values['ready-file']);
  } else {
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  }
  log(`ready: ${idp.base} (profile ${profile}, ${store.users.size} users), control ${ready.control}`);
}

// A test server keeps serving after a stray error; the error is logged for the test's log.
process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e?.stack ?? e}`));
process.on('uncaughtException', (e) => log(`uncaught exception: ${e?.stack ?? e}`));

main().catch((e) => {
  log(`fatal: ${e.stack ?? e}`);
  process.exit(1);
});
