// Persistent home folders and My Files end to end: what an app saves in
// ~/MyFiles/HomeFolder is on the server's disk at once, survives a killed instance and a
// killed server, and is there in the user's next session; the toolbar's My Files panel
// browses, uploads (byte-identical, 200 MB) and downloads; nothing leads outside a
// folder or into another user's; the stack's settings and the quota are enforced.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor, openClient, focusApp, untilPage, makeTmp, launchBrowser } from './harness.mjs';
import {
  serveTest, startServe, stopServe, streamingUrl, appIn, fleetOf, metrics, createFleetAndStack, DEFAULT_NAME,
} from './serve-harness.mjs';

const TIMEOUT = 240000;
/** The on-disk owner of home folder files (porthole-sandbox's FOLDER_OWNER). */
const FOLDER_OWNER = 199999;
const HOME = '~/MyFiles/HomeFolder';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

async function fileSha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** A user's home folder on the server: AppStream's key under the data dir. */
const folderOf = (server, userId, kind = 'custom') => join(server.dataDir, 'home-folders', 'user', kind, sha256(userId));

const fileText = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : null);

/** A session of `userId` streaming xterm (on the default stack), the keyboard on it. */
async function xtermSession(browser, server, userId, stack = DEFAULT_NAME) {
  const url = await streamingUrl(server, { userId, applicationId: 'xterm', stack, fleet: stack });
  const page = await openClient(browser, url);
  await untilPage(page, () => window.porthole.windows.some((w) => /xterm/i.test(w.title)), 'the xterm window');
  await focusApp(page);
  return { page, url };
}

/** Types a shell command into the focused xterm. */
async function run(page, command) {
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** Waits until the host file has `expected` as its text. */
const waitText = (path, expected, what) => waitFor(() => fileText(path) === expected, {
  timeout: 30000, what: `${what} (${path} holds ${JSON.stringify(fileText(path))})`,
});

/** My Files' HTTP API, called from the page (its own origin and token). */
const filesApi = (page, method, route, folder, path, body) => page.evaluate(async ([m, r, f, p, b]) => {
  const url = new URL(r, location.href);
  url.searchParams.set('folder', f);
  url.searchParams.set('path', p);
  const res = await fetch(url, { method: m, body: b ?? undefined });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a download */ }
  return { status: res.status, json, text };
}, [method, route, folder, path, body ?? null]);

/** Opens My Files and waits for its listing. */
async function openPanel(page) {
  await untilPage(page, () => !document.getElementById('btn-files').hidden, 'the My Files button');
  const before = await page.evaluate(() => window.porthole.files.listings);
  await page.hover('#toolbar-handle');
  await page.click('#btn-files');
  await untilPage(page, (n) => window.porthole.files.listings > n && !document.getElementById('files').hidden, 'the panel\'s listing', before);
}

const listed = (page) => page.evaluate(() => window.porthole.files.entries.map((e) => e.name));

/** Ends the session through its page (the toolbar's End session) and waits until it is gone. */
async function endSession(server, page, userId) {
  await page.evaluate(() => fetch(new URL('end', location.href), { method: 'POST' }));
  await waitFor(async () => {
    const { Sessions } = await server.admin.call('DescribeSessions', { StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME, UserId: userId });
    return Sessions.length === 0;
  }, { timeout: 30000, what: `${userId}'s session to end` });
  await page.context().close();
}

/** Waits until the fleet (the default one) has `n` free instances. */
const waitAvailable = (server, n = 1, fleet = DEFAULT_NAME) => waitFor(async () => (await fleetOf(server, fleet)).ComputeCapacityStatus.Available >= n, {
  timeout: 60000, what: `${n} available instance(s) of ${fleet}`,
});

/** s3s-fs, a real S3 server on the filesystem (scripts/install-deps.sh installs it). */
const S3S_FS = process.env.PORTHOLE_S3S_FS ?? join(process.env.PORTHOLE_TEST_TOOLS ?? '/var/tmp/porthole-tools', 'bin', 's3s-fs');

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts s3s-fs on `root` and `port`; resolves once it accepts connections. */
async function startS3(root, port) {
  const proc = spawn(S3S_FS, ['--host', '127.0.0.1', '--port', String(port), '--access-key', 'porthole-test', '--secret-key', 'porthole-test-secret', root],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (c) => { log += c; });
  proc.exited = new Promise((resolve) => proc.on('exit', resolve));
  await waitFor(() => new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), { timeout: 20000, what: `s3s-fs to listen (${log})` });
  return proc;
}

