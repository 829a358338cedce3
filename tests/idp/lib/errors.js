// Logto's error bodies (logto-protocol.md §2.4, §3.2, §3.3).
//   * OIDC endpoints: koaOidcErrorHandler adds `code` ("oidc.<error>" or "session.not_found"),
//     the English `message` (phrase, else "An OIDC error occurred: {{code}}."), `error_uri` for
//     invalid_grant, keeping `error`/`error_description`; `?parse_error=false` skips it.
//   * /api/*: RequestError.toBody -> { code, data?, details?, message }.
// Phrases: packages/phrases/src/locales/en/errors/*.ts at Logto master.

const PHRASES = {
  'oidc.aborted': 'The end-user aborted interaction.',
  'oidc.invalid_scope': 'Invalid scope: {{error_description}}.',
  'oidc.invalid_token': 'Invalid token provided.',
  'oidc.invalid_client_metadata': 'Invalid client metadata provided.',
  'oidc.insufficient_scope': 'Token missing scope `{{scope}}`.',
  'oidc.invalid_request': 'Request is invalid.',
  'oidc.invalid_grant': 'Grant request is invalid.',
  'oidc.invalid_issuer': 'Invalid issuer.',
  'oidc.invalid_redirect_uri': "`redirect_uri` did not match any of the client's registered `redirect_uris`.",
  'oidc.access_denied': 'Access denied.',
  'oidc.invalid_target': 'Invalid resource indicator.',
  'oidc.unsupported_grant_type': 'Unsupported `grant_type` requested.',
  'oidc.unsupported_response_mode': 'Unsupported `response_mode` requested.',
  'oidc.unsupported_response_type': 'Unsupported `response_type` requested.',
  'oidc.server_error': 'An unknown OIDC error occurred. Please try again later.',
  'oidc.provider_error_fallback': 'An OIDC error occurred: {{code}}.',
  'session.not_found': 'Session not found. Please go back and sign in again.',
  'session.invalid_credentials': 'Incorrect account or password. Please check your input.',
  'session.verification_session_not_found': 'The verification was not successful. Restart the verification flow and try again.',
  'session.verification_blocked_too_many_attempts': 'Too many attempts in a short time. Please try again {{relativeTime}}.',
  'session.verification_failed': 'The verification was not successful. Restart the verification flow and try again.',
  'session.identifier_not_found': 'User identifier not found. Please go back and sign in again.',
  'session.interaction_not_found': 'Interaction session not found. Please go back and start the session again.',
  'session.invalid_interaction_type': 'This operation is not supported for the current interaction. Please initiate a new session.',
  'session.identity_conflict': 'Identity mismatch detected. Please initiate a new session to proceed with a different identity.',
  'session.unsupported_prompt_name': 'Unsupported prompt name.',
  'session.captcha_required': 'Captcha is required.',
  'session.captcha_failed': 'Captcha verification failed.',
  'session.mfa.require_mfa_verification': 'Mfa verification is required to sign in.',
  'session.mfa.invalid_totp_code': 'Invalid TOTP code.',
  'user.suspended': 'This account is suspended.',
  'user.missing_mfa': 'You need to bind additional MFA before signing-in.',
  'user.suggest_mfa': 'MFA is suggested for this account. You can bind it now or skip.',
  'user.sign_in_method_not_enabled': 'This sign-in method is not enabled.',
  'session.mfa.mfa_policy_not_user_controlled': 'MFA policy is not user controlled.',
  'user.user_not_exist': 'User with {{ identifier }} does not exist.',
  'guard.invalid_input': 'The request {{type}} is invalid.',
  'guard.invalid_pagination': 'The request pagination value is invalid.',
  'request.invalid_input': 'Input is invalid. {{details}}',
  'auth.authorization_header_missing': 'Authorization header is missing.',
  'auth.authorization_token_type_not_supported': 'Authorization type is not supported.',
  'auth.unauthorized': 'Unauthorized. Please check credentials and its scope.',
  'auth.forbidden': 'Forbidden. Please check your user roles and permissions.',
  'auth.jwt_sub_missing': 'Missing `sub` in JWT.',
  'user.personal_access_token_name_exists': 'Personal access token name already exists.',
  'entity.not_exists_with_id': 'The {{name}} with ID `{{id}}` does not exist.',
  'entity.not_found': 'The resource does not exist.',
};

// i18next-style interpolation; like i18next >= 21 (skipOnVariables) a placeholder without a
// value is left as it is.
export function phrase(code, vars = {}) {
  const template = PHRASES[code];
  if (template === undefined) return undefined;
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

export class ApiError extends Error {
  constructor(status, code, { data, details, vars } = {}) {
    super(code);
    this.status = status;
    this.code = code;
    this.data = data;
    this.details = details;
    this.vars = vars ?? {};
  }

  toBody() {
    const body = { code: this.code };
    if (this.data !== undefined) body.data = this.data;
    if (this.details !== undefined) body.details = this.details;
    body.message = phrase(this.code, { ...this.vars, details: this.details }) ?? this.code;
    return body;
  }
}

const ERROR_URIS = { invalid_grant: 'https://openid.sh/debug/invalid_grant' };

function isSessionNotFound(description) {
  return Boolean((description?.includes('session') && description.includes('not found'))
    || description?.includes('authorization request has expired'));
}

// Decorate an oidc-provider error body the way koaOidcErrorHandler does.
export function decorateOidcError(body) {
  if (!body || typeof body !== 'object' || typeof body.error !== 'string') return body;
  const code = isSessionNotFound(body.error_description) ? 'session.not_found' : `oidc.${body.error}`;
  const message = phrase(code, { code }) ?? phrase('oidc.provider_error_fallback', { code });
  const out = { code, message };
  if (ERROR_URIS[body.error]) out.error_uri = ERROR_URIS[body.error];
  return { ...out, ...body };
}
