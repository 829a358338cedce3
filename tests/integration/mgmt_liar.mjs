// SPDX-License-Identifier: MIT
// A Management API that lies about pagination, for tests/integration/mgmt_pagination.sh.
//   node mgmt_liar.mjs CERT KEY READY_FILE
// Serves POST /oidc/token (any client_credentials request gets a token) and GET /api/users in
// the scenario set by POST /scenario/<name> (plain JSON over the same HTTPS listener). Writes
// {"url":...} to READY_FILE when listening on 127.0.0.1.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import https from 'node:https';

const [cert, key, ready] = process.argv.slice(2);
let scenario = 'honest';
let requests = 0;

const user = (n) => ({
  id: `u${String(n).padStart(11, '0')}`,
  username: `liar${n}`,
  primaryEmail: null,
  name: null,
  customData: {},
  isSuspended: false,
});
const range = (a, b) => Array.from({ length: b - a }, (_, i) => user(a + i));

// Returns [status, headers, body] for GET /api/users?page=P&page_size=S.
function users(page, size) {
  const honest = (total) => [200, { 'Total-Number': String(total) },
    range((page - 1) * size, Math.min(page * size, total))];
  switch (scenario) {
    case 'honest': return honest(250);
    case 'empty': return honest(0);
    // Always the same full page: a loop.
    case 'loop': return [200, { 'Total-Number': '500' }, range(0, size)];
    // More items than asked for.
    case 'oversize': return [200, { 'Total-Number': '500' }, range(0, size + 1)];
    // A total beyond anything we accept.
    case 'huge-total': return [200, { 'Total-Number': '1000001' }, range(0, size)];
    case 'bad-total': return [200, { 'Total-Number': '12abc' }, range(0, size)];
    // The list shifted while we paged: page 2 starts with the last item of page 1.
    case 'shifted': {
      const total = 150;
      const start = page === 1 ? 0 : (page - 1) * size - 1;
      return [200, { 'Total-Number': String(total) }, range(start, Math.min(start + size, total))];
    }
    // No Total-Number: Link rel="next" on page 1 only, full pages.
    case 'link-only': {
      const h = page === 1 ? { Link: `<https://x/api/users?page=2&page_size=${size}>; rel="next"` } : {};
      return [200, h, range((page - 1) * size, page * size)];
    }
    // Neither header, full pages until page 3, which is short.
    case 'no-headers': return [200, {}, range((page - 1) * size, page === 3 ? (page - 1) * size + 7 : page * size)];
    case 'not-array': return [200, { 'Total-Number': '1' }, { id: 'u1' }];
    case 'no-id': return [200, { 'Total-Number': '1' }, [{ username: 'x' }]];
    case 'bad-id': return [200, { 'Total-Number': '1' }, [{ ...user(1), id: '../roles' }]];
    case 'bad-username': return [200, { 'Total-Number': '1' }, [{ ...user(1), username: 42 }]];
    case 'forbidden': return [403, {}, { code: 'auth.forbidden', message: 'Forbidden.' }];
    case 'pagination': return [400, {}, { code: 'guard.invalid_pagination', message: 'x' }];
    default: return [500, {}, { message: `unknown scenario ${scenario}` }];
  }
}

function send(res, status, headers, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const url = new URL(req.url, 'https://x');
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'POST' && url.pathname.startsWith('/scenario/')) {
      scenario = url.pathname.slice('/scenario/'.length);
      requests = 0;
      send(res, 200, {}, { scenario });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/requests') {
      send(res, 200, {}, { requests });
      return;
    }
    requests += 1;
    if (req.method === 'POST' && url.pathname === '/oidc/token') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'client_credentials' || !req.headers.authorization) {
        send(res, 400, {}, { error: 'invalid_request' });
        return;
      }
      send(res, 200, {}, { access_token: 'liar-token', token_type: 'Bearer', expires_in: 3600, scope: 'all' });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/users') {
      if (req.headers.authorization !== 'Bearer liar-token') {
        send(res, 401, {}, { code: 'auth.unauthorized' });
        return;
      }
      const page = Number(url.searchParams.get('page') ?? 1);
      const size = Number(url.searchParams.get('page_size') ?? 20);
      const [status, headers, out] = users(page, size);
      send(res, status, headers, out);
      return;
    }
    send(res, 404, {}, { code: 'entity.not_found' });
  });
});

server.listen(0, '127.0.0.1', () => {
  const tmp = `${ready}.tmp`;
  writeFileSync(tmp, JSON.stringify({ url: `https://127.0.0.1:${server.address().port}` }));
  renameSync(tmp, ready);
});
process.on('SIGTERM', () => process.exit(0));
