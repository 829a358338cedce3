// A scripted browser: one cookie jar, no automatic redirects, talks to our own HTTPS listener.
// Used by the control API to approve / deny device codes the way a person's browser does.
import https from 'node:https';

export class HopError extends Error {
  constructor(hop, status, body, message) {
    super(message ?? `${hop} answered ${status}`);
    this.hop = hop;
    this.status = status;
    this.body = body;
  }
}

function parseSetCookie(line) {
  const [pair, ...attrs] = line.split(';');
  const eq = pair.indexOf('=');
  const cookie = {
    name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: '/', expired: false,
  };
  for (const a of attrs) {
    const [k, ...v] = a.trim().split('=');
    const key = k.toLowerCase();
    const val = v.join('=');
    if (key === 'path') cookie.path = val || '/';
    if (key === 'max-age' && Number(val) <= 0) cookie.expired = true;
    if (key === 'expires' && Date.parse(val) <= Date.now()) cookie.expired = true;
  }
  return cookie;
}

export class Browser {
  // `ca`: verify the server against this CA (tests). Without it the browser is the IdP talking
  // to its own listener (control API), where verification adds nothing.
  constructor(base, { internalSecret, ca } = {}) {
    this.base = new URL(base);
    this.cookies = []; // { name, value, path }
    this.internalSecret = internalSecret;
    this.agent = ca
      ? new https.Agent({ keepAlive: false, ca })
      : new https.Agent({ keepAlive: false, rejectUnauthorized: false });
  }

  cookie(name) {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  store(setCookie) {
    for (const line of setCookie ?? []) {
      const c = parseSetCookie(line);
      this.cookies = this.cookies.filter((x) => !(x.name === c.name && x.path === c.path));
      if (!c.expired) this.cookies.push({ name: c.name, value: c.value, path: c.path });
    }
  }

  cookieHeader(pathname) {
    return this.cookies
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  request(method, target, {
    form, json, timeoutMs = 10000, headers: extra = {},
  } = {}) {
    const url = new URL(target, this.base);
    let body;
    const headers = { accept: 'application/json, text/html;q=0.9', ...extra };
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (json !== undefined) {
      body = JSON.stringify(json);
      headers['content-type'] = 'application/json';
    }
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const cookie = this.cookieHeader(url.pathname);
    if (cookie) headers.cookie = cookie;
    if (this.internalSecret) headers['x-idp-internal'] = this.internalSecret;
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          this.store(res.headers['set-cookie']);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed;
          try { parsed = JSON.parse(text); } catch { parsed = undefined; }
          resolve({
            status: res.statusCode, headers: res.headers, text, json: parsed, location: res.headers.location,
          });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  // Performs one hop and checks the status (and optionally the redirect target's path).
  async hop(method, target, { expect, location, ...opts } = {}) {
    const name = `${method} ${new URL(target, this.base).pathname}`;
    let r;
    try {
      r = await this.request(method, target, opts);
    } catch (e) {
      throw new HopError(name, 0, undefined, `${name}: ${e.message}`);
    }
    const ok = Array.isArray(expect) ? expect.includes(r.status) : r.status === expect;
    if (!ok) throw new HopError(name, r.status, r.json ?? r.text.slice(0, 500));
    if (location) {
      const got = r.location ? new URL(r.location, this.base) : undefined;
      if (!got || !location.test(`${got.pathname}${got.search}`)) {
        throw new HopError(name, r.status, r.json ?? r.text.slice(0, 500), `${name}: unexpected redirect to ${r.location}`);
      }
    }
    return r;
  }

  close() {
    this.agent.destroy();
  }
}

// Reads the hidden inputs of the first form in an HTML page.
export function hiddenInputs(html) {
  const out = {};
  for (const m of html.matchAll(/<input[^>]*>/g)) {
    const tag = m[0];
    const name = /name="([^"]*)"/.exec(tag)?.[1];
    const value = /value="([^"]*)"/.exec(tag)?.[1];
    if (name && /type="hidden"/.test(tag)) out[name] = value ?? '';
  }
  return out;
}
