// `porthole serve` end to end: the real server with real sandboxed instances, driven
// through its admin API (SigV4-signed awsJson1_1) and headless Chromium. Each test has
// its own server and data dir; teardown checks that SIGTERM took every sandbox down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  waitFor, openClient, waitStreaming, focusApp, environ, stillRunning, cmdline, clientDiag,
} from './harness.mjs';
import {
  serveTest, appIn, instances, liveProcs, describeSessions, fleetOf, streamingUrl,
  createFleetAndStack, metrics, namespaceOf, owner, procUid, FLEET_METRICS, DEFAULT_NAME,
  RUNTIME_ROOT,
} from './serve-harness.mjs';

const TIMEOUT = 120000;

/** Waits until the page's client was closed by the server, and returns why. */
async function closedWith(page, timeout = 20000) {
  try {
    await page.waitForFunction(() => window.porthole?.state === 'closed' && window.porthole.closeReason,
      null, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`the client was not closed: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`);
  }
  return page.evaluate(() => window.porthole.closeReason);
}

/** Waits for DescribeSessions to show exactly one session matching `pred`, returns it. */
async function oneSession(server, pred, what, filter = {}) {
  let seen = [];
  return waitFor(async () => {
    seen = await describeSessions(server, filter);
    return seen.length === 1 && pred(seen[0]) && seen[0];
  }, { timeout: 15000, interval: 200, what, diag: () => JSON.stringify(seen) });
}

/** Waits until the fleet has `n` instances available again, other than `oldId`. */
async function replaced(server, oldId, fleet = DEFAULT_NAME) {
  let status;
  await waitFor(async () => {
    status = (await fleetOf(server, fleet)).ComputeCapacityStatus;
    return status.Available === 1 && instances(server).some((i) => i.id !== oldId);
  }, { timeout: 30000, interval: 200, what: `a replacement instance for ${oldId}`, diag: () => JSON.stringify(status) });
}

/** The instance's processes are gone and its runtime directory was removed. */
async function destroyed(server, instance) {
  await waitFor(() => liveProcs(instance).length === 0 && !existsSync(`${RUNTIME_ROOT}/${instance.id}`), {
    timeout: 15000,
    what: `instance ${instance.id} to be destroyed`,
    diag: () => `left: ${liveProcs(instance).map((p) => `${p.pid} ${p.comm}`).join(', ')}; runtime dir ${existsSync(`${RUNTIME_ROOT}/${instance.id}`) ? 'present' : 'gone'}\n${server.tail()}`,
  });
}

/** Opens `url` and returns the page plus ms from navigation to the first painted frame. */
async function timedOpen(browser, url) {
  const start = Date.now();
  const page = await openClient(browser, url, { streaming: false });
  await waitStreaming(page, { timeout: 60000 });
  return { page, ms: Date.now() - start };
}

/**
 * Types `commands` into the xterm of `page` (one line each) and waits until the shell
 * wrote /tmp/e2e-done inside the sandbox; returns a reader for files in the sandbox's
 * /tmp, read from the host through /proc/PID/root (the sandbox's /tmp is private).
 */
async function runInXterm(page, xterm, commands) {
  const tmp = (name) => `/proc/${xterm.pid}/root/tmp/${name}`;
  await focusApp(page);
  for (const line of [...commands, 'echo done > /tmp/e2e-done']) {
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
  }
  await waitFor(() => existsSync(tmp('e2e-done')), { timeout: 30000, what: 'the commands typed into xterm to finish', diag: () => clientDiag(page) });
  return (name) => readFileSync(tmp(name), 'utf8');
}

