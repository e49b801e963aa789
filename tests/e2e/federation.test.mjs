// Federated sign-in end to end: a real OpenID Connect provider (npm `oidc-provider`)
// on loopback, `porthole serve --config` naming it, headless Chromium clicking "Sign in
// with Corp SSO" and signing in on the provider's page. Entitlements made with the AWS
// CLI decide what a federated user of group "eng" sees and may launch; ID tokens for
// another audience or already expired, and a replayed callback, are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmp, waitStreaming } from './harness.mjs';
import { serveTest, aws, assertAccessible, fleetOf, DEFAULT_NAME } from './serve-harness.mjs';
import { startOidcProvider, portholeConfig } from './oidc-provider.mjs';

/** Signs in through the provider in a fresh browser context as `login`. */
async function signIn(browser, server, login) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  // Only loopback exists here (the provider's dev page asks for web fonts).
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  const page = await context.newPage();
  await page.goto(`${server.endpoint}/`);
  await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  const callback = page.waitForResponse((r) => r.url().startsWith(`${server.endpoint}/portal/oidc/callback`));
  await page.locator('button[type=submit]').click();
  const response = await callback;
  await page.waitForLoadState();
  return { context, page, callbackUrl: response.url(), status: response.status() };
}

const appButtons = async (page) => (await page.locator('.apps button').allTextContents()).map((t) => t.trim());

test('an OIDC user of group eng sees and launches only the entitled app; wrong audience, expired token and replayed callback are refused', { timeout: 180000 }, async (t) => {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  const config = join(makeTmp('porthole-oidc-'), 'porthole.toml');
  writeFileSync(config, portholeConfig(idp.issuer, [DEFAULT_NAME]));
  const { server, browser } = await serveTest(t, { args: ['--config', config] });
  idp.attach(server.endpoint);

  const { ImageName } = await fleetOf(server);
  const [image] = (await server.admin.call('DescribeImages', { Names: [ImageName] })).Images;
  const other = image.Applications.map((a) => a.Name).find((name) => name !== 'xterm');
  assert.ok(other, 'the default image has an app besides xterm');
  aws(server, ['create-entitlement', '--stack-name', DEFAULT_NAME, '--name', 'eng-terminal',
    '--app-visibility', 'ASSOCIATED', '--attributes', 'Name=groups,Value=eng']);
  aws(server, ['associate-application-to-entitlement', '--stack-name', DEFAULT_NAME,
    '--entitlement-name', 'eng-terminal', '--application-identifier', 'xterm']);

  const eng = await signIn(browser, server, 'eng@example.com');
  assert.equal(eng.status, 303, 'signed in');
  assert.equal(await eng.page.getByRole('heading', { name: 'Your applications' }).count(), 1);
  assert.deepEqual(await appButtons(eng.page), ['XTerm'], 'only the entitled app is listed');
  await assertAccessible(eng.page, 'a federated user\'s catalog');

  // The server refuses what the page does not show.
  const csrf = await eng.page.locator('input[name=csrf]').first().inputValue();
  const forged = await eng.page.evaluate(async ({ csrf, stack, app }) => {
    const res = await fetch('/portal/launch', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, stack, app }),
    });
    return { status: res.status, text: await res.text() };
  }, { csrf, stack: DEFAULT_NAME, app: other });
  assert.equal(forged.status, 403);
  assert.match(forged.text, new RegExp(`not entitled to the application ${other}`));

  await eng.page.getByRole('button', { name: 'XTerm' }).click();
  await eng.page.waitForURL('**/session/**');
  await waitStreaming(eng.page, { timeout: 60000 });
  const { Sessions } = await server.admin.call('DescribeSessions', {
    StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME, AuthenticationType: 'SAML',
  });
  assert.deepEqual(Sessions.map((s) => [s.UserId, s.AuthenticationType]), [['eng@example.com', 'SAML']]);

  // The provider's answer, sent again, signs no one in.
  const replay = await eng.page.goto(eng.callbackUrl);
  assert.equal(replay.status(), 400);
  assert.match(await eng.page.textContent('main'), /expired or was already used/);
  await eng.context.close();

  const sales = await signIn(browser, server, 'sales@example.com');
  assert.equal(sales.status, 303);
  assert.deepEqual(await appButtons(sales.page), [], 'no entitlement matches group sales');
  await sales.context.close();

  const refusals = [
    ['an ID token for another audience', (c) => ({ ...c, aud: 'someone-else' }), /issued for another application/],
    ['an expired ID token', (c) => ({ ...c, iat: c.iat - 7200, exp: c.iat - 3600 }), /has expired/],
  ];
  for (const [what, rewrite, message] of refusals) {
    idp.tamper(rewrite);
    const refused = await signIn(browser, server, 'eng@example.com');
    assert.equal(refused.status, 403, what);
    assert.match(await refused.page.textContent('main'), message, what);
    await refused.page.goto(`${server.endpoint}/`);
    assert.equal(await refused.page.getByRole('heading', { name: 'Sign in' }).count(), 1, `${what}: not signed in`);
    await refused.context.close();
  }
  idp.tamper(null);
});
