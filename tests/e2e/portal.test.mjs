// The user portal end to end: an administrator makes a user with the AWS CLI, the
// user reads the welcome message from the outbox, signs in with the keyboard in
// headless Chromium, chooses a password, launches xterm from the catalog and types
// into it; the administrator disables them and the session ends with that reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, waitStreaming, focusApp, clientDiag } from './harness.mjs';
import { serveTest, appIn, aws, assertAccessible, DEFAULT_NAME } from './serve-harness.mjs';

const USER = 'ana@example.com';

/** The stack's live USERPOOL sessions. */
async function userPoolSessions(server) {
  const out = await server.admin.call('DescribeSessions', {
    StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME, AuthenticationType: 'USERPOOL',
  });
  return out.Sessions;
}
const PASSWORD = 'Good-pass-42';

/** The temporary password of the welcome message to `user` in the outbox. */
function welcomePassword(server, user) {
  const outbox = join(server.dataDir, 'outbox');
  const messages = existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.eml')) : [];
  for (const name of messages) {
    const eml = readFileSync(join(outbox, name), 'utf8');
    if (eml.includes(`\r\nTo: ${user}\r\n`)) return eml.match(/Temporary password: (\S+)/)[1];
  }
  throw new Error(`no welcome message to ${user} in ${outbox}: ${messages.join(', ')}`);
}

test('a user-pool user signs in, chooses a password, streams xterm from the portal, and is ended by DisableUser', { timeout: 120000 }, async (t) => {
  const { server, browser } = await serveTest(t);
  aws(server, ['create-user', '--user-name', USER, '--authentication-type', 'USERPOOL', '--first-name', 'Ana']);
  aws(server, ['batch-associate-user-stack', '--user-stack-associations',
    `StackName=${DEFAULT_NAME},UserName=${USER},AuthenticationType=USERPOOL`]);
  const temporary = welcomePassword(server, USER);

  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.consoleLog = [];
  page.on('pageerror', (e) => page.consoleLog.push(`pageerror: ${e.message}`));
  await page.goto(`${server.endpoint}/`);
  await assertAccessible(page, 'the sign-in page');
  // The keyboard alone: the email field has focus, Tab reaches the password, Enter submits.
  await page.keyboard.type(USER);
  await page.keyboard.press('Tab');
  await page.keyboard.type(temporary);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/portal/password');
  await assertAccessible(page, 'the new-password page');
  await page.getByLabel('New password').fill(PASSWORD);
  await page.getByLabel('Repeat it').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await page.waitForURL(`${server.endpoint}/`);
  assert.equal(await page.getByRole('heading', { name: 'Your applications' }).count(), 1);
  await assertAccessible(page, 'the catalog');

  await page.getByRole('button', { name: /xterm/i }).first().click();
  await page.waitForURL('**/session/**');
  await waitStreaming(page, { timeout: 60000 });
  const { app: xterm } = await appIn(server, 'xterm');
  const sessions = await userPoolSessions(server);
  assert.deepEqual(sessions.map((s) => [s.UserId, s.AuthenticationType]), [[USER, 'USERPOOL']]);

  await focusApp(page);
  await page.keyboard.type('echo typed-by-ana > /tmp/portal-done');
  await page.keyboard.press('Enter');
  const done = `/proc/${xterm.pid}/root/tmp/portal-done`;
  await waitFor(() => existsSync(done), { timeout: 30000, what: 'the line typed into xterm to run', diag: () => clientDiag(page) });
  assert.equal(readFileSync(done, 'utf8'), 'typed-by-ana\n');

  aws(server, ['disable-user', '--user-name', USER, '--authentication-type', 'USERPOOL']);
  await page.waitForFunction(() => window.porthole?.state === 'closed', null, { timeout: 20000, polling: 100 });
  const reason = await page.evaluate(() => window.porthole.closeReason);
  assert.match(reason, /your account was disabled by an administrator/);
  assert.deepEqual(await userPoolSessions(server), []);
});
