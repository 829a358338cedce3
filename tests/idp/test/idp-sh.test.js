// tests/lib/idp.sh: idp_start / idp_ctl / idp_stop as the C-side shell tests use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync, mkdtempSync, mkdirSync, writeFileSync, rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { IDP_DIR } from './helpers.js';

// The tree's top: make check says where (run-tests.sh may run a copy of tests/idp elsewhere).
const TOP = process.env.top_srcdir || path.resolve(IDP_DIR, '..', '..');
const HELPER = path.join(TOP, 'tests', 'lib', 'idp.sh');

function sh(script, env = {}) {
  return new Promise((resolve) => {
    execFile('sh', ['-c', script], {
      env: { ...process.env, top_srcdir: TOP, ...env }, timeout: 60000,
    }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function vars(stdout) {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

const alive = (pid) => {
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch {
    return false;
  }
};

test('idp_start exports the IDP_* variables; idp_ctl; the EXIT trap stops the server', async () => {
  const r = await sh(`. "${HELPER}"
idp_start --access-ttl 77 || exit 9
echo "url=$IDP_URL"; echo "issuer=$IDP_ISSUER"; echo "ca=$IDP_CA"; echo "control=$IDP_CONTROL"
echo "pid=$IDP_PID"; echo "dir=$IDP_DIR"; echo "profile=$IDP_PROFILE"; echo "log=$IDP_LOG"
echo "health=$(idp_ctl GET /health)"
echo "disc=$(curl -s --cacert "$IDP_CA" "$IDP_URL/oidc/.well-known/openid-configuration" | head -c 60)"
echo "san=$(openssl x509 -in "$IDP_DIR/server.pem" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')"
echo "exported=$(sh -c 'echo $IDP_URL')"
idp_ctl GET /users/nobody >/dev/null 2>&1; echo "rc404=$?"
echo "body404=$(idp_ctl GET /users/nobody 2>/dev/null)"
echo "post=$(idp_ctl POST /settings '{"captcha":true}')"
echo "field=$(idp_json_field "$(idp_ctl GET /users/alice)" id)"
`);
  assert.equal(r.code, 0, r.stderr);
  const v = vars(r.stdout);
  assert.match(v.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(v.issuer, `${v.url}/oidc`);
  assert.match(v.control, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(v.profile, 'logto');
  assert.equal(v.ca, `${v.dir}/ca.pem`);
  assert.equal(v.health, '{"ok":true,"profile":"logto","up":true}');
  assert.match(v.disc, /^\{"issuer":"https:\/\/127\.0\.0\.1/);
  assert.equal(v.san, 'IPAddress:127.0.0.1,DNS:localhost');
  assert.equal(v.exported, v.url);
  assert.equal(v.rc404, '22');
  assert.equal(v.body404, '{"ok":false,"error":"no user nobody"}');
  assert.match(v.post, /"captcha":true/);
  assert.equal(v.field, 'e738g7numf03');
  assert.ok(!existsSync(v.dir), 'temp dir removed by the EXIT trap');
  assert.ok(!alive(v.pid), 'server stopped by the EXIT trap');
});

test('idp_stop is idempotent; generic profile; extra server options pass through; no LD_PRELOAD', async () => {
  const r = await sh(`. "${HELPER}"
export LD_PRELOAD=/nonexistent-idp-test.so
idp_start --profile generic --device-ttl 7 2>/dev/null || exit 9
echo "issuer=$IDP_ISSUER"; echo "profile=$IDP_PROFILE"; echo "dir=$IDP_DIR"; echo "pid=$IDP_PID"; echo "url=$IDP_URL"
echo "ttl=$(curl -s --cacert "$IDP_CA" -d client_id=generic-app -d scope=openid "$IDP_URL/realms/test/protocol/openid-connect/auth/device" | sed 's/.*"expires_in":\\([0-9]*\\).*/\\1/')"
echo "preload=$(tr '\\0' '\\n' < /proc/$IDP_PID/environ | grep -c '^LD_PRELOAD=')"
d=$IDP_DIR; p=$IDP_PID
idp_stop; idp_stop
echo "after_dir=$(test -e "$d" && echo present || echo gone)"
echo "after_pid=$(kill -0 "$p" 2>/dev/null && echo alive || echo dead)"
echo "vars=[$IDP_PID][$IDP_DIR]"
`);
  assert.equal(r.code, 0, r.stderr);
  const v = vars(r.stdout);
  assert.equal(v.issuer, `${v.url}/realms/test`);
  assert.equal(v.profile, 'generic');
  assert.equal(v.ttl, '7');
  assert.equal(v.after_dir, 'gone');
  assert.equal(v.after_pid, 'dead');
  assert.equal(v.vars, '[][]');
  assert.equal(v.preload, '0', 'the server does not inherit LD_PRELOAD');
});

test('a failing test script still stops the server (exit status kept)', async () => {
  const r = await sh(`. "${HELPER}"
idp_start || exit 9
echo "dir=$IDP_DIR"; echo "pid=$IDP_PID"
exit 3
`);
  assert.equal(r.code, 3);
  const v = vars(r.stdout);
  assert.ok(!existsSync(v.dir));
  assert.ok(!alive(v.pid));
});

test('a test shell killed with SIGKILL: the server stops by itself (--watch-pid)', async () => {
  const r = await sh(`. "${HELPER}"
idp_start || exit 9
echo "dir=$IDP_DIR"; echo "pid=$IDP_PID"
kill -KILL $$
`);
  assert.equal(r.signal ?? 'SIGKILL', 'SIGKILL');
  const v = vars(r.stdout);
  assert.ok(v.pid, r.stderr);
  const deadline = Date.now() + 5000;
  while (alive(v.pid) && Date.now() < deadline) await new Promise((res) => { setTimeout(res, 100); });
  assert.ok(!alive(v.pid), 'server stopped after its parent shell died');
  rmSync(v.dir, { recursive: true, force: true });
});

test('with tests/lib/testenv.sh, idp_stop is registered with its at_exit list', { skip: !existsSync(path.join(TOP, 'tests', 'lib', 'testenv.sh')) }, async () => {
  const r = await sh(`. "$top_srcdir/tests/lib/testenv.sh"
at_exit 'echo cleanup-ran >&2'
. "$top_srcdir/tests/lib/idp.sh"
idp_start || exit 9
echo "dir=$IDP_DIR"; echo "pid=$IDP_PID"
`);
  assert.equal(r.code, 0, r.stderr);
  const v = vars(r.stdout);
  assert.ok(!existsSync(v.dir));
  assert.ok(!alive(v.pid));
  assert.match(r.stderr, /cleanup-ran/, 'the caller\'s own cleanup still runs');
});

test('exit 77 (skip) without node or without tests/idp/node_modules', async () => {
  const noNode = await sh(`. "${HELPER}"; PATH=/nonexistent; idp_start; echo "rc=$?"`);
  assert.match(noNode.stdout, /rc=77/);
  assert.match(noNode.stderr, /SKIP: node is not installed/);

  const top = mkdtempSync(path.join(os.tmpdir(), 'idp-sh-'));
  try {
    mkdirSync(path.join(top, 'tests', 'idp'), { recursive: true });
    writeFileSync(path.join(top, 'tests', 'idp', 'server.js'), '');
    const noModules = await sh(`. "${HELPER}"; idp_start; echo "rc=$?"`,
      { top_srcdir: top, LOGTO_IDP_NODE_MODULES: '' });
    assert.match(noModules.stdout, /rc=77/);
    assert.match(noModules.stderr, /node_modules is missing/);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test('a server that cannot start: idp_start fails with its log and cleans up', async () => {
  const r = await sh(`. "${HELPER}"
idp_start --fixtures /nonexistent.json; echo "rc=$?"; echo "dir=[$IDP_DIR]"; echo "pid=[$IDP_PID]"`);
  const v = vars(r.stdout);
  assert.equal(v.rc, '1');
  assert.equal(v.dir, '[]');
  assert.equal(v.pid, '[]');
  assert.match(r.stderr, /exited before it was ready/);
  assert.match(r.stderr, /nonexistent\.json/);
});
