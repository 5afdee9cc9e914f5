// The identity providers of the API tests: three OpenID Connect issuers on one HTTP server,
// each an instance of oidc-provider (a certified implementation) mounted on its own path.
//
//   node provider.mjs PORT        (0 = any free port)
//
// Once listening it prints one line of JSON to stdout (the issuers' URLs, the client, the
// audience) and logs nothing else there; errors go to stderr.
//
// - patient:   like FranceConnect; `sub` is an opaque per-service identifier derived from the
//              login, claims given_name and family_name.
// - psc:       like Pro Santé Connect, with its claim names (SubjectNameID, SubjectRefPro...).
// - operators: an insurer's workforce directory; `sub` is the agent id, claims name and groups.
//
// Every issuer has one public client (PKCE S256 required, no secret) and issues its access
// tokens for the API as JWTs (RFC 9068) carrying the user's claims. Keys are generated at start;
// `POST /control/rotate?issuer=NAME` makes that issuer sign with a new key from then on.
//
// Sign-in is a login page (any login name, any password) then a consent page: plain HTML forms
// that a test drives as a browser would (GET, form POST, cookies, redirects).
//
// oidc-provider 8.8.1 (package.json): the latest release that supports Node.js 20, the machines'
// Node. No release declares `engines`, but every 9.x checks the runtime at import and warns
// "Unsupported runtime. Use Node.js v22.x LTS"; 8.x accepts Node 18 and later. With Node 22 on
// the machines, move to 9.x (its breaking changes touch little of what is used here).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// stdout carries one line, read by the tests; oidc-provider's notices (console.info) and
// anything else go to stderr.
console.info = console.error;
console.log = console.error;

const HOST = '127.0.0.1';
const CLIENT_ID = 'espace-sante';
const REDIRECT_URI = 'http://127.0.0.1/callback';
// The API as a resource server (RFC 8707): every access token is issued for it, without the
// app asking, since FranceConnect and Pro Santé Connect apps send no resource parameter.
const RESOURCE = 'urn:espace-sante:api';
const AUDIENCE = 'espace-sante-api';

// What the account store knows, by account id (the `sub`), filled at login.
const accounts = new Map();

