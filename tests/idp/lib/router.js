// Minimal path router for the Koa harness app (no extra dependency).
import { errors } from 'oidc-provider';

import { ApiError, decorateOidcError } from './errors.js';

export class Router {
  constructor() {
    this.routes = [];
  }

  add(method, pattern, ...handlers) {
    const keys = [];
    const re = new RegExp(`^${pattern.replace(/\//g, '\\/').replace(/:(\w+)/g, (_, k) => {
      keys.push(k);
      return '([^/]+)';
    })}$`);
    this.routes.push({ method, pattern, re, keys, handlers });
  }

  get(p, ...h) { this.add('GET', p, ...h); }

  post(p, ...h) { this.add('POST', p, ...h); }

  put(p, ...h) { this.add('PUT', p, ...h); }

  patch(p, ...h) { this.add('PATCH', p, ...h); }

  delete(p, ...h) { this.add('DELETE', p, ...h); }

  match(method, path) {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params = {};
      r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
      return { route: r, params };
    }
    return { pathMatched };
  }

  middleware() {
    return async (ctx, next) => {
      const { route, params } = this.match(ctx.method, ctx.path);
      if (!route) return next();
      ctx.params = params;
      const run = async (i) => {
        if (i < route.handlers.length) await route.handlers[i](ctx, () => run(i + 1));
      };
      return run(0);
    };
  }
}

// Error handling for /api/* and UI routes: RequestError bodies, oidc-provider errors decorated
// as Logto's koaOidcErrorHandler does (e.g. SessionNotFound -> session.not_found).
export function errorMiddleware(log) {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof ApiError) {
        ctx.status = err.status;
        ctx.body = err.toBody();
        return;
      }
      if (err instanceof errors.OIDCProviderError) {
        ctx.status = err.statusCode || 500;
        const out = err.expose
          ? { error: err.message, ...(err.error_description ? { error_description: err.error_description } : {}) }
          : { error: 'server_error', error_description: 'oops! something went wrong' };
        ctx.body = ctx.query.parse_error === 'false' ? out : decorateOidcError(out);
        return;
      }
      if (err instanceof SyntaxError) {
        ctx.status = 400;
        ctx.body = { message: err.message };
        return;
      }
      log(`internal error on ${ctx.method} ${ctx.path}: ${err.stack ?? err}`);
      ctx.status = 500;
      ctx.body = { message: 'Internal server error.' };
    }
  };
}

export function jsonBody(ctx) {
  const raw = ctx.req.rawBody;
  if (!raw || raw.length === 0) return {};
  const type = ctx.get('content-type');
  if (/^application\/x-www-form-urlencoded/i.test(type)) {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  return JSON.parse(raw.toString('utf8'));
}

export function formBody(ctx) {
  const raw = ctx.req.rawBody;
  return Object.fromEntries(new URLSearchParams(raw ? raw.toString('utf8') : ''));
}
