// The ENT's OpenID Provider for passerelle's interop tests: panva's oidc-provider, not our code.
//
// Environment: REDIRECT_URI (the gateway's /ent/oidc/callback), CLIENT_ID, CLIENT_SECRET,
// ID_ENT and PERSON (the claims of the demo user), CONFORM=1 to keep those claims out of
// the ID token (they are then only served by userinfo). A login interaction logs in PERSON, or
// the person its URL names (`/interaction/<uid>?as=<person>`: another user at the same
// browser); the OP's own end_session endpoint logs the browser out, and, with
// BACKCHANNEL_LOGOUT_URI set, posts a back-channel logout token there (Back-Channel Logout 1.0).
// Listens on a free loopback port and prints `ready <issuer> <its clock, epoch ms>` once it answers.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`ent-op: ${name} is required`);
    process.exit(2);
  }
  return v;
};
const redirectUri = env('REDIRECT_URI');
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const idEnt = env('ID_ENT');
const person = env('PERSON');
const conform = process.env.CONFORM === '1';
const backchannelLogoutUri = process.env.BACKCHANNEL_LOGOUT_URI || '';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'ent-op-1', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      // Where the gateway asks the browser back after an RP-initiated logout.
      post_logout_redirect_uris: [redirectUri.replace(/\/ent\/oidc\/callback$/, '/ent/oidc/logged-out')],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      ...(backchannelLogoutUri ? {
        backchannel_logout_uri: backchannelLogoutUri,
        backchannel_logout_session_required: true,
      } : {}),
    }],
    jwks: { keys: [jwk] },
    claims: { openid: ['sub', 'idEnt', 'GARPersonIdentifiant'] },
    conformIdTokenClaims: conform,
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, idEnt, GARPersonIdentifiant: id }),
    }),
    // The gateway listens on loopback in the tests: the provider's guard against special-use
    // addresses (for its outgoing back-channel logout requests) is lifted here, and only here.
    fetch: (url, options) => {
      delete options.dispatcher;
      return fetch(url, options);
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: backchannelLogoutUri !== '' },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
  });
  provider.on('backchannel.error', (_ctx, err) => console.error(`ent-op: back-channel logout failed: ${err} ${err.cause}`));
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    // The demo user (or the one `as` names) is logged in and consents at once: no form to fill.
    try {
      const who = new URL(req.url, issuer).searchParams.get('as') || person;
      const details = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: who, clientId: details.params.client_id });
      grant.addOIDCScope('openid');
      grant.addOIDCClaims(['idEnt', 'GARPersonIdentifiant']);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, {
        login: { accountId: who },
        consent: { grantId },
      }, { mergeWithLastSubmission: false });
    } catch (e) {
      console.error(`ent-op: interaction failed: ${e}`);
      res.statusCode = 500;
      res.end('interaction failed');
    }
  });
  console.log(`ready ${issuer} ${Date.now()}`);
});
