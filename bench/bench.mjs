// The Porthole benchmark: the workloads of /work/shared/workloads/README.md at 1280x720,
// measured through the real binary and a headless Chromium client, written as a
// markdown table next to the peers' numbers. Run through scripts/bench.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  REPO, portholeBin, startPorthole, stopPorthole, launchBrowser, procStat, descendants,
  pssBytes, clientDiag,
} from '../tests/e2e/harness.mjs';
import { median, percentile, recordFrameArrival, measureLatency } from './latency.mjs';

const W = 1280;
const H = 720;
const COLS = Math.floor((W - 4) / 8);
const ROWS = Math.floor((H - 4) / 17);
const XTERM = `xterm -fa 'DejaVu Sans Mono:pixelsize=13' -geometry ${COLS}x${ROWS}+0+0`;
const WORKLOADS = {
  video: `timeout 120 ffplay -loglevel quiet -an -f lavfi -i testsrc2=size=${W}x${H}:rate=30 -x ${W} -y ${H} -noborder -left 0 -top 0`,
  terminal: `timeout 120 ${XTERM} -e sh -c 'timeout 60 sh -c "while :; do ls -lR /usr/share/doc; done"; sleep 60'`,
  idle: `timeout 120 ${XTERM} -e sh -c 'PS1="prompt\\$ " exec sh'`,
};
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

// The peers, from /work/shared/brief/peers.md (median of 3 runs on this kind of machine).
const PEERS = {
  Xpra: {
    video: { kbps: 532, cpu: 23, fps: 30.0, first: 2.1 },
    terminal: { kbps: 1615, cpu: 72, fps: 22.4, first: 2.4 },
    idle: { kbps: 0.03, cpu: 0, fps: 0, first: 2.0 },
    latency: { median: 43, p95: 53 },
    pssMB: 103,
  },
  'TigerVNC + noVNC': {
    video: { kbps: 2005, cpu: 14, fps: 30.9, first: 1.4 },
    terminal: { kbps: 2087, cpu: 44, fps: 23.1, first: 1.6 },
    idle: { kbps: 0, cpu: 0, fps: 0, first: 1.2 },
    latency: { median: 30, p95: 37 },
    pssMB: 59,
  },
};

const { values: opt } = parseArgs({
  options: {
    workload: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '1' },
    out: { type: 'string', default: 'docs/performance.md' },
    window: { type: 'string', default: '20' },
    settle: { type: 'string', default: '3' },
    trials: { type: 'string', default: '40' },
    'keep-open': { type: 'boolean', default: false },
  },
});
const names = opt.workload === 'all' ? Object.keys(WORKLOADS) : opt.workload.split(',');
for (const n of names) if (!WORKLOADS[n]) throw new Error(`unknown workload ${n} (video, terminal, idle, all)`);
const RUNS = Number(opt.runs);
const WINDOW_S = Number(opt.window);
const SETTLE_S = Number(opt.settle);
const TRIALS = Number(opt.trials);
const BIN = process.env.PORTHOLE_BIN ?? portholeBin('release');

const until = (t) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** CPU ticks of porthole and its X server (found among its descendants by name). */
function serverTicks(pid) {
  const procs = [procStat(pid), ...descendants(pid).filter((s) => s.comm === 'Xorg')];
  if (procs.length < 2 || !procs[0]) throw new Error('porthole or its Xorg is not running');
  return procs.reduce((sum, s) => sum + s.utime + s.stime, 0);
}

