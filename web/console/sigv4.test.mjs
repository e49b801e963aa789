// The console's SigV4 signer against AWS's SigV4 test suite
// (aws-sig-v4-test-suite/post-x-www-form-urlencoded: its request and signature).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signedHeaders } from './sigv4.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const date = new Date('2015-08-30T12:36:00Z');

test('a form POST is signed as in AWS\'s test suite', async () => {
  const headers = await signedHeaders({
    url: 'https://example.amazonaws.com/', body: 'Param1=value1',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    credentials, service: 'service', region: 'us-east-1', date,
  });
  assert.equal(headers['x-amz-date'], '20150830T123600Z');
  assert.equal(headers.authorization, 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, '
    + 'SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a');
});

test('temporary credentials sign their session token', async () => {
  const headers = await signedHeaders({
    url: 'http://127.0.0.1:8443/', body: '{}', headers: {},
    credentials: { ...credentials, sessionToken: 'tok' }, service: 'appstream', region: 'us-east-1', date,
  });
  assert.equal(headers['x-amz-security-token'], 'tok');
  assert.match(headers.authorization, /SignedHeaders=host;x-amz-date;x-amz-security-token,/);
});
