// App-level access control (Logto 1.42, issue 14.4; reference logto-real-1.42.md D12). With
// `PUT /api/applications/{id}/access-control {"userRoleIds":[...]}` on an app, a refresh by a
// user who holds none of those roles answers exactly
//   400 {"error":"access_denied","error_description":"Access denied."}
// and the refresh token is NOT revoked or consumed (the same token refreshes again once the
// control is lifted). A sign-in (device approval) by such a user stops at `GET /consent`:
// Logto's koa-auto-consent does not consent and the Experience SPA shows its consent page, so
// the device code stays pending until it expires. Driven by the control API
// (`PUT`/`DELETE /apps/:client_id/access-control`).
const DENIED_BODY = '{"error":"access_denied","error_description":"Access denied."}';

function controls(idp) {
  if (!idp.appAccessControl) idp.appAccessControl = new Map(); // client_id -> Set(role names)
  return idp.appAccessControl;
}

// Control API routes; ControlError(status, message) as control.js throws them.
export function accessControlRoutes(r, idp, body, ControlError) {
  r.put('/apps/:client_id/access-control', async (ctx) => {
    const b = body(ctx);
    if (!idp.storage.clients.has(ctx.params.client_id)) {
      throw new ControlError(404, `no client ${ctx.params.client_id}`);
    }
    if (!Array.isArray(b.roles) || !b.roles.every((x) => typeof x === 'string')) {
      throw new ControlError(400, 'roles must be an array of role names');
    }
    controls(idp).set(ctx.params.client_id, new Set(b.roles));
    ctx.body = { ok: true, client_id: ctx.params.client_id, roles: b.roles };
  });
  r.delete('/apps/:client_id/access-control', async (ctx) => {
    controls(idp).delete(ctx.params.client_id);
    ctx.body = { ok: true };
  });
}

// True when the control on clientId keeps this account out.
export function appAccessDenied(idp, clientId, accountId) {
  const roles = controls(idp).get(clientId);
  if (!roles) return false;
  const user = idp.userByAccountId(accountId);
  return !(user && idp.store.userRoles(user).some((role) => roles.has(role.name)));
}

// In front of the refresh_token grant: true (and the answer written) when the control keeps
// the token's user out of its app. The token is only looked up, never consumed.
export async function refreshAccessDenied(idp, provider, ctx, refreshToken) {
  const map = controls(idp);
  if (map.size === 0 || typeof refreshToken !== 'string') return false;
  const token = await provider.RefreshToken.find(refreshToken, { ignoreExpiration: true });
  if (!token || !appAccessDenied(idp, token.clientId, token.accountId)) return false;
  ctx.status = 400;
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = DENIED_BODY; // a string: Logto's error decoration does not touch it
  return true;
}
