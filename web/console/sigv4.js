// AWS Signature Version 4 with WebCrypto, for the console's admin API calls (and the
// end-to-end tests' admin client, in Node). Signs host, x-amz-date, the session token
// when there is one, and the given headers; the query string is always empty here.
const utf8 = new TextEncoder();
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', utf8.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === 'string' ? utf8.encode(key) : key;
  const imported = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', imported, utf8.encode(text));
}

/**
 * The headers of a signed POST of `body` to `url`: `headers` plus host, x-amz-date,
 * x-amz-security-token (temporary credentials) and authorization.
 */
export async function signedHeaders({ url, body, headers, credentials, service, region, date = new Date() }) {
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const target = new URL(url);
  const all = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  all.host = target.host;
  all['x-amz-date'] = amzDate;
  if (credentials.sessionToken) all['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(all).sort();
  const canonical = [
    'POST', target.pathname, '',
    ...names.map((n) => `${n}:${all[n]}`), '',
    names.join(';'), await sha256Hex(body),
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
      const response = await fetch(`${endpoint}/`, { method: 'POST', headers, body });
      const text = await response.text();
      const parsed = text ? JSON.parse(text) : {};
      if (!response.ok) throw new ApiError(operation, response.status, parsed);
      return parsed;
    },
  };
}
