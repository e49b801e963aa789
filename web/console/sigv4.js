// AWS Signature Version 4 with WebCrypto, for the console's admin API calls and image
// imports (and the end-to-end tests' admin client, in Node). Signs host, x-amz-date, the
// session token when there is one, and the given headers.
const utf8 = new TextEncoder();
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** The SHA-256 of a string, ArrayBuffer or typed array, in hex. */
export async function sha256Hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? utf8.encode(data) : data));
}

async function hmac(key, text) {
  const raw = typeof key === 'string' ? utf8.encode(key) : key;
  const imported = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', imported, utf8.encode(text));
}

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ (encodeURIComponent leaves !'()* too). */
export const uriEncode = (text) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The path as sent, each segment encoded once more (as every service but S3 signs it). */
const canonicalPath = (pathname) => pathname.split('/').map(uriEncode).join('/');

/** Name=value pairs decoded, re-encoded by RFC 3986 and sorted (what the server rebuilds). */
function canonicalQuery(search) {
  const decode = (part) => decodeURIComponent(part);
  return search.replace(/^\?/, '').split('&').filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      const [name, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
      return [uriEncode(decode(name)), uriEncode(decode(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`).join('&');
}

/**
 * The headers of a signed `method` (POST) of `body` to `url` (path and query signed as
 * they are): `headers` plus host, x-amz-date, x-amz-security-token (temporary
 * credentials) and authorization. A large body is given by its hash instead (`bodyHash`,
 * hex SHA-256), which the caller also declares in x-amz-content-sha256.
 */
export async function signedHeaders({ url, method = 'POST', body = '', bodyHash, headers, credentials, service, region, date = new Date() }) {
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const target = new URL(url);
  const all = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  all.host = target.host;
  all['x-amz-date'] = amzDate;
  if (credentials.sessionToken) all['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(all).sort();
  const canonical = [
    method, canonicalPath(target.pathname), canonicalQuery(target.search),
    ...names.map((n) => `${n}:${all[n]}`), '',
    names.join(';'), bodyHash ?? await sha256Hex(body),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256Hex(canonical)].join('\n');
  let key = await hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  all.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, `
    + `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return all;
}

export class ApiError extends Error {
  constructor(operation, status, body) {
    const code = String(body.__type ?? '').split('#').pop() || `HTTP ${status}`;
    super(`${code}: ${body.message ?? body.Message ?? 'the request failed'}`);
    this.operation = operation;
    this.status = status;
    this.code = code;
  }
}

const SERVICES = {
  appstream: { target: 'PhotonAdminProxyService', signingName: 'appstream' },
  autoscaling: { target: 'AnyScaleFrontendService', signingName: 'application-autoscaling' },
};

/** An admin API client (awsJson1_1, as the AWS CLI speaks): `await api.call('DescribeFleets', {})`. */
export function adminApi({ endpoint, credentials, region = 'us-east-1', service = 'appstream' }) {
  const { target, signingName } = SERVICES[service];
  return {
    async call(operation, input = {}) {
      const body = JSON.stringify(input);
      const headers = await signedHeaders({
        url: `${endpoint}/`, body, credentials, service: signingName, region,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${target}.${operation}` },
      });
      delete headers.host; // fetch sets it (and refuses to be given it)
      return answer(operation, await fetch(`${endpoint}/`, { method: 'POST', headers, body }));
    },
  };
}

/** The JSON of a 2xx answer; otherwise its error, as the server worded it. */
async function answer(operation, response) {
  const text = await response.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) throw new ApiError(operation, response.status, parsed);
  return parsed;
}

/** Porthole's OCI import route (crates/server/src/image_import.rs): not an AppStream operation. */
export const IMPORT_PATH = '/porthole/images/import';

/**
 * Imports an OCI archive (a Blob, ArrayBuffer or typed array: the tar `docker save` or
 * `skopeo copy ... oci-archive:` writes) as image `name`: `{ Image }` as DescribeImages
 * shows it, or an ApiError with the server's reason. `onState('reading' | 'hashing' | 'uploading')`
 * tells where it is. The body is signed by its SHA-256 (x-amz-content-sha256), so the
 * server can check the signature of an archive it streamed to disk.
 */
export async function importImage({ endpoint, credentials, region = 'us-east-1', name, archive, onState = () => {} }) {
  onState('reading');
  const bytes = archive instanceof Blob ? await archive.arrayBuffer() : archive;
  onState('hashing');
  const bodyHash = await sha256Hex(bytes);
  const url = `${endpoint}${IMPORT_PATH}?Name=${uriEncode(name)}`;
  const headers = await signedHeaders({
    url, bodyHash, credentials, service: 'appstream', region,
    headers: { 'content-type': 'application/x-tar', 'x-amz-content-sha256': bodyHash },
  });
  delete headers.host;
  onState('uploading');
  return answer('ImportImage', await fetch(url, { method: 'POST', headers, body: archive }));
}