// Runs in the page before the client: records when the first frame was painted
// (Date.now(), comparable with the harness's clock).
function recordFirstFrame() {
  const poll = () => {
    if (window.porthole?.stats?.framesPainted > 0) window.__firstFrameAt = Date.now();
    else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}

async function runOnce(browser, name) {
  const context = await browser.newContext({ viewport: { width: W, height: H }, deviceScaleFactor: 1 });
  await context.addInitScript(recordFirstFrame);
  await context.addInitScript(recordFrameArrival);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  let wsBytes = 0;
  let wsMessages = 0;
  cdp.on('Network.webSocketFrameReceived', ({ response }) => {
    wsMessages++;
    const d = response.payloadData;
    // Binary frames arrive base64-encoded: count the decoded bytes.
    wsBytes += response.opcode === 2
      ? (d.length * 3) / 4 - (d.endsWith('==') ? 2 : d.endsWith('=') ? 1 : 0)
      : Buffer.byteLength(d);
  });
  await cdp.send('Network.enable');

  const porthole = await startPorthole({ app: ['sh', '-c', WORKLOADS[name]], size: `${W}x${H}`, bin: BIN });
  const result = { workload: name };
  try {
    await page.goto(`${porthole.url}?scale=1`);
    const firstAt = await page.waitForFunction(() => window.__firstFrameAt, null, { timeout: 30000 })
      .then((h) => h.jsonValue())
      .catch(async (e) => { throw new Error(`no first frame: ${e.message.split('\n')[0]}\n${await clientDiag(page)}\n${porthole.tail()}`); });
    result.firstFrameS = (firstAt - porthole.spawnedAt) / 1000;

    await until(firstAt + SETTLE_S * 1000);
    const snapshot = async () => ({
      ticks: serverTicks(porthole.pid), bytes: wsBytes, messages: wsMessages,
      ...await page.evaluate(() => ({ frames: window.porthole.stats.framesPainted, clientBytes: window.porthole.stats.bytesReceived })),
    });
    const t0 = Date.now();
    const start = await snapshot();
    await until(t0 + WINDOW_S * 1000);
    const end = await snapshot();
    const secs = (Date.now() - t0) / 1000;
    // The client counts the payload bytes of every WebSocket message it receives. The
    // DevTools count (page-level Network events) matched it within 0.3 % while the
    // socket lived in the page; it sees nothing once the socket moved into the
    // client's Worker, so it is kept as a cross-check only.
    result.kbps = (end.clientBytes - start.clientBytes) / 1024 / secs;
    result.cpu = ((end.ticks - start.ticks) / CLK_TCK / secs) * 100;
    result.fps = (end.frames - start.frames) / secs;
    result.devtoolsKbps = (end.bytes - start.bytes) / 1024 / secs;
    result.messagesPerS = (end.messages - start.messages) / secs;

    if (name === 'idle') {
      const session = [porthole.pid, ...descendants(porthole.pid).map((s) => s.pid)];
      result.pssMB = session.reduce((sum, pid) => sum + pssBytes(pid), 0) / 2 ** 20;
      const { samples, arrivalMedian, missed } = await measureLatency(page, TRIALS);
      if (!samples.length) throw new Error(`no keystroke changed the canvas (${missed} trials)\n${await clientDiag(page)}`);
      result.latency = { median: median(samples), p95: percentile(samples, 95), arrivalMedian, n: samples.length, missed };
    }
    if (opt['keep-open']) {
      console.log(`keeping ${name} open at ${porthole.url}?scale=1 — press Ctrl+C to go on`);
      await new Promise((r) => process.once('SIGINT', r));
    }
  } finally {
    await context.close();
    try {
      await stopPorthole(porthole);
    } catch (e) {
      result.teardownError = e.message;
    }
  }
  return result;
}

/** Median of each metric over the runs. */
function combine(runs) {
  const m = (f) => median(runs.map(f).filter((v) => v !== undefined));
  const out = { workload: runs[0].workload, runs: runs.length, kbps: m((r) => r.kbps), cpu: m((r) => r.cpu), fps: m((r) => r.fps), firstFrameS: m((r) => r.firstFrameS) };
  if (runs[0].latency) {
    out.latency = { median: m((r) => r.latency.median), p95: m((r) => r.latency.p95), arrivalMedian: m((r) => r.latency.arrivalMedian), n: runs.reduce((s, r) => s + r.latency.n, 0), missed: runs.reduce((s, r) => s + r.latency.missed, 0) };
    out.pssMB = m((r) => r.pssMB);
  }
  out.teardownErrors = runs.map((r) => r.teardownError).filter(Boolean);
  return out;
}

const f1 = (v) => (v === undefined || Number.isNaN(v) ? '–' : v < 1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v.toFixed(1));
const mark = (ok) => (ok ? 'pass' : '**FAIL**');

function checks(res) {
  const by = Object.fromEntries(res.map((r) => [r.workload, r]));
  const out = [];
  if (by.idle) {
    const l = by.idle.latency;
    out.push([`keystroke to photon: median ${f1(l.median)} ms <= 20 ms, p95 ${f1(l.p95)} ms <= 40 ms`, l.median <= 20 && l.p95 <= 40]);
    out.push([`idle: ${f1(by.idle.kbps)} KB/s < 1 KB/s and ${f1(by.idle.cpu)} % CPU < 1 %`, by.idle.kbps < 1 && by.idle.cpu < 1]);
  }
  if (by.terminal) {
    const cap = PEERS.Xpra.terminal.kbps / 2;
    out.push([`terminal: ${f1(by.terminal.kbps)} KB/s <= ${cap} KB/s (half of Xpra's)`, by.terminal.kbps <= cap]);
  }
  if (by.video) {
    const cap = PEERS.Xpra.video.cpu;
    out.push([`video: ${f1(by.video.fps)} frames/s >= 25 at ${f1(by.video.cpu)} % CPU <= ${cap} % (Xpra's)`, by.video.fps >= 25 && by.video.cpu <= cap]);
  }
  for (const r of res) out.push([`${r.workload}: first frame ${f1(r.firstFrameS)} s < 1 s`, r.firstFrameS < 1]);
  return out;
}

function machine() {
  const rev = (() => {
    try {
      const head = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
      return `${head}${dirty ? ' + uncommitted changes' : ''}`;
    } catch {
      return 'unknown';
    }
  })();
  return { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown', rev };
}

function render(res, chromiumVersion) {
  const mc = machine();
  const lines = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${mc.cores} cores (${mc.model}), porthole ${mc.rev}, with`,
    `\`${process.env.BENCH_COMMAND ?? `node bench/bench.mjs ${process.argv.slice(2).join(' ')}`}\``,
    `(median of ${RUNS} run${RUNS > 1 ? 's' : ''}; ${WINDOW_S} s window after ${SETTLE_S} s of settling; 1280x720; headless Chromium ${chromiumVersion}).`,
    '',
    '| workload | system | KB/s to the browser | server CPU (% of one core) | frames painted/s | launch to first frame |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of res) {
    lines.push(`| ${r.workload} | **Porthole** | **${f1(r.kbps)}** | **${f1(r.cpu)} %** | **${f1(r.fps)}** | **${f1(r.firstFrameS)} s** |`);
    for (const [peer, p] of Object.entries(PEERS)) {
      const q = p[r.workload];
      lines.push(`| ${r.workload} | ${peer} | ${q.kbps} | ${q.cpu} % | ${q.fps.toFixed(1)} | ${q.first.toFixed(1)} s |`);
    }
  }
  const idle = res.find((r) => r.workload === 'idle');
  if (idle) {
    lines.push('', '| idle xterm | keystroke to photon, median | p95 | PSS of X server + server + app |', '|---|---|---|---|');
    lines.push(`| **Porthole** | **${f1(idle.latency.median)} ms** | **${f1(idle.latency.p95)} ms** | **${f1(idle.pssMB)} MB** |`);
    for (const [peer, p] of Object.entries(PEERS)) lines.push(`| ${peer} | ${p.latency.median} ms | ${p.latency.p95} ms | ${p.pssMB} MB |`);
    lines.push('', `Latency: ${idle.latency.n} samples (letters and Backspace at the idle prompt, ${idle.latency.missed} without a visible change within 2 s), from the page's keydown to the first animation frame whose canvas pixels changed; of which keydown to the arrival of the first Frame message (agent and network): median ${f1(idle.latency.arrivalMedian)} ms. Porthole's memory is one session with its client connected; the peers' is per session with five at once and no client.`);
  }
  lines.push('', 'Targets:', '');
  for (const [text, ok] of checks(res)) lines.push(`- ${mark(ok)}: ${text}`);
  const errs = res.flatMap((r) => r.teardownErrors.map((e) => `${r.workload}: ${e}`));
  if (errs.length) lines.push('', 'Teardown problems:', '', ...errs.map((e) => `- ${e}`));
  return lines.join('\n');
}

function writeOut(path, table) {
  const file = resolve(REPO, path);
  const section = `<!-- bench:start -->\n${table}\n<!-- bench:end -->`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Performance\n\nProduced by `scripts/bench`; workloads as in /work/shared/workloads/README.md.\n\n';
  const re = /<!-- bench:start -->[\s\S]*?<!-- bench:end -->/;
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, doc);
}

const browser = await launchBrowser();
const chromiumVersion = browser.version();
const results = [];
try {
  for (const name of names) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await runOnce(browser, name);
      console.error(`${name} run ${i + 1}/${RUNS}: ${JSON.stringify(r)}`);
      runs.push(r);
    }
    results.push(combine(runs));
  }
} finally {
  await browser.close();
}
const table = render(results, chromiumVersion);
console.log(table);
if (opt.out !== '-') writeOut(opt.out, table);
