// Session lifetime: reload and multiple viewers, app exit, and a bad client.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  session, waitFor, focusApp, waitStreaming, waitQuiet, openClient, framesPainted,
  canvasSignature, sameImage, distinctBlocks, stillRunning, displayEnv,
} from './harness.mjs';

const TIMEOUT = 90000;
const shell = (tmp) => ['xterm', '-e', 'sh', '-c', `touch ${tmp}/ready; exec sh`];

async function shellSession(t) {
  const s = await session(t, { app: shell });
  await waitFor(() => existsSync(join(s.tmp, 'ready')), { what: 'the shell to start' });
  await focusApp(s.page);
  return s;
}

/** Types a key into `typist` and waits until every page in `pages` painted a new frame. */
async function keystrokePaints(typist, pages, key = 'x') {
  const before = await Promise.all(pages.map(framesPainted));
  await typist.keyboard.press(key);
  await waitFor(async () => (await Promise.all(pages.map(framesPainted))).every((n, i) => n > before[i]), {
    timeout: 10000, what: `every page to paint a frame after typing ${key}`,
  });
}

test('reloading the page resumes the same session, and a second page can watch', { timeout: TIMEOUT }, async (t) => {
  const s = await shellSession(t);
  await s.page.keyboard.type(`echo marker && touch ${join(s.tmp, 'done')}`);
  await s.page.keyboard.press('Enter');
  await waitFor(() => existsSync(join(s.tmp, 'done')), { what: 'the echo to run', diag: s.diag });
  await waitQuiet(s.page);
  const before = await canvasSignature(s.page);
  assert.ok(distinctBlocks(before) > 2, 'the canvas shows something before the reload');

  await s.page.reload();
  await waitStreaming(s.page);
  let similarity = 0;
  await waitFor(async () => (similarity = sameImage(before, await canvasSignature(s.page))) >= 0.99, {
    timeout: 10000, what: 'the reloaded page to show the same screen', diag: async () => `similarity ${similarity}\n${await s.diag()}`,
  });
  assert.ok(stillRunning(s.app), 'the app process is the one from before the reload');
  assert.equal((await displayEnv(s.porthole, 'xterm')).xenv.DISPLAY, s.xenv.DISPLAY);

  const second = await openClient(s.browser, s.porthole.url);
  // Its first frames may be lossy; the lossless refresh follows.
  await waitFor(async () => (similarity = sameImage(before, await canvasSignature(second))) >= 0.99, {
    timeout: 10000, what: 'the second page to show the same screen', diag: async () => `similarity ${similarity}\n${await s.diag()}`,
  });
  await focusApp(s.page);
  await keystrokePaints(s.page, [s.page, second]);
});

test('the app exiting ends porthole cleanly', { timeout: TIMEOUT }, async (t) => {
  const s = await shellSession(t);
  const n = s.displayNumber;
  assert.ok(existsSync(`/tmp/.X11-unix/X${n}`), `the X socket of display :${n} exists while running`);
  await s.page.keyboard.type('exit');
  await s.page.keyboard.press('Enter');
  const exit = await waitFor(() => s.porthole.exitInfo, { timeout: 15000, what: 'porthole to exit', diag: s.diag });
  assert.deepEqual(exit, { code: 0, signal: null });
  await waitFor(() => s.porthole.spawned.every((p) => !stillRunning(p)), {
    timeout: 5000,
    what: 'every spawned process to be gone',
    diag: () => s.porthole.spawned.filter(stillRunning).map((p) => `${p.pid} ${p.comm}`).join(', '),
  });
  assert.ok(!existsSync(`/tmp/.X11-unix/X${n}`), `/tmp/.X11-unix/X${n} removed`);
  assert.ok(!existsSync(`/tmp/.X${n}-lock`), `/tmp/.X${n}-lock removed`);
  await s.page.waitForFunction(() => window.porthole.state === 'closed', null, { timeout: 10000 });
});

test('a malformed message closes only that connection', { timeout: TIMEOUT }, async (t) => {
  const s = await shellSession(t);
  const results = await s.page.evaluate(async () => {
    const url = new URL('ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = location.search;
    const hello = [0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // A bare unknown type byte; and a valid Hello followed by a Key whose string
    // length points far past the end of the message.
    const attempts = [[[0xee, 1, 2, 3]], [hello, [0x06, 1, 0xff, 0xff, 0xff, 0x00]]];
    return Promise.all(attempts.map((msgs) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const timer = setTimeout(() => resolve({ closed: false }), 10000);
      ws.onopen = () => msgs.forEach((m) => ws.send(new Uint8Array(m)));
      ws.onclose = (e) => { clearTimeout(timer); resolve({ closed: true, code: e.code }); };
    })));
  });
  for (const r of results) {
    assert.ok(r.closed, 'the agent closed the bad connection');
    assert.ok([1002, 1009].includes(r.code), `close code ${r.code} is 1002 (protocol error) or 1009 (too big)`);
  }
  assert.equal(await s.page.evaluate(() => window.porthole.state), 'streaming');
  await keystrokePaints(s.page, [s.page]);
});

test('stopping porthole also ends processes the app started in their own process group', { timeout: TIMEOUT }, async (t) => {
  // `timeout` moves itself into a new process group, so it gets no SIGHUP when the
  // terminal closes (the benchmark's terminal workload does exactly this).
  const s = await session(t, { app: (tmp) => ['xterm', '-e', 'sh', '-c', `timeout 300 sleep 300 & touch ${tmp}/ready; exec sh`] });
  await waitFor(() => existsSync(join(s.tmp, 'ready')) && s.porthole.spawned.some((p) => p.comm === 'sleep'), { what: 'the background job to start' });
  // The after hook SIGTERMs porthole and fails if any process it ever spawned survives.
});
