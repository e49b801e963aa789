// Shared driver for the browser end-to-end tests and the benchmark: runs the real
// `porthole` binary and Debian's headless Chromium (through playwright-core), and
// checks process hygiene on teardown. Every wait polls a condition with a deadline.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const execFileP = promisify(execFile);
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The porthole binary: $PORTHOLE_BIN, else the debug build in $CARGO_TARGET_DIR or target/. */
export function portholeBin(profile = 'debug') {
  if (process.env.PORTHOLE_BIN) return process.env.PORTHOLE_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, 'target');
  return join(target, profile, 'porthole');
}

export function makeTmp(prefix = 'porthole-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Polls `cond` (sync or async) until it returns a truthy value, which is returned.
 * On timeout throws with `what` and, if given, the output of `diag()` for context.
 */
export async function waitFor(cond, { timeout = 10000, interval = 25, what = 'condition', diag } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const extra = diag ? `\n${await diag()}` : '';
      const cause = lastErr ? `\nlast error: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${cause}${extra}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// ---------------------------------------------------------------- /proc helpers


/** Parsed /proc/PID/stat (null if the process is gone). Times in clock ticks. */
export function procStat(pid) {
  let s;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: it ends at the last ')'.
  const close = s.lastIndexOf(')');
  const comm = s.slice(s.indexOf('(') + 1, close);
  const f = s.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  return {
    pid, comm, state: f[0], ppid: Number(f[1]),
    utime: Number(f[11]), stime: Number(f[12]), starttime: Number(f[19]),
  };
}

function allPids() {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** Every live descendant of `pid` (children, grandchildren, ...), with their stat. */
export function descendants(pid) {
  const stats = allPids().map(procStat).filter((s) => s && s.state !== 'Z');
  const out = [];
  const frontier = [pid];
  while (frontier.length) {
    const p = frontier.pop();
    for (const s of stats) {
      if (s.ppid === p) {
        out.push(s);
        frontier.push(s.pid);
      }
    }
  }
  return out;
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

export function environ(pid) {
  try {
    return Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
      .filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  } catch {
    return {};
  }
}

/** True while the process recorded in `st` runs (same PID and start time, not a zombie). */
export function stillRunning(st) {
  const now = procStat(st.pid);
  return !!now && now.starttime === st.starttime && now.state !== 'Z';
}

/** Proportional set size in bytes (/proc/PID/smaps_rollup), 0 if unreadable. */
export function pssBytes(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- porthole

/**
 * Spawns `bin ARGS` (porthole, in any mode) with a UTF-8 locale and no DISPLAY, keeps
 * the tail of its output, and records every process it spawns while it runs so that
 * `stopPorthole` can check them even after it exited (orphans are reparented away).
 * `output(re)` resolves with the first match of `re` in its stdout, or rejects when
 * it exits, fails to spawn or prints nothing matching within `timeout` ms.
 */
export function spawnTracked(bin, args, { env = {} } = {}) {
  // A UTF-8 locale so xterm encodes non-ASCII input as UTF-8.
  const fullEnv = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...env };
  delete fullEnv.DISPLAY;
  const spawnedAt = Date.now();
  const proc = spawn(bin, args, { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const keep = (chunk) => {
    log.push(chunk.toString());
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let stdout = '';
  proc.stdout.on('data', (c) => { stdout += c; });
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const spawnError = new Promise((_, rej) => proc.on('error', rej));
  let exitInfo = null;
  exited.then((e) => { exitInfo = e; });
  const tail = () => log.join('').split('\n').slice(-40).join('\n');
  const spawned = new Map();
  const track = () => {
    for (const s of descendants(proc.pid)) spawned.set(`${s.pid}:${s.starttime}`, s);
  };
  const output = (re, timeout, what = `output matching ${re}`) => Promise.race([
    new Promise((res) => {
      const check = () => {
        const m = re.exec(stdout);
        if (m) {
          proc.stdout.off('data', check);
          res(m);
        }
      };
      proc.stdout.on('data', check);
      check();
    }),
    exited.then((e) => { throw new Error(`${basename(bin)} exited (${JSON.stringify(e)}) before printing ${what}:\n${tail()}`); }),
    spawnError.then(() => {}, (e) => { throw new Error(`cannot spawn ${bin}: ${e.message}`); }),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`${basename(bin)} printed no ${what} within ${timeout} ms:\n${tail()}`)), timeout).unref()),
  ]);
  const startTracking = () => {
    track();
    const tracker = setInterval(track, 200);
    tracker.unref();
    exited.then(() => clearInterval(tracker));
  };
  return {
    proc, pid: proc.pid, spawnedAt, exited, tail, track, output, startTracking,
    get spawned() { return [...spawned.values()]; },
    get exitInfo() { return exitInfo; },
    /** Descendant process with the given command name (comm or argv[0] basename). */
    find(name) {
      return descendants(proc.pid).find((s) => s.comm === name || basename(cmdline(s.pid)[0] ?? '') === name);
    },
  };
}

/**
 * Spawns `porthole stream --listen 127.0.0.1:0 ARGS -- APP...` and resolves once it
 * printed its URL. `spawnedAt` is Date.now() just before the spawn.
 */
export async function startPorthole({ app, size, view, extraArgs = [], env = {}, bin = portholeBin(), timeout = 30000 }) {
  const args = ['stream', '--listen', '127.0.0.1:0'];
  if (size) args.push('--size', size);
  if (view) args.push('--view', view);
  args.push(...extraArgs, '--', ...app);
  const p = spawnTracked(bin, args, { env });
  const [url] = await p.output(/http:\/\/[^\s"'<>]+/, timeout, 'its URL');
  p.startTracking();
  p.url = url;
  return p;
}

/** The X display of a porthole session, read from the app's environment. */
export async function displayEnv(porthole, appName) {
  // Polled until DISPLAY shows: a process caught mid-exec reads with an empty environment.
  const { st, e } = await waitFor(
    () => {
      const found = porthole.find(appName);
      const env = found && environ(found.pid);
      return env && env.DISPLAY ? { st: found, e: env } : null;
    },
    { what: `app process ${appName} with DISPLAY in its environment`, diag: porthole.tail },
  );
  const xenv = { DISPLAY: e.DISPLAY };
  if (e.XAUTHORITY) xenv.XAUTHORITY = e.XAUTHORITY;
  return { app: st, xenv, displayNumber: Number(/:(\d+)/.exec(e.DISPLAY)[1]) };
}

/** Runs an X client on the session's display. */
export async function xrun(xenv, cmd, args = [], opts = {}) {
  const { stdout } = await execFileP(cmd, args, { env: { ...process.env, ...xenv }, timeout: 10000, ...opts });
  return stdout;
}

/** Runs a shell command on the session's display that may leave a daemon behind (xclip). */
export async function xspawn(xenv, script) {
  const p = spawn('sh', ['-c', script], { env: { ...process.env, ...xenv }, stdio: 'ignore' });
  const [code] = await new Promise((res, rej) => { p.on('exit', (...a) => res(a)); p.on('error', rej); });
  if (code !== 0) throw new Error(`sh -c '${script}' exited ${code}`);
}

/** Size of the X root window as {width, height}. */
export async function rootSize(xenv) {
  const out = await xrun(xenv, 'xdpyinfo');
  const m = /dimensions:\s+(\d+)x(\d+) pixels/.exec(out);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * SIGTERMs porthole (unless it already exited) and asserts that it exits and that
 * every process it had spawned is gone. Leftovers are killed, then reported.
 */
export async function stopPorthole(porthole, { timeout = 10000 } = {}) {
  if (!porthole.exitInfo) porthole.track();
  const { spawned } = porthole;
  if (!porthole.exitInfo) porthole.proc.kill('SIGTERM');
  const exit = await Promise.race([
    porthole.exited,
    new Promise((r) => setTimeout(() => r(null), timeout).unref()),
  ]);
  if (!exit) {
    porthole.proc.kill('SIGKILL');
    for (const s of spawned) if (stillRunning(s)) process.kill(s.pid, 'SIGKILL');
    throw new Error(`porthole did not exit within ${timeout} ms of SIGTERM:\n${porthole.tail()}`);
  }
  let left = [];
  try {
    await waitFor(() => (left = spawned.filter(stillRunning)).length === 0, { timeout: 5000, what: 'spawned processes to exit' });
  } catch {
    for (const s of left) {
      try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    throw new Error(`porthole left processes behind: ${left.map((s) => `${s.pid} ${s.comm}`).join(', ')}`);
  }
  return exit;
}

// ---------------------------------------------------------------- browser

/** Launches headless Chromium with a fresh profile (playwright creates and removes it). */
export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/**
 * Opens the client in a new context and page (collecting console errors for
 * diagnostics) and, unless `streaming` is false, waits for the first painted frame.
 * `page.gotoResponse` is the page's HTTP response; `page.firstFrameMs` the time from
 * page.goto to that frame (for the benchmarks: the context's setup is not in it).
 */
export async function openClient(browser, url, { viewport = { width: 1280, height: 720 }, query = '?scale=1', permissions = [], streaming = true } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  if (permissions.length) await context.grantPermissions(permissions, { origin: new URL(url).origin });
  const page = await context.newPage();
  page.consoleLog = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') page.consoleLog.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => page.consoleLog.push(`pageerror: ${e.message}`));
  const t0 = Date.now();
  page.gotoResponse = await page.goto(new URL(query, url).href);
  if (streaming) {
    await waitStreaming(page);
    page.firstFrameMs = Date.now() - t0;
  }
  return page;
}

/** Waits for `pred(arg)` to hold in the page; on timeout throws with `what` and the client's state. */
export async function untilPage(page, pred, what, arg, { timeout = 30000 } = {}) {
  try {
    await page.waitForFunction(pred, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`${what}: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`);
  }
}

/** Client-side state for error messages. */
export async function clientDiag(page) {
  let hook = '(no page)';
  try {
    hook = await page.evaluate(() => {
      const p = window.porthole;
      return p ? JSON.stringify({ state: p.state, closeReason: p.closeReason, screen: p.screen, stats: p.stats, windows: p.windows }) : 'window.porthole missing';
    });
  } catch (e) {
    hook = `evaluate failed: ${e.message}`;
  }
  return `client: ${hook}\nconsole: ${page.consoleLog?.slice(-10).join('\n') || '(none)'}`;
}

/** Waits for porthole.state === 'streaming' and at least `frames` painted frames. */
export async function waitStreaming(page, { frames = 1, timeout = 20000 } = {}) {
  try {
    await page.waitForFunction((n) => window.porthole?.state === 'streaming' && window.porthole.stats?.framesPainted >= n,
      frames, { timeout, polling: 'raf' });
  } catch (e) {
    throw new Error(`client did not start streaming: ${e.message.split('\n')[0]}\n${await clientDiag(page)}`);
  }
}

export const framesPainted = (page) => page.evaluate(() => window.porthole.stats.framesPainted);

/** Waits until no frame was painted for `quietMs` (the screen settled). */
export async function waitQuiet(page, { quietMs = 300, timeout = 10000 } = {}) {
  let last = await framesPainted(page);
  let since = Date.now();
  await waitFor(async () => {
    const n = await framesPainted(page);
    if (n !== last) { last = n; since = Date.now(); }
    return Date.now() - since >= quietMs;
  }, { timeout, what: `no frames for ${quietMs} ms`, interval: 50 });
}

/**
 * Clicks the middle of the app's top-level window (or of the canvas if the client
 * lists no windows yet), so the canvas has keyboard focus and X focus is on the app.
 */
export async function focusApp(page) {
  await page.waitForFunction(() => window.porthole?.windows?.length > 0, null, { timeout: 10000 }).catch(() => {});
  const box = await page.locator('#screen').boundingBox();
  const target = await page.evaluate(() => {
    const p = window.porthole;
    const w = p.windows?.[p.windows.length - 1];
    return w ? { x: (w.x + w.width / 2) / p.screen.width, y: (w.y + w.height / 2) / p.screen.height } : { x: 0.5, y: 0.5 };
  });
  await page.mouse.click(box.x + box.width * target.x, box.y + box.height * target.y);
}

/**
 * A coarse signature of the canvas: mean luminance of each 16x16 block, computed in
 * the page. Tolerant of lossy encodings; compare with `sameImage`.
 */
export async function canvasSignature(page) {
  return page.evaluate(() => {
    const src = document.querySelector('#screen');
    const c = document.createElement('canvas');
    c.width = src.width;
    c.height = src.height;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(src, 0, 0);
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const bw = Math.ceil(c.width / 16);
    const bh = Math.ceil(c.height / 16);
    const sum = new Float64Array(bw * bh);
    const cnt = new Uint32Array(bw * bh);
    for (let y = 0; y < c.height; y++) {
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4;
        const b = ((y >> 4) * bw) + (x >> 4);
        sum[b] += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        cnt[b]++;
      }
    }
    return { width: c.width, height: c.height, blocks: Array.from(sum, (s, i) => Math.round(s / cnt[i])) };
  });
}

/** Fraction of blocks of two signatures within `tol` luminance of each other. */
export function sameImage(a, b, tol = 6) {
  if (a.width !== b.width || a.height !== b.height) return 0;
  let same = 0;
  for (let i = 0; i < a.blocks.length; i++) if (Math.abs(a.blocks[i] - b.blocks[i]) <= tol) same++;
  return same / a.blocks.length;
}

/** Number of distinct block values: 1 means a uniform (blank) canvas. */
export const distinctBlocks = (sig) => new Set(sig.blocks).size;

// ---------------------------------------------------------------- a whole session

/**
 * One test's session: a tmp dir, porthole running `app`, a browser and a page that is
 * streaming. Registers teardown on `t.after` (close browser, stop porthole and check
 * its processes are gone, remove the tmp dir).
 */
export async function session(t, { app, appName, size = '1280x720', view, viewport, query, permissions, env } = {}) {
  const tmp = makeTmp();
  const s = { tmp };
  t.after(async () => {
    try {
      if (s.browser) await s.browser.close();
    } finally {
      try {
        if (s.porthole) await stopPorthole(s.porthole);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  });
  const appArgs = typeof app === 'function' ? app(tmp) : app;
  s.browser = await launchBrowser();
  s.porthole = await startPorthole({ app: appArgs, size, view, env });
  Object.assign(s, await displayEnv(s.porthole, appName ?? basename(appArgs[0])));
  s.page = await openClient(s.browser, s.porthole.url, { viewport, query, permissions });
  s.diag = async () => `${await clientDiag(s.page)}\nporthole log:\n${s.porthole.tail()}`;
  return s;
}

export const fileText = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : null);
