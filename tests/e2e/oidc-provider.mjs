// A real OpenID Connect provider for the federation tests: the npm `oidc-provider`
// package (the certified implementation Keycloak-like IdPs are tested against) on a
// loopback port, with its dev login page (any login name, any password). An account's
// `groups` claim is ["eng"] for names starting with "eng", ["sales"] otherwise.
//
// The test holds the provider's signing key, so `tamper(fn)` can rewrite the claims of
// the ID tokens the token endpoint hands out and sign them again with that same key: a
// token with a wrong audience or already expired that only Porthole's checks can refuse.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';

export const CLIENT_ID = 'porthole';
export const CLIENT_SECRET = 'test-client-secret';
const KID = 'test-signing-key';

/** Listens first (Porthole's config needs the issuer); `attach` starts the provider. */
export async function startOidcProvider() {
  const http = createServer();
  let handler = (req, res) => { res.statusCode = 503; res.end('not yet'); };
  http.on('request', (req, res) => handler(req, res));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${http.address().port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
  let rewrite = null;

  return {
    issuer,
    /** Serves the authorization flow for Porthole at `portholeUrl`. */
    attach(portholeUrl) {
      const provider = new Provider(issuer, {
        clients: [{
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${portholeUrl}/portal/oidc/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        }],
        jwks: { keys: [jwk] },
        cookies: { keys: ['test-cookie-key'] },
        scopes: ['openid', 'email', 'groups'],
        claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
        // The scopes' claims in the ID token itself, as Keycloak and Entra put them.
        conformIdTokenClaims: false,
        findAccount: async (ctx, id) => ({
          accountId: id,
          claims: async () => ({
            sub: id, email: id, email_verified: true, groups: id.startsWith('eng') ? ['eng'] : ['sales'],
          }),
        }),
        // Consent is granted: the test signs in, it does not click through a consent page.
        loadExistingGrant: async (ctx) => {
          const grantId = ctx.oidc.result?.consent?.grantId
            || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
          if (grantId) return ctx.oidc.provider.Grant.find(grantId);
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
          grant.addOIDCScope('openid email groups');
          await grant.save();
          return grant;
        },
      });
      provider.use(async (ctx, next) => {
        await next();
        if (rewrite && ctx.path === '/token' && ctx.body?.id_token) {
          const claims = rewrite(decodeJwt(ctx.body.id_token));
          ctx.body = {
            ...ctx.body,
            id_token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: KID }).sign(privateKey),
          };
        }
      });
      handler = provider.callback();
    },
    /** From now on ID tokens carry `fn(claims)` instead (null: as issued). */
    tamper(fn) {
      rewrite = fn;
    },
    close: () => new Promise((resolve) => { http.closeAllConnections(); http.close(resolve); }),
  };
}

/** Porthole's config file for this provider, serving `stacks`. */
export function portholeConfig(issuer, stacks) {
  return `[[oidc]]
name = "corp"
display_name = "Corp SSO"
issuer = "${issuer}"
client_id = "${CLIENT_ID}"
client_secret = "${CLIENT_SECRET}"
scopes = ["openid", "email", "groups"]
stacks = [${stacks.map((s) => `"${s}"`).join(', ')}]
`;
}