const slug = (text) => text.normalize('NFD').replace(/[^A-Za-z0-9]/g, '').toUpperCase();
// Deterministic so that a login signs in as the same person every time.
const digest = (text) => crypto.createHash('sha256').update(text).digest('hex');
const uuidFrom = (text) => {
  const h = digest(text);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const ISSUERS = {
  // FranceConnect gives each service its own opaque identifier for a person: 64 hex digits and
  // a version suffix. Login: "Given.Family" (or any name; the names are then made up).
  patient: {
    alg: 'ES256',
    scope: 'openid profile',
    claims: { openid: ['sub'], profile: ['given_name', 'family_name'] },
    account(login) {
      const [given, family] = login.includes('.') ? login.split('.', 2) : [login, 'PATIENT'];
      return {
        sub: `${digest(`espace-sante:${login}`)}v1`,
        claims: { given_name: given, family_name: family },
      };
    },
  },
  // Pro Santé Connect. Login: "RPPS[:PROFESSION[:GIVEN[:FAMILY]]]", e.g. "10003456786:10";
  // an 11-digit RPPS becomes the national identifier "8" + RPPS, anything else is taken as the
  // national identifier itself. The profession code defaults to 10 (physician).
  psc: {
    alg: 'RS256',
    scope: 'openid scope_all',
    claims: {
      openid: ['sub'],
      scope_all: ['SubjectNameID', 'preferred_username', 'given_name', 'family_name', 'SubjectRefPro'],
    },
    account(login) {
      const [id, profession = '10', given = 'Camille', family = `PRATICIEN${slug(id)}`] = login.split(':');
      if (!id) throw new Error('the login must start with an RPPS number or a national identifier');
      const nationalId = /^\d{11}$/.test(id) ? `8${id}` : id;
      return {
        sub: `f:${uuidFrom(`psc:${nationalId}`)}:${nationalId}`,
        claims: {
          SubjectNameID: nationalId,
          preferred_username: nationalId,
          given_name: given,
          family_name: family,
          SubjectRefPro: {
            codeCivilite: 'M',
            exercices: [{
              codeProfession: profession,
              codeCategorieProfessionnelle: 'C',
              nomDexercice: family,
              prenomDexercice: given,
              activities: [],
            }],
          },
        },
      };
    },
  },
  // The insurer's directory. Login: "AGENT[:GROUP,GROUP...]"; without ":" the agent is in
  // espace-sante-operateurs, "agent-7:" is in no group.
  operators: {
    alg: 'RS256',
    scope: 'openid profile groups',
    claims: { openid: ['sub'], profile: ['name'], groups: ['groups'] },
    account(login) {
      const colon = login.indexOf(':');
      const agent = colon === -1 ? login : login.slice(0, colon);
      const groups = colon === -1
        ? ['espace-sante-operateurs']
        : login.slice(colon + 1).split(',').filter(Boolean);
      if (!agent) throw new Error('the login must start with the agent id');
      return { sub: agent, claims: { name: `Agent ${agent}`, groups } };
    },
  },
};

function generateKey(alg) {
  const { privateKey } = alg.startsWith('ES')
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // A random kid: unique per key, so a rotated key is told apart at once.
  const kid = crypto.randomUUID();
  return { ...jwk, kid, alg, use: 'sig' };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

class Issuer {
  constructor(name, spec, origin) {
    this.name = name;
    this.spec = spec;
    this.path = `/${name}`;
    this.url = `${origin}${this.path}`;
    // Kept across rotations, so that sessions and interactions in flight stay valid.
    this.cookieKeys = [crypto.randomBytes(32).toString('base64url')];
    this.keys = [generateKey(spec.alg)];
    this.build();
  }

  get kid() {
    return this.keys[0].kid;
  }

  rotate() {
    // The new key first: it signs from now on; the old ones stay published for the tokens
    // they signed.
    this.keys = [generateKey(this.spec.alg), ...this.keys];
    this.build();
  }

  build() {
    const { spec, name } = this;
    const signingKid = this.kid;
    const provider = new Provider(this.url, {
      clients: [{
        client_id: CLIENT_ID,
        client_name: `espace-sante (${name})`,
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: spec.alg,
      }],
      clientDefaults: { id_token_signed_response_alg: spec.alg },
      jwks: { keys: this.keys },
      cookies: {
        keys: this.cookieKeys,
        names: {
          session: `_session_${name}`,
          interaction: `_interaction_${name}`,
          resume: `_interaction_resume_${name}`,
        },
      },
      // Explicit lifetimes (seconds); the defaults would each print a notice.
      ttl: {
        AccessToken: 3600,
        AuthorizationCode: 60,
        Grant: 3600,
        IdToken: 3600,
        Interaction: 600,
        Session: 3600,
      },
      pkce: { methods: ['S256'], required: () => true },
      scopes: ['openid', ...spec.scope.split(' ').filter((s) => s !== 'openid')],
      claims: spec.claims,
      features: {
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo(_ctx, resource) {
            if (resource !== RESOURCE) throw new errors.InvalidTarget();
            return {
              audience: AUDIENCE,
              // The token lists the scopes granted, as FranceConnect's and PSC's do.
              scope: spec.scope,
              accessTokenFormat: 'jwt',
              accessTokenTTL: 3600,
              jwt: { sign: { alg: spec.alg, kid: signingKid } },
            };
          },
        },
      },
      interactions: {
        url: (_ctx, interaction) => `${this.path}/interaction/${interaction.uid}`,
      },
      findAccount(_ctx, sub) {
        const account = accounts.get(`${name}:${sub}`);
        if (!account) return undefined;
        return { accountId: sub, claims: () => ({ sub, ...account.claims }) };
      },
      // The user's claims travel in the access token itself: the API reads no userinfo.
      extraTokenClaims(_ctx, token) {
        if (token.kind !== 'AccessToken') return undefined;
        return accounts.get(`${name}:${token.accountId}`)?.claims;
      },
    });
    // Errors the provider renders to the client are expected in tests; unexpected ones are
    // worth a line on stderr.
    provider.on('server_error', (_ctx, err) => console.error(`${name}: server_error`, err));
    this.provider = provider;
    this.callback = provider.callback();
  }

  async handle(req, res, rest) {
    const interaction = rest.match(/^\/interaction\/([\w-]+)(\/login|\/confirm)?$/);
    if (interaction) {
      await this.interaction(req, res, interaction[1], interaction[2]);
      return;
    }
    // Mounted as express mounts: the provider reads the mount path from originalUrl.
    req.originalUrl = req.url;
    req.url = rest || '/';
    this.callback(req, res);
  }

  async interaction(req, res, uid, step) {
    const { provider } = this;
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      page(res, 400, 'Sign-in expired', `<p>${escapeHtml(err.message)}</p>`);
      return;
    }
    if (details.uid !== uid) {
      page(res, 400, 'Sign-in mismatch', '<p>this interaction is not the one in progress</p>');
      return;
    }
    const { prompt, params, session } = details;
    const action = `${this.path}/interaction/${uid}`;

    if (req.method === 'GET' && !step) {
      if (prompt.name === 'login') {
        page(res, 200, `Sign in to ${this.name}`, `<form method="post" action="${action}/login">
<label>Login <input type="text" name="login" required autofocus></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button>
</form>`);
      } else if (prompt.name === 'consent') {
        page(res, 200, `Share your identity with ${CLIENT_ID}?`, `<p>Scopes: ${escapeHtml(params.scope)}</p>
<form method="post" action="${action}/confirm">
<input type="hidden" name="consent" value="yes">
<button type="submit">Continue</button>
</form>`);
      } else {
        page(res, 501, 'Unsupported prompt', `<p>${escapeHtml(prompt.name)}</p>`);
      }
      return;
    }
    if (req.method !== 'POST') {
      page(res, 405, 'Method not allowed', '');
      return;
    }

    const form = await readForm(req);
    if (step === '/login' && prompt.name === 'login') {
      let account;
      try {
        account = this.spec.account(form.get('login') ?? '');
      } catch (err) {
        page(res, 400, 'Sign-in refused', `<p>${escapeHtml(err.message)}</p>`);
        return;
      }
      accounts.set(`${this.name}:${account.sub}`, account);
      await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
        mergeWithLastSubmission: false,
      });
    } else if (step === '/confirm' && prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, {
        mergeWithLastSubmission: true,
      });
    } else {
      page(res, 400, 'Unexpected step', `<p>the sign-in is at ${escapeHtml(prompt.name)}</p>`);
    }
  }
}

