// The admin console end to end in headless Chromium: sign in with the access key,
// create a fleet and a stack and associate them, watch the fleet reach RUNNING, create
// a user, see a streaming session opened from another browser context appear live and
// expire it; the console's temporary credentials work with the API until they expire,
// and altered ones never do. Keyboard and labels are checked with axe-core. An OCI
// archive imported through the console's form becomes an AVAILABLE image; a bad one
// shows the server's reason, word for word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, waitStreaming } from './harness.mjs';
import { serveTest, assertAccessible, readCredentials, fleetOf, REGION, DEFAULT_NAME } from './serve-harness.mjs';
import { probeImage, archiveOf } from './oci-image.mjs';
import { adminApi, importImage } from '../../web/console/sigv4.js';

const row = (page, attribute, value) => page.locator(`tr[data-${attribute}="${value}"]`);

test('an administrator runs fleets, stacks, users and sessions from the console, live', { timeout: 240000 }, async (t) => {
  const { server, browser } = await serveTest(t);
  const admin = readCredentials(join(server.dataDir, 'credentials'));
  const { ImageName } = await fleetOf(server);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => dialog.accept());
  await page.goto(`${server.endpoint}/console`);
  await assertAccessible(page, 'the console sign-in');
  // The keyboard alone: the access key field has focus.
  await page.keyboard.type(admin.accessKeyId);
  await page.keyboard.press('Tab');
  await page.keyboard.type('not the secret');
  await page.keyboard.press('Enter');
  await page.getByText('Wrong access key ID or secret access key.').waitFor();
  await page.getByLabel('Secret access key').fill(admin.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await row(page, 'fleet', DEFAULT_NAME).waitFor();
  await assertAccessible(page, 'the fleets section');

  await page.getByLabel('Fleet name').fill('console-fleet');
  await page.getByLabel('Image', { exact: true }).fill(ImageName);
  await page.getByLabel('Fleet type').selectOption('ALWAYS_ON');
  await page.getByLabel('Desired capacity', { exact: true }).fill('1');
  await page.getByRole('button', { name: 'Create fleet' }).click();
  const fleet = row(page, 'fleet', 'console-fleet');
  await fleet.waitFor();
  assert.equal(await fleet.locator('.state').textContent(), 'STOPPED');
  await page.getByRole('button', { name: 'Start console-fleet' }).click();
  // Live: the row changes without a reload.
  await page.waitForFunction(() => document.querySelector('tr[data-fleet="console-fleet"] .state')?.textContent === 'RUNNING',
    null, { timeout: 90000, polling: 200 });

  await page.getByLabel('Fleet to edit').fill('console-fleet');
  await page.getByLabel('New disconnect timeout (s)').fill('120');
  await page.getByRole('button', { name: 'Save fleet' }).click();
  await waitFor(async () => (await server.admin.call('DescribeFleets', { Names: ['console-fleet'] })).Fleets[0].DisconnectTimeoutInSeconds === 120,
    { timeout: 10000, interval: 200, what: 'UpdateFleet from the console' });

  await page.getByRole('button', { name: 'Stacks' }).click();
  await page.getByLabel('Stack name').fill('console-stack');
  await page.getByRole('button', { name: 'Create stack' }).click();
  await row(page, 'stack', 'console-stack').waitFor();
  await page.getByLabel('Stack', { exact: true }).fill('console-stack');
  await page.getByLabel('Fleet', { exact: true }).fill('console-fleet');
  await page.getByRole('button', { name: 'Associate fleet' }).click();
  await page.waitForFunction(() => document.querySelector('tr[data-stack="console-stack"]')?.textContent.includes('console-fleet'),
    null, { timeout: 10000, polling: 100 });
  await page.getByLabel('Stack to set').fill('console-stack');
  await page.getByLabel('File upload').uncheck();
  await page.getByLabel('Home folders').check();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.waitForFunction(() => document.querySelector('tr[data-stack="console-stack"]')?.textContent.includes('FILE_UPLOAD'),
    null, { timeout: 10000, polling: 100 });
  const [stack] = (await server.admin.call('DescribeStacks', { Names: ['console-stack'] })).Stacks;
  assert.deepEqual(stack.StorageConnectors.map((c) => c.ConnectorType), ['HOMEFOLDERS']);
  assert.equal(stack.UserSettings.find((u) => u.Action === 'FILE_UPLOAD').Permission, 'DISABLED');
  await page.getByLabel('Entitlement stack').fill('console-stack');
  await page.getByLabel('Entitlement name').fill('eng');
  await page.getByLabel('Attribute value').fill('eng');
  await page.getByRole('button', { name: 'Create entitlement' }).click();
  await page.waitForFunction(() => document.querySelector('tr[data-stack="console-stack"]')?.textContent.includes('eng (groups=eng)'),
    null, { timeout: 10000, polling: 100 });
  await assertAccessible(page, 'the stacks section');
  // An API error is shown in words.
  await page.getByLabel('Stack name').fill('console-stack');
  await page.getByRole('button', { name: 'Create stack' }).click();
  await page.getByRole('alert').filter({ hasText: 'ResourceAlreadyExistsException' }).waitFor();

  // Sections switch from the keyboard too.
  await page.getByRole('button', { name: 'Users' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill('cora@example.com');
  await page.getByLabel('First name').fill('Cora');
  await page.getByRole('button', { name: 'Create user and send welcome' }).click();
  await row(page, 'user', 'cora@example.com').waitFor();
  const { Users } = await server.admin.call('DescribeUsers', { AuthenticationType: 'USERPOOL' });
  assert.deepEqual(Users.map((u) => [u.UserName, u.FirstName]), [['cora@example.com', 'Cora']]);

  // A user streams from another browser; the console lists them, live, and ends it.
  await page.getByRole('button', { name: 'Sessions' }).click();
  await page.getByText('No live session.').waitFor();
  const viewer = await browser.newContext({ viewport: { width: 1024, height: 640 } });
  const stream = await viewer.newPage();
  await stream.goto(server.openUrl);
  await waitStreaming(stream, { timeout: 60000 });
  const { Sessions: [session] } = await server.admin.call('DescribeSessions', { StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME });
  const listed = row(page, 'session', session.Id);
  await listed.waitFor({ timeout: 15000 });
  assert.match(await listed.textContent(), new RegExp(session.UserId));
  // Its browser's round trip, measured by the gateway, shows up live.
  await page.waitForFunction((id) => /\d+(\.\d)? \/ \d+(\.\d)? ms/.test(document.querySelector(`tr[data-session="${id}"] [data-latency]`)?.textContent ?? ''),
    session.Id, { timeout: 15000, polling: 200 });
  await listed.getByRole('button', { name: /Expire the session/ }).click();
  await listed.waitFor({ state: 'detached', timeout: 15000 });
  await stream.waitForFunction(() => window.porthole?.state === 'closed', null, { timeout: 20000, polling: 100 });
  await viewer.close();

  // The console's credentials are temporary ones of the API itself.
  const temporary = await page.evaluate(() => JSON.parse(sessionStorage.getItem('porthole-console-credentials')));
  assert.match(temporary.accessKeyId, /^ASIA/);
  assert.ok(temporary.sessionToken);
  const api = (credentials) => adminApi({ endpoint: server.endpoint, credentials, region: REGION });
  const { Fleets } = await api(temporary).call('DescribeFleets', {});
  assert.ok(Fleets.some((f) => f.Name === 'console-fleet'));
  const altered = { ...temporary, sessionToken: temporary.sessionToken.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) };
  await assert.rejects(api(altered).call('DescribeFleets', {}), { code: 'UnrecognizedClientException', status: 403 });
  const wrongSecret = { ...temporary, secretAccessKey: `${temporary.secretAccessKey}x` };
  await assert.rejects(api(wrongSecret).call('DescribeFleets', {}), { code: 'InvalidSignatureException' });

  const shortLived = await page.evaluate(async (key) => (await fetch('/console/credentials', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...key, durationSeconds: 1 }),
  })).json(), admin);
  const short = { accessKeyId: shortLived.AccessKeyId, secretAccessKey: shortLived.SecretAccessKey, sessionToken: shortLived.SessionToken };
  const expired = await waitFor(async () => {
    try {
      await api(short).call('DescribeFleets', {});
      return null;
    } catch (err) {
      return err;
    }
  }, { timeout: 10000, interval: 200, what: 'the one-second credentials to expire' });
  assert.equal(expired.code, 'ExpiredTokenException');
});

