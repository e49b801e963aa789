// The console's SigV4 signer against AWS's SigV4 test suite (the cases the Rust
// verifier reads too, crates/sigv4/tests/aws-signing-test-suite: each request and the
// signature AWS gives it), and the signing of a body given by its hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { signedHeaders, sha256Hex } from './sigv4.js';

const SUITE = new URL('../../crates/sigv4/tests/aws-signing-test-suite/', import.meta.url);
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const date = new Date('2015-08-30T12:36:00Z');

/** A suite case: its request (method, URL, headers but the signature's, body) and its Authorization. */
function suiteCase(name) {
  const text = readFileSync(new URL(`${name}/header-signed-request.txt`, SUITE), 'utf8');
  const context = JSON.parse(readFileSync(new URL(`${name}/context.json`, SUITE), 'utf8'));
  const [head, body = ''] = text.split('\n\n');
  const [requestLine, ...headerLines] = head.split('\n');
  const [method, target] = requestLine.split(' ');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1)]));
  const { authorization, host, 'x-amz-date': _date, 'x-amz-security-token': token, ...signed } = headers;
  return {
    request: {
      url: `https://${host}${target}`, method, body, headers: signed, date,
      credentials: { ...credentials, sessionToken: token ?? context.credentials.token },
      service: context.service, region: context.region,
    },
    authorization,
  };
}

for (const name of [
  'get-vanilla', 'get-vanilla-query', 'get-vanilla-query-order-key-case', 'get-vanilla-query-order-encoded',
  'get-vanilla-query-unreserved', 'get-vanilla-with-session-token', 'post-vanilla-query', 'post-header-key-sort',
  'post-x-www-form-urlencoded',
]) {
  test(`${name} is signed as in AWS's test suite`, async () => {
    const { request, authorization } = suiteCase(name);
    const headers = await signedHeaders(request);
    assert.equal(headers['x-amz-date'], '20150830T123600Z');
    assert.equal(headers.authorization, authorization);
  });
}

test('temporary credentials sign their session token', async () => {
  const headers = await signedHeaders({
    url: 'http://127.0.0.1:8443/', body: '{}', headers: {},
    credentials: { ...credentials, sessionToken: 'tok' }, service: 'appstream', region: 'us-east-1', date,
  });
  assert.equal(headers['x-amz-security-token'], 'tok');
  assert.match(headers.authorization, /SignedHeaders=host;x-amz-date;x-amz-security-token,/);
});

test('a body given by its hash is signed as the body itself', async () => {
  const archive = new Uint8Array([0, 1, 2, 255]);
  const request = {
    url: 'http://127.0.0.1:8443/porthole/images/import?Name=my%20image', headers: {},
    credentials, service: 'appstream', region: 'us-east-1', date,
  };
  const byHash = await signedHeaders({ ...request, bodyHash: await sha256Hex(archive) });
  assert.equal(byHash.authorization, (await signedHeaders({ ...request, body: archive })).authorization);
  assert.notEqual(byHash.authorization, (await signedHeaders({ ...request, body: '' })).authorization);
});
