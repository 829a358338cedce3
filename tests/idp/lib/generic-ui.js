// Keycloak-like login pages for the generic profile: a username/password form and an
// automatic consent step (first-party clients).
import { formBody } from './router.js';
import { autoConsent } from './experience.js';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(action, error) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to test</title></head><body>
${error ? `<p id="input-error">${esc(error)}</p>` : ''}
<form id="kc-form-login" method="post" action="${esc(action)}">
<input name="username" type="text" autocomplete="username"/>
<input name="password" type="password" autocomplete="current-password"/>
<button type="submit" name="login">Sign In</button>
</form></body></html>`;
}

export function genericUiRoutes(router, idp, realmPath) {
  const base = `${realmPath}/login-actions`;

  router.get(`${base}/authenticate`, async (ctx) => {
    await idp.provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = loginPage(`${base}/authenticate${ctx.search}`);
  });

  router.post(`${base}/authenticate`, async (ctx) => {
    const details = await idp.provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = loginPage(`${base}/authenticate${ctx.search}`, 'Unexpected prompt');
      return;
    }
    const { username = '', password = '' } = formBody(ctx);
    const user = idp.store.findUserByIdentifier({ type: 'username', value: username }, { caseSensitiveUsername: false })
      ?? idp.store.findUserByIdentifier({ type: 'email', value: username });
    let error;
    if (!user || user.password === null || user.password !== password) error = 'Invalid username or password.';
    else if (user.isSuspended) error = 'Account is disabled, contact your administrator.';
    if (error) {
      ctx.type = 'html';
      ctx.body = loginPage(`${base}/authenticate${ctx.search}`, error);
      return;
    }
    user.lastSignInAt = Date.now();
    const returnTo = await idp.provider.interactionResult(ctx.req, ctx.res,
      { login: { accountId: idp.accountIdOf(user) } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.get(`${base}/consent`, async (ctx) => {
    const returnTo = await autoConsent(idp, ctx);
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