describe('home folders and My Files', { concurrency: 2 }, () => {
  test('a file saved from xterm is on disk at once, survives a killed instance, and is in the next session; My Files lists, uploads and downloads it', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const folder = folderOf(server, 'alice');
    const first = await xtermSession(browser, server, 'alice');
    await run(first.page, `echo saved-in-session-1 > ${HOME}/note.txt`);
    await waitText(join(folder, 'note.txt'), 'saved-in-session-1\n', 'the saved file on the server');
    const onDisk = statSync(join(folder, 'note.txt'));
    assert.equal(onDisk.uid, FOLDER_OWNER, 'stored under the folder owner, not the instance uid');
    assert.equal(statSync(folder).mode & 0o777, 0o700);

    // The instance dies without warning: what was saved stays.
    const { instance } = await appIn(server, 'xterm');
    for (const p of instance.procs) {
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone already */ }
    }
    await waitFor(async () => (await server.admin.call('DescribeSessions', { StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME, UserId: 'alice' })).Sessions.length === 0,
      { timeout: 30000, what: 'the killed session to end' });
    await first.page.context().close();
    assert.equal(fileText(join(folder, 'note.txt')), 'saved-in-session-1\n');

    // The next session, on a fresh instance with a fresh uid, reads it back.
    await waitAvailable(server);
    const second = await xtermSession(browser, server, 'alice');
    await run(second.page, `cat ${HOME}/note.txt > ${HOME}/readback.txt; id -u > ${HOME}/uid.txt; stat -c %u ${HOME}/note.txt > ${HOME}/owner.txt`);
    await waitText(join(folder, 'readback.txt'), 'saved-in-session-1\n', 'the next session reading the file');
    await waitFor(() => fileText(join(folder, 'owner.txt')), { what: 'the owner seen inside' });
    const { instance: next } = await appIn(server, 'xterm');
    assert.notEqual(next.uid, instance.uid, 'a fresh uid');
    assert.equal(fileText(join(folder, 'uid.txt')).trim(), String(next.uid));
    assert.equal(fileText(join(folder, 'owner.txt')).trim(), String(next.uid), 'inside, the files are the user\'s own');

    // My Files: the folder as the panel shows it.
    await openPanel(second.page);
    assert.deepEqual((await listed(second.page)).filter((n) => n === 'note.txt'), ['note.txt']);
    assert.deepEqual(await second.page.evaluate(() => window.porthole.files.folders), ['home', 'temporary']);

    // Upload through the file picker: on disk, the folder owner's, and the app sees it.
    const tmp = makeTmp('porthole-files-');
    writeFileSync(join(tmp, 'from-browser.txt'), 'uploaded by the browser\n');
    await second.page.setInputFiles('#files-picker', join(tmp, 'from-browser.txt'));
    await untilPage(second.page, () => window.porthole.files.uploads.some((u) => u.done), 'the upload to finish');
    assert.equal(fileText(join(folder, 'from-browser.txt')), 'uploaded by the browser\n');
    assert.equal(statSync(join(folder, 'from-browser.txt')).uid, FOLDER_OWNER);
    await untilPage(second.page, () => window.porthole.files.entries.some((e) => e.name === 'from-browser.txt'), 'the upload listed');

    // Download: the browser's own download, byte for byte.
    const [download] = await Promise.all([
      second.page.waitForEvent('download'),
      second.page.click('a[aria-label="Download note.txt"]'),
    ]);
    assert.equal(download.suggestedFilename(), 'note.txt');
    assert.equal(readFileSync(await download.path(), 'utf8'), 'saved-in-session-1\n');

    // New folder, and a delete that takes the folder with it.
    const made = await filesApi(second.page, 'POST', 'files/directory', 'home', 'docs');
    assert.equal(made.status, 201, made.text);
    assert.equal(statSync(join(folder, 'docs')).uid, FOLDER_OWNER);
    assert.equal((await filesApi(second.page, 'PUT', 'files/content', 'home', 'docs/a.txt', 'a')).status, 201);
    assert.equal((await filesApi(second.page, 'DELETE', 'files/content', 'home', 'docs')).status, 204);
    assert.ok(!existsSync(join(folder, 'docs')));

    // The app sees the upload; the temporary folder is the instance's ~/MyFiles/TemporaryFiles.
    await second.page.click('#files-close');
    await focusApp(second.page);
    await run(second.page, `cat ${HOME}/from-browser.txt > ${HOME}/seen-inside.txt; echo scratch > ~/MyFiles/TemporaryFiles/scratch.txt`);
    await waitText(join(folder, 'seen-inside.txt'), 'uploaded by the browser\n', 'the app reading the upload');
    await waitFor(async () => (await filesApi(second.page, 'GET', 'files', 'temporary', '')).json?.entries?.some((e) => e.name === 'scratch.txt'),
      { timeout: 20000, what: 'the temporary file listed' });
    const scratch = await filesApi(second.page, 'GET', 'files/content', 'temporary', 'scratch.txt');
    assert.equal(scratch.text, 'scratch\n');
  });

  test('nothing leads outside the folder: "..", links the user made, other users\' folders, and the stack\'s settings hold', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await server.admin.call('UpdateFleet', { Name: DEFAULT_NAME, ComputeCapacity: { DesiredInstances: 2 } });
    await waitAvailable(server, 2);
    const alice = await xtermSession(browser, server, 'alice');
    const aliceFolder = folderOf(server, 'alice');
    await run(alice.page, `echo alice-secret > ${HOME}/secret.txt; ln -s /etc/shadow ${HOME}/shadow; ln -s / ${HOME}/root; echo linked > ${HOME}/linked`);
    await waitText(join(aliceFolder, 'linked'), 'linked\n', 'alice\'s files');

    for (const path of ['../../etc/passwd', '..', 'a/../../b', '/../etc/passwd']) {
      for (const [method, route] of [['GET', 'files/content'], ['PUT', 'files/content'], ['DELETE', 'files/content'], ['GET', 'files']]) {
        const res = await filesApi(alice.page, method, route, 'home', path, method === 'PUT' ? 'x' : null);
        assert.equal(res.status, 400, `${method} ${route} ${path}: ${res.text}`);
        assert.match(res.json.message, /leaves its folder|invalid/);
      }
    }
    const shadow = await filesApi(alice.page, 'GET', 'files/content', 'home', 'shadow');
    assert.equal(shadow.status, 403, shadow.text);
    assert.doesNotMatch(shadow.text, /root:/);
    const throughLink = await filesApi(alice.page, 'GET', 'files/content', 'home', 'root/etc/passwd');
    assert.equal(throughLink.status, 403, throughLink.text);
    const up = await filesApi(alice.page, 'PUT', 'files/content', 'home', 'root/tmp/planted', 'x');
    assert.equal(up.status, 403, up.text);
    assert.ok(!existsSync('/tmp/planted'));
    const listing = await filesApi(alice.page, 'GET', 'files', 'home', '');
    assert.deepEqual(listing.json.entries.map((e) => e.name).sort(), ['linked', 'secret.txt'], 'links are not listed');
    // Deleting a link removes the link only.
    assert.equal((await filesApi(alice.page, 'DELETE', 'files/content', 'home', 'root')).status, 204);
    assert.ok(existsSync('/etc/passwd'));

    // Bob, at the same time on the other instance: his folder is his own and empty, and
    // from inside his sandbox the server's data (alice's folder) and the runtime root
    // (the other instance's mount point) are not there.
    const bob = await xtermSession(browser, server, 'bob');
    const bobFolder = folderOf(server, 'bob');
    assert.deepEqual((await filesApi(bob.page, 'GET', 'files', 'home', '')).json.entries, []);
    await run(bob.page, `(echo data=$(ls -A ${server.dataDir} 2>&1); echo run=$(ls -A /run/porthole); echo secret=$(cat ${join(aliceFolder, 'secret.txt')} 2>&1); echo mounts=$(grep HomeFolder /proc/self/mountinfo | cut -d' ' -f4)) > ${HOME}/probe`);
    await waitFor(() => fileText(join(bobFolder, 'probe'))?.includes('mounts='), { timeout: 30000, what: 'bob\'s probe' });
    const probe = Object.fromEntries(fileText(join(bobFolder, 'probe')).trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    assert.doesNotMatch(probe.data, /home-folders/, 'the data dir is not visible inside');
    assert.equal(probe.run, 'TemporaryFiles agent.sock', 'only its own runtime dir');
    assert.doesNotMatch(probe.secret, /alice-secret/);
    assert.match(probe.mounts, new RegExp(sha256('bob')), 'his own folder is mounted');
    assert.doesNotMatch(probe.mounts, new RegExp(sha256('alice')), 'alice\'s is not');

    // The stack's settings: uploads and downloads off, for the sessions already running too.
    await server.admin.call('UpdateStack', {
      Name: DEFAULT_NAME,
      UserSettings: [{ Action: 'FILE_UPLOAD', Permission: 'DISABLED' }, { Action: 'FILE_DOWNLOAD', Permission: 'DISABLED' }],
    });
    const refusedUp = await filesApi(alice.page, 'PUT', 'files/content', 'home', 'new.txt', 'x');
    assert.equal(refusedUp.status, 403);
    assert.match(refusedUp.json.message, /upload is disabled/);
    const refusedDown = await filesApi(alice.page, 'GET', 'files/content', 'home', 'secret.txt');
    assert.equal(refusedDown.status, 403);
    assert.match(refusedDown.json.message, /download is disabled/);
    await openPanel(alice.page);
    assert.ok(await alice.page.$eval('#files-upload', (b) => b.disabled), 'the upload button is off');
    assert.equal(await alice.page.$('a[aria-label="Download secret.txt"]'), null, 'no download links');
    // The URL's token does not reach a session that has ended.
    await endSession(server, bob.page, 'bob');
    const after = await fetch(new URL(`files?folder=home&path=`, bob.url));
    assert.equal(after.status, 409);
  });

  test('two sessions of one user on two stacks share the folder live, and neither write is lost', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await createFleetAndStack(server, 'second', { FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: 1 } });
    await server.admin.call('UpdateStack', { Name: 'second', StorageConnectors: [{ ConnectorType: 'HOMEFOLDERS' }] });
    await waitAvailable(server, 1, 'second');
    const folder = folderOf(server, 'gina');
    const one = await xtermSession(browser, server, 'gina');
    const two = await xtermSession(browser, server, 'gina', 'second');
    const sessions = await Promise.all([DEFAULT_NAME, 'second'].map(async (stack) => (await server.admin.call('DescribeSessions', { StackName: stack, FleetName: stack, UserId: 'gina' })).Sessions));
    assert.deepEqual(sessions.map((s) => s.length), [1, 1], 'one session per stack');
    // The rule: one folder, seen live by both; appends from both land, in order of arrival.
    await run(one.page, `echo from-one >> ${HOME}/shared.log`);
    await waitText(join(folder, 'shared.log'), 'from-one\n', 'the first session\'s line');
    await focusApp(two.page);
    await run(two.page, `cat ${HOME}/shared.log > ${HOME}/seen-by-two.txt; echo from-two >> ${HOME}/shared.log`);
    await waitText(join(folder, 'seen-by-two.txt'), 'from-one\n', 'the second session seeing the first\'s write at once');
    await waitText(join(folder, 'shared.log'), 'from-one\nfrom-two\n', 'both writes kept');
    const uids = await Promise.all([one, two].map(async ({ page }, i) => {
      await focusApp(page);
      await run(page, `stat -c %u ${HOME}/shared.log > ${HOME}/owner-${i}.txt; id -u >> ${HOME}/owner-${i}.txt`);
      await waitFor(() => fileText(join(folder, `owner-${i}.txt`))?.split('\n').length === 3, { what: `session ${i}'s ids` });
      const [owner, self] = fileText(join(folder, `owner-${i}.txt`)).trim().split('\n');
      assert.equal(owner, self, `session ${i} sees the file as its own`);
      return self;
    }));
    assert.notEqual(uids[0], uids[1], 'two instances, two uids, one folder');
    assert.equal(statSync(join(folder, 'shared.log')).uid, FOLDER_OWNER);
  });

  test('a 200 MB upload and download through the panel are byte-identical; a cut upload leaves nothing behind', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const folder = folderOf(server, 'carol');
    const { page, url } = await xtermSession(browser, server, 'carol');
    const tmp = makeTmp('porthole-files-big-');
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const big = join(tmp, 'big.bin');
    const block = randomBytes(1 << 20);
    writeFileSync(big, Buffer.concat(Array.from({ length: 200 }, (_, i) => Buffer.concat([Buffer.from([i]), block.subarray(1)]))));
    const expected = await fileSha256(big);

    await openPanel(page);
    await page.setInputFiles('#files-picker', big);
    await untilPage(page, () => window.porthole.files.uploads.some((u) => u.done || u.error), 'the 200 MB upload to end');
    assert.deepEqual(await page.evaluate(() => window.porthole.files.uploads.map((u) => u.error)), [null]);
    assert.equal(statSync(join(folder, 'big.bin')).size, 200 << 20);
    assert.equal(await fileSha256(join(folder, 'big.bin')), expected, 'uploaded byte for byte');
    await untilPage(page, () => window.porthole.files.entries.some((e) => e.name === 'big.bin'), 'big.bin listed');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('a[aria-label="Download big.bin"]'),
    ]);
    assert.equal(await fileSha256(await download.path()), expected, 'downloaded byte for byte');

    // An upload whose connection drops after 1 MB of 10: no file, no partial file.
    const target = new URL('files/content?folder=home&path=cut.bin', url);
    await new Promise((resolve) => {
      const req = request(target, { method: 'PUT', headers: { 'content-length': String(10 << 20) } });
      req.on('error', resolve);
      req.on('response', resolve);
      req.write(block, () => setTimeout(() => { req.destroy(); resolve(); }, 200));
    });
    await waitFor(() => readdirSync(folder).every((n) => !n.startsWith('.porthole-upload-')), { timeout: 10000, what: 'the partial upload to be removed' });
    assert.ok(!existsSync(join(folder, 'cut.bin')), 'a cut upload is no file');
  });

  test('the server killed mid-session loses nothing acknowledged, and the quota turns the folder read-only until files are deleted', { timeout: TIMEOUT }, async (t) => {
    const config = join(makeTmp('porthole-files-config-'), 'porthole.toml');
    writeFileSync(config, '[home_folders]\nquota_mib = 1\n');
    // By hand, not serveTest: the restarted server must stop before the first one's data goes.
    let restarted = null;
    const browser = await launchBrowser();
    const server = await startServe({ args: ['--config', config] });
    t.after(async () => {
      await browser.close();
      if (restarted) await stopServe(restarted).catch(() => {});
      await stopServe(server);
    });
    const folder = folderOf(server, 'dave');
    const first = await xtermSession(browser, server, 'dave');
    await run(first.page, `echo before-the-crash > ${HOME}/saved.txt`);
    await waitText(join(folder, 'saved.txt'), 'before-the-crash\n', 'the saved file');
    const uploaded = await filesApi(first.page, 'PUT', 'files/content', 'home', 'acknowledged.txt', 'acknowledged upload');
    assert.equal(uploaded.status, 201);

    // kill -9 the server; a new one on the same data dir finds everything.
    server.track();
    server.proc.kill('SIGKILL');
    await server.exited;
    await first.page.context().close();
    restarted = await startServe({ args: ['--config', config], dataDir: server.dataDir });
    await waitAvailable(restarted);
    assert.equal(fileText(join(folder, 'saved.txt')), 'before-the-crash\n');
    assert.equal(fileText(join(folder, 'acknowledged.txt')), 'acknowledged upload');
    const again = await xtermSession(browser, restarted, 'dave');
    await run(again.page, `cat ${HOME}/saved.txt ${HOME}/acknowledged.txt > ${HOME}/both.txt`);
    await waitText(join(folder, 'both.txt'), 'before-the-crash\nacknowledged upload', 'the new session reading both');

    // Past the 1 MiB quota: the session is told, the folder is read-only, uploads refused.
    await run(again.page, `head -c 1100000 /dev/zero > ${HOME}/big`);
    await untilPage(again.page, () => window.porthole.notices.some((n) => n.kind === 3), 'the home-folder-full notice');
    const notice = await again.page.evaluate(() => window.porthole.notices.find((n) => n.kind === 3).text);
    assert.match(notice, /home folder is full/);
    const refused = await filesApi(again.page, 'PUT', 'files/content', 'home', 'more.txt', 'more');
    assert.equal(refused.status, 413);
    assert.match(refused.json.message, /home folder is full/);
    await run(again.page, `touch ${HOME}/after-full 2> ~/MyFiles/TemporaryFiles/refused.txt`);
    await waitFor(async () => (await filesApi(again.page, 'GET', 'files/content', 'temporary', 'refused.txt')).text.includes('Read-only'),
      { timeout: 20000, what: 'the write to be refused inside' });
    assert.ok(!existsSync(join(folder, 'after-full')));

    // Deleting files makes room: writable again.
    assert.equal((await filesApi(again.page, 'DELETE', 'files/content', 'home', 'big')).status, 204);
    const listing = await filesApi(again.page, 'GET', 'files', 'home', '');
    assert.equal(listing.json.full, false);
    await run(again.page, `echo room-again > ${HOME}/after.txt`);
    await waitText(join(folder, 'after.txt'), 'room-again\n', 'a write after making room');
  });

  test('on S3 (a real s3s-fs): saved files reach the bucket, a failed push is counted and retried, and a host without a copy pulls the folder back', { timeout: TIMEOUT }, async (t) => {
    const root = makeTmp('porthole-s3-');
    mkdirSync(join(root, 'homes'));
    const port = await freePort();
    let s3 = await startS3(root, port);
    t.after(async () => { s3.kill('SIGKILL'); await s3.exited; });
    const config = join(makeTmp('porthole-files-s3-config-'), 'porthole.toml');
    writeFileSync(config, [
      '[home_folders.s3]',
      'bucket = "homes"',
      `endpoint = "http://127.0.0.1:${port}"`,
      'access_key_id = "porthole-test"',
      'secret_access_key = "porthole-test-secret"',
      '',
    ].join('\n'));
    const { server, browser } = await serveTest(t, { args: ['--config', config] });
    const key = join('user', 'custom', sha256('erin'));
    const object = (name) => join(root, 'homes', key, name);
    const first = await xtermSession(browser, server, 'erin');
    await run(first.page, `mkdir -p ${HOME}/docs; echo to-the-bucket > ${HOME}/docs/note.txt`);
    await waitText(object('docs/note.txt'), 'to-the-bucket\n', 'the saved file in the bucket');
    // The object is in the bucket before the server has read the PUT's answer and counted it.
    await waitFor(async () => (await metrics(server)).porthole_home_folder_uploads_total >= 1,
      { timeout: 10000, what: 'the push to be counted' });

    // The bucket goes away: the push fails, is counted and logged, and retried until it is back.
    s3.kill('SIGKILL');
    await s3.exited;
    await run(first.page, `echo while-the-bucket-was-down > ${HOME}/later.txt`);
    await waitFor(async () => (await metrics(server)).porthole_home_folder_sync_failures_total >= 1,
      { timeout: 30000, what: 'a failed push to be counted' });
    assert.ok((await metrics(server)).porthole_home_folder_sync_pending >= 1);
    assert.match(server.tail(), /home folder sync to S3 failed, will retry/);
    assert.equal(fileText(join(folderOf(server, 'erin'), 'later.txt')), 'while-the-bucket-was-down\n', 'kept on disk meanwhile');
    s3 = await startS3(root, port);
    await waitText(object('later.txt'), 'while-the-bucket-was-down\n', 'the retried push');
    await waitFor(async () => (await metrics(server)).porthole_home_folder_sync_pending === 0, { timeout: 20000, what: 'nothing pending' });

    // A deletion reaches the bucket too; then the session ends.
    await run(first.page, `rm ${HOME}/docs/note.txt; echo kept > ${HOME}/docs/kept.txt`);
    await waitFor(() => !existsSync(object('docs/note.txt')) && existsSync(object('docs/kept.txt')), { timeout: 30000, what: 'the deletion in the bucket' });
    await endSession(server, first.page, 'erin');

    // Another host (here: this one with its copy gone) pulls the folder from the bucket.
    rmSync(folderOf(server, 'erin'), { recursive: true, force: true });
    rmSync(join(server.dataDir, 'home-folders', '.sync'), { recursive: true, force: true });
    await waitAvailable(server);
    const second = await xtermSession(browser, server, 'erin');
    await run(second.page, `cat ${HOME}/later.txt ${HOME}/docs/kept.txt > ${HOME}/both.txt; ls ${HOME}/docs > ${HOME}/docs-listing.txt`);
    await waitText(join(folderOf(server, 'erin'), 'both.txt'), 'while-the-bucket-was-down\nkept\n', 'the pulled files read in the new session');
    await waitText(join(folderOf(server, 'erin'), 'docs-listing.txt'), 'kept.txt\n', 'the pulled folder listed: the deleted file stayed deleted');
    assert.equal(statSync(join(folderOf(server, 'erin'), 'later.txt')).uid, FOLDER_OWNER);
    await waitText(object('both.txt'), 'while-the-bucket-was-down\nkept\n', 'the new file pushed');
  });
});