test('an administrator imports an OCI archive from the console and sees why a bad one is refused', { timeout: 120000 }, async (t) => {
  const { server, browser } = await serveTest(t);
  const admin = readCredentials(join(server.dataDir, 'credentials'));
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.endpoint}/console`);
  await page.getByLabel('Access key ID').fill(admin.accessKeyId);
  await page.getByLabel('Secret access key').fill(admin.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Images' }).click();
  await row(page, 'image', DEFAULT_NAME).waitFor();

  const status = page.locator('[data-import-status]');
  const importThrough = async (name, archive) => {
    await page.getByLabel('Image name').fill(name);
    await page.getByLabel('OCI archive').setInputFiles(archive);
    await page.getByRole('button', { name: 'Import image' }).click();
  };
  await importThrough('console-image', archiveOf(probeImage().layout));
  await status.filter({ hasText: 'Imported console-image: AVAILABLE; applications: Probe.' }).waitFor({ timeout: 60000 });
  // The list refreshes with it.
  await page.waitForFunction(() => document.querySelector('tr[data-image="console-image"] .state')?.textContent === 'AVAILABLE',
    null, { timeout: 10000, polling: 100 });
  await assertAccessible(page, 'the images section');
  const { Images: [image] } = await server.admin.call('DescribeImages', { Names: ['console-image'] });
  assert.deepEqual(image.Applications.map((a) => a.LaunchPath), ['/usr/bin/probe']);

  // A catalog naming a program the image lacks: refused, the reason shown as the server gave it.
  const bad = archiveOf(probeImage([{ name: 'ghost', launch_path: '/usr/bin/not-there' }]).layout);
  await importThrough('ghost-image', bad);
  const alert = page.getByRole('alert').filter({ hasText: 'not an executable file' });
  await alert.waitFor({ timeout: 60000 });
  await status.filter({ hasText: 'Not imported.' }).waitFor();
  // The same module signing in Node gets the same answer for the same archive.
  const refused = await importImage({ endpoint: server.endpoint, credentials: admin, region: REGION, name: 'ghost-image', archive: readFileSync(bad) })
    .then(() => assert.fail('the bad archive was imported'), (err) => err);
  assert.match(refused.message, /^InvalidParameterValueException: The image cannot be imported: .*launch path \/usr\/bin\/not-there is not an executable file in the image/);
  assert.equal(await alert.textContent(), refused.message);
  const { Images } = await server.admin.call('DescribeImages', {});
  assert.deepEqual(Images.map((i) => i.Name).sort(), ['console-image', DEFAULT_NAME]);
});
