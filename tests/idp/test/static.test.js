// --static-dir: GET /relay/<file> serves a directory like a static HTTPS server (a relay of
// `logtoctl publish`): strong ETag, 304 for If-None-Match, 404 for anything outside it, counted
// apart from the IdP's own requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startIdp, request, certs } from './helpers.js';

let idp;
const dir = mkdtempSync(path.join(os.tmpdir(), 'idp-static-'));
before(async () => {
  writeFileSync(path.join(dir, 'manifest.json'), '{"signed":"x"}');
  writeFileSync(path.join(os.tmpdir(), 'idp-static-outside'), 'secret');
  idp = await startIdp({ args: ['--static-dir', dir] });
});
after(async () => { await idp?.stop(); });

test('GET /relay/<file>: the bytes, an ETag, 304 when it matches, a new ETag after a change', async () => {
  const { ca } = certs();
  await idp.ctlOk('POST', '/stats/reset');
  const r = await request('GET', `${idp.url}/relay/manifest.json`, { ca });
  assert.equal(r.status, 200);
  assert.equal(r.text, '{"signed":"x"}');
  assert.match(r.headers.etag, /^"[0-9a-f]{32}"$/);
  const again = await request('GET', `${idp.url}/relay/manifest.json`, { ca, headers: { 'if-none-match': r.headers.etag } });
  assert.equal(again.status, 304);
  assert.equal(again.length, 0);
  writeFileSync(path.join(dir, 'manifest.json'), '{"signed":"y"}');
  const changed = await request('GET', `${idp.url}/relay/manifest.json`, { ca, headers: { 'if-none-match': r.headers.etag } });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.etag, r.headers.etag);
  const stats = await idp.ctlOk('GET', '/stats');
  assert.equal(stats.relay, 3);
  assert.equal(stats.total, 0);
});

test('GET /relay/: missing files, dot files and paths outside the directory are 404', async () => {
  const { ca } = certs();
  for (const p of ['nope.json', '..%2Fidp-static-outside', '.hidden', '', 'a%2Fb']) {
    const r = await request('GET', `${idp.url}/relay/${p}`, { ca });
    assert.equal(r.status, 404, p);
  }
});

test('/stats counts the bytes of the relay and of the IdP apart, headers included', async () => {
  const { ca } = certs();
  await idp.ctlOk('POST', '/stats/reset');
  const r = await request('GET', `${idp.url}/relay/manifest.json`, { ca });
  let stats = await idp.ctlOk('GET', '/stats');
  assert.equal(stats.bytes_in, 0);
  assert.equal(stats.bytes_out, 0);
  // the body, and a status line and headers (etag, content-length, ...) of some tens of bytes
  assert.ok(stats.relay_bytes_out > r.length + 60 && stats.relay_bytes_out < r.length + 400, String(stats.relay_bytes_out));
  assert.ok(stats.relay_bytes_in > 30, String(stats.relay_bytes_in));
  const d = await request('GET', `${idp.url}/oidc/.well-known/openid-configuration`, { ca });
  assert.equal(d.status, 200);
  stats = await idp.ctlOk('GET', '/stats');
  assert.ok(stats.bytes_out > d.length && stats.bytes_out < d.length + 2000, String(stats.bytes_out));
  assert.ok(stats.bytes_in > 0);
  await idp.ctlOk('POST', '/stats/reset');
  stats = await idp.ctlOk('GET', '/stats');
  assert.deepEqual([stats.bytes_in, stats.bytes_out, stats.relay_bytes_in, stats.relay_bytes_out], [0, 0, 0, 0]);
});
