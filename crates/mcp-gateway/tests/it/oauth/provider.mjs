// A real OpenID provider (npm oidc-provider) for the OAuth tests, on 127.0.0.1:<free port>.
// Usage: node provider.mjs <dir holding node_modules/oidc-provider>
// Prints `listening <issuer>` once it serves. Issues JWT access tokens (ES256) by
// client_credentials with RFC 8707 resource indicators: `aud` is the requested resource.
//
// Test controls beside the provider's own routes (loopback only, this is a test fixture):
//   POST /__rotate  a new signing key first in the JWKS, the old one kept after it -> {kid}
//   POST /__mint    {claims, key: "current"|"rogue", alg?} -> {token}: a JWT signed with the
//                   provider's current key or with a key it never published (for expired
//                   tokens and tokens by an unknown key, which the provider will not issue)
//   GET  /__stats   {jwks, introspections: how many times /jwks and the introspection
//                   endpoint were asked}
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const { default: Provider } = await import(
  pathToFileURL(path.join(dir, 'node_modules/oidc-provider/lib/index.js')).href
);

// `mcp:opaque` makes the token opaque (checked by introspection) instead of a JWT.
const SCOPES = 'mcp:all mcp:fx mcp:none mcp:opaque';

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomUUID(), alg: 'ES256', use: 'sig' };
}

const keys = [newKey()];
const rogue = newKey();
let jwksFetches = 0;
let introspections = 0;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function makeProvider() {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'gateway-test',
        client_secret: 'gateway-test-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: SCOPES,
      },
      {
        // The gateway, when it introspects opaque tokens (RFC 7662).
        client_id: 'gateway-rs',
        client_secret: 'gateway-rs-secret',
        grant_types: [],
        redirect_uris: [],
        response_types: [],
      },
    ],
    scopes: ['openid', 'offline_access', ...SCOPES.split(' ')],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          const opaque = String(ctx.oidc.params?.scope ?? '').split(' ').includes('mcp:opaque');
          return {
            scope: SCOPES,
            audience: resourceIndicator,
            accessTokenTTL: 600,
            accessTokenFormat: opaque ? 'opaque' : 'jwt',
            ...(opaque ? {} : { jwt: { sign: { alg: 'ES256' } } }),
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('provider error', err));
  return provider.callback();
}

let handler = makeProvider();

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

// `alg` ES256 (default); or the classic forgeries: HS256 keyed with the published public key,
// and `none` (unsigned).
function mint(claims, jwk, alg = 'ES256') {
  const header = { alg, typ: 'at+jwt', kid: jwk.kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  if (alg === 'none') return `${input}.`;
  if (alg === 'HS256') {
    const { d, ...publicJwk } = jwk;
    const mac = crypto.createHmac('sha256', JSON.stringify(publicJwk)).update(input).digest();
    return `${input}.${b64url(mac)}`;
  }
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const signature = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

function json(res, value) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (req.method === 'POST' && url.pathname === '/__rotate') {
      keys.unshift(newKey());
      handler = makeProvider();
      return json(res, { kid: keys[0].kid });
    }
    if (req.method === 'POST' && url.pathname === '/__mint') {
      const { claims, key, alg } = await body(req);
      return json(res, { token: mint(claims, key === 'rogue' ? rogue : keys[0], alg) });
    }
    if (req.method === 'GET' && url.pathname === '/__stats') {
      return json(res, { jwks: jwksFetches, introspections });
    }
    if (url.pathname === '/jwks') jwksFetches += 1;
    if (url.pathname === '/token/introspection') introspections += 1;
    return handler(req, res);
  } catch (err) {
    res.writeHead(500);
    res.end(String(err));
  }
});

console.log(`listening ${issuer}`);
