// Session timeouts in real time, with the warnings that come before them (AppStream:
// users are notified before an idle disconnect, and prompted to save their work five
// minutes before MaxUserDurationInSeconds). One server for the file; the tests run
// concurrently, so the file takes about as long as its longest test (the 600 s
// maximum duration, AppStream's minimum) and runs beside the other test files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, launchBrowser, openClient, focusApp, stillRunning, clientDiag } from './harness.mjs';
import {
  startServe, stopServe, createFleetAndStack, describeSessions, streamingUrl, fleetOf, instances,
  liveProcs,
} from './serve-harness.mjs';

// web/protocol.js NoticeKind.
const SESSION_ENDING = 0;
const IDLE_DISCONNECT = 1;
const DISCONNECTED = 2;

let server;
let browser;

/** Waits for the user's one session in `fleet` (stack of the same name) to match `pred`. */
async function sessionOf(fleet, userId, pred, what, { timeout = 15000, interval = 250 } = {}) {
  let seen = [];
  return waitFor(async () => {
    seen = await describeSessions(server, { stack: fleet, fleet, userId });
    return seen.length === 1 && pred(seen[0]) && seen[0];
  }, { timeout, interval, what, diag: () => JSON.stringify(seen) });
}

/** The xterm process running in the instance `instanceId`. */
async function xtermIn(instanceId) {
  return waitFor(() => {
    const inst = instances(server).find((i) => i.id === instanceId);
    const app = inst?.procs.find((p) => p.comm === 'xterm');
    if (app) server.instanceIds.add(inst.id);
    return app && { app, instance: inst };
  }, { timeout: 30000, what: `xterm in instance ${instanceId}`, diag: server.tail });
}

/** Waits (polling every `polling` ms) for the page's first warning; returns it and when it came (ms since the epoch). */
async function firstNotice(page, { timeout, polling }) {
  try {
    await page.waitForFunction(() => window.porthole.notices.length > 0, null, { timeout, polling });
  } catch (e) {
    throw new Error(`no notice came: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`);
  }
  const notice = await page.evaluate(() => window.porthole.notices[0]);
  return { ...notice, receivedAt: notice.deadline - notice.seconds_left * 1000 };
}

/** Waits for the server to close the page's client; returns why and when it was seen closed. */
async function closed(page, { timeout, polling }) {
  try {
    await page.waitForFunction(() => window.porthole.state === 'closed', null, { timeout, polling });
  } catch (e) {
    throw new Error(`the client was not closed: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`);
  }
  return { at: Date.now(), reason: await page.evaluate(() => window.porthole.closeReason) };
}

