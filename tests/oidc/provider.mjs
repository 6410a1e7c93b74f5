// A real, certified OpenID provider (the `oidc-provider` package) for
// gatehouse's tests, started by tests/common/oidc.rs as
//   node tests/oidc/provider.mjs CONFIG.json
// CONFIG.json: { "port", "client_id", "client_secret", "redirect_uris",
// "post_logout_redirect_uris", "access_token_ttl", "accounts": { name: claims },
// "misbehave" }. Its built-in development login and consent forms accept any
// password: a test logs in as an account by name.
//
// For failure tests the provider can be told to misbehave: `misbehave` in
// the config, or `POST /__test/misbehave?mode=…` at any time, rewrites the
// ID token it returns from the token endpoint (re-signed with its real key):
//   wrong_nonce, wrong_iss, wrong_aud, expired, alg_none, bad_signature,
//   header_breaking_name (a user name holding CR LF),
//   refresh_fails (the token endpoint refuses every refresh_token grant),
//   "" (behave).
// Events the tests look for are printed to stdout as JSON lines.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let misbehave = config.misbehave ?? '';
const log = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts ?? {};

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: config.redirect_uris,
    post_logout_redirect_uris: config.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  jwks: { keys: [signingKey] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  // Claims of the granted scopes go into the ID token, as Keycloak does.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { rpInitiatedLogout: { enabled: true } },
  ttl: {
    AccessToken: config.access_token_ttl ?? 3600,
    IdToken: 3600,
    RefreshToken: 86400,
    Session: 86400,
    Interaction: 600,
    Grant: 86400,
  },
  // Every client that may use refresh tokens gets one, without the
  // offline_access + prompt=consent dance.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(ctx, id) {
    const claims = accounts[id] ?? { preferred_username: id };
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});
provider.proxy = false;

provider.on('grant.success', (ctx) => {
  log({ event: 'grant', grant_type: ctx.oidc.params.grant_type });
});
provider.on('end_session.success', () => log({ event: 'end_session' }));

// Rewrites the token endpoint's ID token when told to misbehave.
provider.use(async (ctx, next) => {
  if (ctx.path === '/token' && misbehave === 'refresh_fails'
      && ctx.method === 'POST' && ctx.request.type === 'application/x-www-form-urlencoded') {
    // Read lazily: peek at the grant type by letting the provider parse it.
    await next();
    if (ctx.oidc?.params?.grant_type === 'refresh_token') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: 'refresh refused by the test' };
      log({ event: 'refresh_refused' });
    }
    return;
  }
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !misbehave || !ctx.body?.id_token) {
    return;
  }
  ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, misbehave) };
  log({ event: 'tampered', mode: misbehave });
});

async function tamper(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'wrong_nonce': claims.nonce = 'not-the-nonce-gatehouse-sent'; break;
    case 'wrong_iss': claims.iss = 'http://127.0.0.1:1/'; break;
    case 'wrong_aud': claims.aud = 'some-other-client'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'header_breaking_name': claims.preferred_username = 'alice\r\nX-Forwarded-User: admin'; break;
    case 'alg_none': {
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return `${header}.${body}.`;
    }
    case 'bad_signature': {
      const [h, b, s] = idToken.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[0] ^= 1;
      return `${h}.${b}.${sig.toString('base64url')}`;
    }
    default: return idToken;
  }
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid })
    .sign(privateKey);
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/__test/misbehave' && req.method === 'POST') {
    misbehave = url.searchParams.get('mode') ?? '';
    log({ event: 'misbehave', mode: misbehave });
    res.writeHead(204).end();
    return;
  }
  callback(req, res);
});
server.listen(config.port, '127.0.0.1', () => log({ event: 'listening', issuer }));