function control(req, res, url, issuers) {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || url.pathname !== '/control/rotate') {
    json(404, { error: 'POST /control/rotate?issuer=NAME' });
    return;
  }
  const issuer = issuers[url.searchParams.get('issuer')];
  if (!issuer) {
    json(400, { error: `unknown issuer; one of ${Object.keys(issuers).join(', ')}` });
    return;
  }
  issuer.rotate();
  json(200, { issuer: issuer.name, kid: issuer.kid });
}

function main() {
  const port = Number(process.argv[2] ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node provider.mjs PORT (0 = any free port)');
    process.exit(2);
  }

  let issuers;
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname.startsWith('/control/')) {
        control(req, res, url, issuers);
        return;
      }
      const [, first] = url.pathname.split('/');
      const issuer = Object.hasOwn(issuers, first) ? issuers[first] : undefined;
      if (!issuer) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      await issuer.handle(req, res, req.url.slice(issuer.path.length));
    } catch (err) {
      console.error(err);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
      }
      res.end('internal error\n');
    }
  });

  server.listen(port, HOST, () => {
    const origin = `http://${HOST}:${server.address().port}`;
    issuers = Object.fromEntries(
      Object.entries(ISSUERS).map(([name, spec]) => [name, new Issuer(name, spec, origin)]),
    );
    const described = Object.fromEntries(Object.values(issuers).map((issuer) => [issuer.name, {
      issuer: issuer.url,
      jwks_uri: `${issuer.url}/jwks`,
      alg: issuer.spec.alg,
      scope: issuer.spec.scope,
    }]));
    process.stdout.write(`${JSON.stringify({
      issuers: described,
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      audience: AUDIENCE,
      control: `${origin}/control`,
    })}\n`);
  });

  // The tests end us by killing the process. When stdin is a pipe, its end (the test process
  // gone without killing us, e.g. killed itself) ends us too, so no provider outlives its test.
  if (fs.fstatSync(0).isFIFO()) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  }
}

main();
