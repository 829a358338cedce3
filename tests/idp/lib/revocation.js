// Revocation refused for public clients (issue 14.9; glewlwyd.md §6: Glewlwyd's /revoke accepts
// only client_secret_basic and answers a public client 401). Setting `revocation_public`:
//   "allow" (default: oidc-provider, Logto), "bare_401" (401, empty body: Glewlwyd's exact
//   answer), "invalid_client" (401 {"error":"invalid_client",...}, RFC 7009 2.2.1 style).
// When refusing, the generic profile's discovery adds revocation_endpoint_auth_methods_supported
// with only client_secret_basic, as Glewlwyd's has (oidc-provider leaves the member out).
export const REVOCATION_PUBLIC = new Set(['allow', 'bare_401', 'invalid_client']);

// True (and the answer written) for a revocation by a public client while refused.
export function publicRevocationRefused(idp, ctx, body) {
  const mode = idp.settings.revocationPublic ?? 'allow';
  if (mode === 'allow' || ctx.get('authorization')) return false;
  const clientId = Array.isArray(body.client_id) ? body.client_id[0] : body.client_id;
  const client = idp.storage.clients.get(clientId);
  if (!client || client.token_endpoint_auth_method !== 'none') return false;
  ctx.status = 401;
  ctx.set('Cache-Control', 'no-store');
  if (mode === 'invalid_client') {
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = '{"error":"invalid_client","error_description":"client authentication failed"}';
  } else {
    ctx.body = '';
    ctx.remove('Content-Type');
  }
  return true;
}

// The discovery document as the refusing provider publishes it (generic profile only).
export function revocationDiscovery(idp, doc) {
  if ((idp.settings.revocationPublic ?? 'allow') === 'allow' || idp.profile === 'logto') return doc;
  return { ...doc, revocation_endpoint_auth_methods_supported: ['client_secret_basic'] };
}