describe('porthole serve', { concurrency: 2 }, () => {
  // First because it waits out a 60 s timeout: the other tests run beside it.
  test('a session ends DisconnectTimeoutInSeconds after the browser left, and its instance is replaced', { timeout: 180000 }, async (t) => {
    const { server, browser } = await serveTest(t);
    await server.admin.call('UpdateFleet', { Name: DEFAULT_NAME, DisconnectTimeoutInSeconds: 60 });
    const page = await openClient(browser, await streamingUrl(server, { userId: 'leaver', applicationId: 'xterm' }));
    const { instance } = await appIn(server, 'xterm');
    const session = await oneSession(server, (s) => s.ConnectionState === 'CONNECTED', 'a connected session');
    await page.context().close();
    const leftAt = Date.now();
    await waitFor(async () => (await describeSessions(server)).length === 0, {
      timeout: 100000, interval: 1000, what: `session ${session.Id} to end after the disconnect timeout`,
    });
    const after = (Date.now() - leftAt) / 1000;
    console.log(`disconnect timeout 60 s: the session ended ${after.toFixed(1)} s after the browser left`);
    assert.ok(after >= 59, `the session ended after ${after} s, before the 60 s disconnect timeout`);
    await destroyed(server, instance);
    await replaced(server, instance.id);
  });

  test('a newcomer streams xterm from the printed URL, with the session environment and no server secrets', { timeout: TIMEOUT }, async (t) => {
    const secret = randomBytes(20).toString('hex');
    const { server, browser } = await serveTest(t, { env: { PORTHOLE_ACCESS_KEY_ID: 'AKIDE2ETEST', PORTHOLE_SECRET_ACCESS_KEY: secret } });
    const page = await openClient(browser, server.openUrl);
    await page.waitForFunction(() => window.porthole.windows.some((w) => /xterm/i.test(w.title)), null, { timeout: 15000 })
      .catch(async (e) => { throw new Error(`no xterm window listed: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`); });
    assert.ok(await page.evaluate(() => window.porthole.stats.framesPainted) > 0);

    const { app: xterm, instance } = await appIn(server, 'xterm');
    const session = await oneSession(server, (s) => s.State === 'ACTIVE', 'the newcomer session');
    assert.equal(session.UserId, 'newcomer');
    const env = environ(xterm.pid);
    const expected = {
      AppStream_Stack_Name: DEFAULT_NAME,
      AppStream_UserName: 'newcomer',
      AppStream_Session_ID: session.Id,
      AppStream_Instance_Type: 'stream.standard.small',
      AppStream_Resource_Name: DEFAULT_NAME,
    };
    for (const [k, v] of Object.entries(expected)) assert.equal(env[k], v, `xterm's ${k}`);
    // Every process of the instance (bwrap, agent, Xorg, xterm), not just the app.
    for (const p of liveProcs(instance)) {
      const raw = readFileSync(`/proc/${p.pid}/environ`, 'utf8');
      assert.ok(!raw.includes(secret), `${p.comm} (${p.pid}) has the admin secret in its environment`);
      assert.ok(!/PORTHOLE_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)=/.test(raw), `${p.comm} (${p.pid}) has admin credential variables`);
    }
  });

  test('two sessions run in separate sandboxes: uids, PID and network namespaces, runtime dirs, files, X displays', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await server.admin.call('UpdateFleet', { Name: DEFAULT_NAME, ComputeCapacity: { DesiredInstances: 2 } });
    await waitFor(async () => (await fleetOf(server)).ComputeCapacityStatus.Available === 2, { timeout: 30000, interval: 200, what: 'two available instances' });
    const pageA = await openClient(browser, await streamingUrl(server, { userId: 'alice', applicationId: 'xterm' }));
    const a = await appIn(server, 'xterm');
    const pageB = await openClient(browser, await streamingUrl(server, { userId: 'bob', applicationId: 'xterm' }));
    const b = await appIn(server, 'xterm', { exclude: [a.instance.id] });

    for (const { instance } of [a, b]) {
      assert.ok(instance.uid >= 1000, `instance ${instance.id} runs as unprivileged uid ${instance.uid}`);
      for (const p of liveProcs(instance)) assert.equal(procUid(p.pid), instance.uid, `${p.comm} (${p.pid}) runs as its instance's uid`);
      assert.deepEqual(owner(`${RUNTIME_ROOT}/${instance.id}`), { uid: instance.uid, mode: 0o700 }, `runtime dir of ${instance.id}`);
    }
    assert.notEqual(a.instance.uid, b.instance.uid, 'the two instances have different uids');
    for (const kind of ['pid', 'net']) {
      const [nsA, nsB, host] = [namespaceOf(a.app.pid, kind), namespaceOf(b.app.pid, kind), namespaceOf(process.pid, kind)];
      assert.ok(nsA && nsB && host, `${kind} namespaces readable`);
      assert.equal(new Set([nsA, nsB, host]).size, 3, `${kind} namespaces of A (${nsA}), B (${nsB}) and the host (${host}) differ`);
    }
    const bSocket = `${RUNTIME_ROOT}/${b.instance.id}/agent.sock`;
    const connectAs = spawnSync('setpriv', [`--reuid=${a.instance.uid}`, `--regid=${a.instance.uid}`, '--clear-groups',
      '/usr/bin/python3', '-c', `import socket; socket.socket(socket.AF_UNIX).connect(${JSON.stringify(bSocket)})`], { encoding: 'utf8' });
    assert.notEqual(connectAs.status, 0, "A's uid connects to B's agent socket on the host");
    assert.match(connectAs.stderr, /PermissionError/, "A's uid is refused B's runtime dir");

    // B leaves a file in its /tmp; then, from inside A's sandbox, through its xterm.
    await runInXterm(pageB, b.app, ['echo secret-of-b > /tmp/b-secret']);
    const bSecretOnHost = `/proc/${b.app.pid}/root/tmp/b-secret`;
    assert.equal(readFileSync(bSecretOnHost, 'utf8').trim(), 'secret-of-b', "B's file exists (seen from the host)");
    const read = await runInXterm(pageA, a.app, [
      'cd /tmp',
      'ls -A /run/porthole > ls-run',
      "tr '\\0' ' ' < /proc/1/cmdline > init",
      "ls /proc | grep -c '^[0-9]' > nproc",
      `test -e /proc/${b.app.pid} && echo visible > b-proc || echo hidden > b-proc`,
      `python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("${bSocket}")' 2> b-sock; echo rc=$? >> b-sock`,
      'id -u > uid',
      'test -e /tmp/b-secret && echo visible > b-file || echo hidden > b-file',
      `cat ${bSecretOnHost} > b-file-by-proc 2>&1; echo rc=$? >> b-file-by-proc`,
      // Every X display's socket, filesystem or abstract: A's own has only the former.
      'ls /tmp/.X11-unix > x-sockets',
      `for d in 0 1 2 3; do python3 -c "import socket; socket.socket(socket.AF_UNIX).connect('\\0/tmp/.X11-unix/X$d')" 2>/dev/null && echo "X$d reachable"; done > x-abstract; echo checked >> x-abstract`,
      `python3 -c "import socket; socket.create_connection(('127.0.0.1', 6000), 2)" 2> x-tcp; echo rc=$? >> x-tcp`,
    ]);
    assert.equal(read('ls-run').trim(), 'TemporaryFiles\nagent.sock', 'A sees only its own runtime dir (agent socket, temporary files) in /run/porthole');
    assert.match(read('init'), /^bwrap /, "PID 1 in A's sandbox is its bwrap");
    assert.notEqual(read('init').trim(), cmdline(1).join(' '), "A's PID 1 is not the host's");
    const visible = Number(read('nproc'));
    assert.ok(visible <= liveProcs(a.instance).length + 4, `A sees ${visible} processes, about its own ${liveProcs(a.instance).length}`);
    assert.equal(read('b-proc').trim(), 'hidden', `B's xterm (host pid ${b.app.pid}) is not visible in A`);
    assert.match(read('b-sock'), /rc=[1-9]/, `connecting to B's agent socket from A fails: ${read('b-sock')}`);
    assert.equal(Number(read('uid')), a.instance.uid, "A's shell runs as A's uid");
    assert.equal(read('b-file').trim(), 'hidden', "B's /tmp file is not in A's /tmp");
    assert.match(read('b-file-by-proc'), /rc=[1-9]/, `B's file is unreachable from A through /proc: ${read('b-file-by-proc')}`);
    assert.equal(read('x-sockets').trim(), 'X0', "A's /tmp/.X11-unix holds only its own display");
    assert.equal(read('x-abstract').trim(), 'checked', `no abstract X socket is reachable from A: ${read('x-abstract')}`);
    assert.match(read('x-tcp'), /rc=[1-9]/, 'no X server over TCP from A');
    await waitStreaming(pageB);
  });

  test('a streaming URL with ApplicationId and SessionContext starts that app with the context', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await openClient(browser, await streamingUrl(server, { userId: 'ctx', applicationId: 'xterm', sessionContext: 'hello' }));
    const { app } = await appIn(server, 'xterm');
    const env = environ(app.pid);
    assert.equal(env.APPSTREAM_SESSION_CONTEXT, 'hello');
    assert.equal(env.AppStream_UserName, 'ctx');
  });

  test('expired and tampered streaming URLs are refused with a clear page', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const short = await streamingUrl(server, { userId: 'late', validity: 1 });
    // HEAD: checking the URL opens no session (a GET starts one for the page).
    await waitFor(async () => (await fetch(short, { method: 'HEAD' })).status === 403, { timeout: 5000, interval: 100, what: 'the 1 s URL to expire' });
    const expired = await openClient(browser, short, { streaming: false });
    assert.equal(expired.gotoResponse.status(), 403);
    assert.match(await expired.textContent('body'), /expired/);

    const good = await streamingUrl(server, { userId: 'mallory' });
    const token = new URL(good).pathname.split('/')[2];
    const i = Math.floor(token.length / 2);
    const tamperedToken = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    const tampered = await openClient(browser, good.replace(token, tamperedToken), { streaming: false });
    assert.equal(tampered.gotoResponse.status(), 403);
    assert.match(await tampered.textContent('body'), /not valid/);

    // The WebSocket refuses them too, saying why.
    const reasons = await tampered.evaluate((paths) => Promise.all(paths.map((p) => new Promise((resolve) => {
      const ws = new WebSocket(new URL(p, location.href).href.replace(/^http/, 'ws'));
      ws.onclose = (e) => resolve(e.reason);
    }))), [`/session/${tamperedToken}/ws`, `${new URL(short).pathname}ws`]);
    assert.match(reasons[0], /not valid/);
    assert.match(reasons[1], /expired/);
    assert.deepEqual(await describeSessions(server), [], 'no session was opened');
  });

  test('reloading resumes the same session; closing the page makes it NOT_CONNECTED', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const page = await openClient(browser, await streamingUrl(server, { userId: 'reloader', applicationId: 'xterm' }));
    const { app } = await appIn(server, 'xterm');
    const first = await oneSession(server, (s) => s.ConnectionState === 'CONNECTED', 'a connected session');
    await page.reload();
    await waitStreaming(page);
    const again = await oneSession(server, (s) => s.ConnectionState === 'CONNECTED', 'the session connected again');
    assert.equal(again.Id, first.Id);
    assert.equal(again.State, 'ACTIVE');
    assert.ok(stillRunning(app), 'the xterm from before the reload still runs');
    assert.equal((await appIn(server, 'xterm')).app.pid, app.pid, 'the page streams the same xterm');
    await page.context().close();
    const left = await oneSession(server, (s) => s.ConnectionState === 'NOT_CONNECTED', 'the session to be NOT_CONNECTED');
    assert.equal(left.Id, first.Id);
    assert.equal(left.State, 'ACTIVE');
  });

  test('ExpireSession ends the session, tells the browser, destroys and replaces the instance', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const page = await openClient(browser, await streamingUrl(server, { userId: 'expiree', applicationId: 'xterm' }));
    const { instance } = await appIn(server, 'xterm');
    const session = await oneSession(server, (s) => s.State === 'ACTIVE', 'an active session');
    await server.admin.call('ExpireSession', { SessionId: session.Id });
    const reason = await closedWith(page);
    assert.ok(reason.length > 0);
    console.log(`ExpireSession: the browser was told "${reason}"`);
    await waitFor(async () => (await describeSessions(server)).length === 0, { timeout: 10000, interval: 200, what: 'the session to leave DescribeSessions' });
    await destroyed(server, instance);
    await replaced(server, instance.id);
  });

  test('End session in the toolbar ends the session as the user, and its instance is replaced', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const url = await streamingUrl(server, { userId: 'leaver', applicationId: 'xterm' });
    const page = await openClient(browser, url);
    const { instance } = await appIn(server, 'xterm');
    await page.waitForSelector('#btn-end:not([hidden])', { timeout: 10000 });
    // Declining the confirmation changes nothing.
    page.once('dialog', (d) => d.dismiss());
    await page.click('#btn-end');
    assert.deepEqual((await describeSessions(server)).map((s) => s.UserId), ['leaver']);
    page.once('dialog', (d) => d.accept());
    await page.click('#btn-end');
    assert.match(await closedWith(page), /you ended the session/);
    await waitFor(async () => (await describeSessions(server)).length === 0, { timeout: 10000, interval: 200, what: 'the session to leave DescribeSessions' });
    await destroyed(server, instance);
    await replaced(server, instance.id);
    // The URL's holder only: another token, or none, cannot end anything.
    const other = await fetch(new URL('end', url.replace(/\/session\/[^/]+\//, '/session/not-a-token/')), { method: 'POST' });
    assert.equal(other.status, 403);
  });

  test('with no capacity left a second user is refused and InsufficientCapacityError counts it', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await openClient(browser, await streamingUrl(server, { userId: 'first', applicationId: 'xterm' }));
    const refused = await openClient(browser, await streamingUrl(server, { userId: 'second', applicationId: 'xterm' }), { streaming: false });
    assert.match(await closedWith(refused), /capacity/i);
    const m = await metrics(server);
    const series = (name) => m[`appstream_${name}{fleet="${DEFAULT_NAME}"}`];
    for (const name of FLEET_METRICS) assert.equal(typeof series(name), 'number', `/metrics has ${name} for the fleet`);
    assert.ok(series('InsufficientCapacityError') >= 1, `InsufficientCapacityError ${series('InsufficientCapacityError')}`);
    assert.equal(series('InUseCapacity'), 1);
    assert.equal(series('AvailableCapacity'), 0);
    assert.equal(series('CapacityUtilization'), 100);
    const sessions = await describeSessions(server);
    assert.deepEqual(sessions.map((s) => s.UserId), ['first'], 'only the first user has a session');
  });

  test('an ELASTIC fleet creates an instance per session on demand (cold start time printed)', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const warm = await timedOpen(browser, server.openUrl);
    const { instance: warmInstance } = await appIn(server, 'xterm');
    await createFleetAndStack(server, 'elastic', { FleetType: 'ELASTIC', MaxConcurrentSessions: 2 });
    assert.deepEqual(instances(server).map((i) => i.id), [warmInstance.id], 'the ELASTIC fleet starts no instance before a session');
    const url = await streamingUrl(server, { stack: 'elastic', fleet: 'elastic', userId: 'cold', applicationId: 'xterm' });
    const cold = await timedOpen(browser, url);
    const { app: coldApp, instance } = await appIn(server, 'xterm', { exclude: [warmInstance.id] });
    const session = await oneSession(server, (s) => s.State === 'ACTIVE', 'the elastic session', { stack: 'elastic', fleet: 'elastic' });
    assert.equal(session.UserId, 'cold');
    assert.equal(environ(coldApp.pid).AppStream_Resource_Name, 'elastic');
    console.log(`page open -> first painted frame: ALWAYS_ON (warm instance) ${warm.ms} ms, ELASTIC (cold start, instance ${instance.id}) ${cold.ms} ms`);
    await waitStreaming(cold.page);
  });
});