describe('session timeouts in real time', { concurrency: true }, () => {
  before(async () => {
    browser = await launchBrowser();
    server = await startServe();
    await createFleetAndStack(server, 'idle', { FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: 2 } });
    // AppStream's minimum; set on the running fleet, as an administrator would.
    await server.admin.call('UpdateFleet', { Name: 'idle', IdleDisconnectTimeoutInSeconds: 60 });
    await createFleetAndStack(server, 'maxdur', {
      FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: 1 }, MaxUserDurationInSeconds: 600,
    });
  }, { timeout: 180000 });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      if (server) await stopServe(server);
    }
  });

  test('an idle browser is warned, disconnected for inactivity at 60 s, and resumes the same session', { timeout: 240000 }, async () => {
    const url = await streamingUrl(server, { stack: 'idle', fleet: 'idle', userId: 'idler', applicationId: 'xterm' });
    const page = await openClient(browser, url);
    const session = await sessionOf('idle', 'idler', (s) => s.ConnectionState === 'CONNECTED', 'the idler connected');
    const { app: xterm } = await xtermIn(session.InstanceId);
    // The last input, at a known time (taken before, so "after the last input" is not flattered).
    const lastInput = Date.now();
    await focusApp(page);

    const notice = await firstNotice(page, { timeout: 60000, polling: 200 });
    const warnedAfter = (notice.receivedAt - lastInput) / 1000;
    console.log(`idle timeout 60 s: warned ${warnedAfter.toFixed(1)} s after the last input, "${notice.text}" (${notice.seconds_left} s left)`);
    assert.equal(notice.kind, IDLE_DISCONNECT);
    assert.match(notice.text, /inactivity/);
    // Warned half the timeout (30 s) before; the server ticks once a second.
    assert.ok(notice.seconds_left >= 28 && notice.seconds_left <= 30, `seconds left ${notice.seconds_left}`);
    assert.ok(warnedAfter >= 28 && warnedAfter <= 33, `warned ${warnedAfter} s after the last input`);
    assert.ok(await page.locator('#notice').isVisible(), 'the warning banner shows');

    const { at, reason } = await closed(page, { timeout: 45000, polling: 200 });
    const idleFor = (at - lastInput) / 1000;
    console.log(`idle timeout 60 s: disconnected ${idleFor.toFixed(1)} s after the last input: "${reason}"`);
    assert.ok(idleFor >= 59, `disconnected after ${idleFor} s, before the 60 s idle timeout`);
    assert.ok(idleFor <= 65, `disconnected only after ${idleFor} s`);
    assert.match(reason, /inactivity/);
    // Told that the session goes on, and for how long: the disconnect timeout.
    const { DisconnectTimeoutInSeconds } = (await server.admin.call('DescribeFleets', { Names: ['idle'] })).Fleets[0];
    const resume = (await page.evaluate(() => window.porthole.notices)).at(-1);
    assert.equal(resume.kind, DISCONNECTED, `the last notice says the session can be resumed: ${JSON.stringify(resume)}`);
    assert.ok(resume.seconds_left <= DisconnectTimeoutInSeconds && resume.seconds_left >= DisconnectTimeoutInSeconds - 2,
      `${resume.seconds_left} s left to resume, DisconnectTimeoutInSeconds ${DisconnectTimeoutInSeconds}`);
    assert.equal(await page.locator('#overlay-title').textContent(), 'Disconnected', 'not "Session closed": the session goes on');
    assert.match(await page.locator('#notice').textContent(), /Reconnect/, 'the banner counts down the time left to resume');

    // AppStream: the session stays, and the disconnect timeout begins.
    const left = await sessionOf('idle', 'idler', (s) => s.ConnectionState === 'NOT_CONNECTED', 'the idler NOT_CONNECTED');
    assert.equal(left.Id, session.Id);
    assert.equal(left.State, 'ACTIVE');

    // Reopening the same URL within the disconnect timeout resumes the same session.
    await page.context().close();
    const again = await openClient(browser, url);
    const resumed = await sessionOf('idle', 'idler', (s) => s.ConnectionState === 'CONNECTED', 'the idler connected again');
    assert.equal(resumed.Id, session.Id, 'the same session');
    assert.equal(resumed.InstanceId, session.InstanceId, 'on the same instance');
    assert.ok(stillRunning(xterm), 'the xterm from before the disconnect still runs');
    assert.equal((await xtermIn(session.InstanceId)).app.pid, xterm.pid, 'the same xterm');
    await again.waitForFunction(() => window.porthole.windows.some((w) => /xterm/i.test(w.title)), null, { timeout: 15000 });
    assert.deepEqual(await again.evaluate(() => window.porthole.notices), [], 'no stale idle warning on the resumed page');
  });

  test('input every 20 s keeps a session from idling out for 100 s', { timeout: 240000 }, async () => {
    const url = await streamingUrl(server, { stack: 'idle', fleet: 'idle', userId: 'typer', applicationId: 'xterm' });
    const page = await openClient(browser, url);
    const session = await sessionOf('idle', 'typer', (s) => s.ConnectionState === 'CONNECTED', 'the typer connected');
    await xtermIn(session.InstanceId);
    await focusApp(page);
    const start = Date.now();
    // The cadence is the behaviour under test: 20 s apart, each well inside the 30 s
    // after which the warning would come, for longer than the 60 s timeout.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 20000));
      await page.keyboard.type('x');
    }
    const lasted = (Date.now() - start) / 1000;
    const { state, notices } = await page.evaluate(() => ({ state: window.porthole.state, notices: window.porthole.notices }));
    assert.equal(state, 'streaming', `still streaming after ${lasted} s`);
    assert.deepEqual(notices, [], 'never warned of idleness');
    const still = await sessionOf('idle', 'typer', () => true, 'the typer session');
    assert.equal(still.Id, session.Id);
    assert.equal(still.ConnectionState, 'CONNECTED');
  });

  test('a session is warned 5 minutes before MaxUserDurationInSeconds (600 s), ends at 600 s, and its instance is replaced', { timeout: 720000 }, async () => {
    const url = await streamingUrl(server, { stack: 'maxdur', fleet: 'maxdur', userId: 'long', applicationId: 'xterm' });
    const page = await openClient(browser, url);
    const session = await sessionOf('maxdur', 'long', (s) => s.State === 'ACTIVE', 'the long session');
    // AppStream counts the maximum duration from the session's start.
    const startedAt = session.StartTime * 1000;
    const { instance } = await xtermIn(session.InstanceId);

    const notice = await firstNotice(page, { timeout: 330000, polling: 1000 });
    const warnedAt = (notice.receivedAt - startedAt) / 1000;
    console.log(`max duration 600 s: warned ${warnedAt.toFixed(1)} s after the start, "${notice.text}" (${notice.seconds_left} s left)`);
    assert.equal(notice.kind, SESSION_ENDING);
    assert.match(notice.text, /save your work/);
    assert.ok(notice.seconds_left >= 295 && notice.seconds_left <= 300, `seconds left ${notice.seconds_left}`);
    assert.ok(warnedAt >= 299 && warnedAt <= 305, `warned ${warnedAt} s after the start`);

    const before = new Set(instances(server).map((i) => i.id));
    const { at, reason } = await closed(page, { timeout: 330000, polling: 1000 });
    const lasted = (at - startedAt) / 1000;
    console.log(`max duration 600 s: the session ended ${lasted.toFixed(1)} s after it started: "${reason}"`);
    assert.ok(lasted >= 599, `ended after ${lasted} s, before the 600 s maximum`);
    assert.ok(lasted <= 610, `ended only after ${lasted} s`);
    assert.match(reason, /maximum duration/);

    // Ended sessions leave DescribeSessions (it lists live ones).
    await waitFor(async () => (await describeSessions(server, { stack: 'maxdur', fleet: 'maxdur' })).length === 0, {
      timeout: 15000, interval: 1000, what: 'the ended session to leave DescribeSessions',
    });
    await waitFor(() => liveProcs(instance).length === 0, { timeout: 20000, interval: 1000, what: `instance ${instance.id} to be destroyed` });
    let status;
    await waitFor(async () => {
      status = (await fleetOf(server, 'maxdur')).ComputeCapacityStatus;
      return status.Available === 1 && instances(server).some((i) => !before.has(i.id));
    }, { timeout: 60000, interval: 1000, what: 'a new instance for the maxdur fleet', diag: () => JSON.stringify(status) });
    for (const i of instances(server)) server.instanceIds.add(i.id);
  });
});
