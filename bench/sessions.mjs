// The control-plane benchmark: `porthole serve` (release build) with real sandboxed
// instances, driven through its admin API (SigV4-signed awsJson1_1) and headless
// Chromium. Measures
//   1. open a streaming URL -> first painted frame, on an ALWAYS_ON fleet with a
//      waiting instance and on an ELASTIC fleet (cold: sandbox + Xorg + agent + app);
//   2. density: idle xterm sessions on one machine, scaled up step by step, with
//      memory (PSS) per session's sandbox and keystroke-to-photon on a sample.
// Writes a marked section of docs/performance.md. Run through `scripts/bench --workload sessions`.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import {
  portholeBin, launchBrowser, procStat, cmdline, waitFor, waitStreaming, clientDiag,
} from '../tests/e2e/harness.mjs';
import { startServe, stopServe } from '../tests/e2e/serve-harness.mjs';
import { machine, partRunner, writeSection } from './report.mjs';
import { median, percentile, recordFrameArrival, measureLatency } from './latency.mjs';

const { values: opt } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    steps: { type: 'string', default: '10,25,50,100' },
    'latency-sessions': { type: 'string', default: '5' },
    'latency-trials': { type: 'string', default: '20' },
    // Wall-clock budget for the density part: a step that would not finish in it is skipped.
    budget: { type: 'string', default: '420' },
    out: { type: 'string', default: 'docs/performance.md' },
  },
});
const TRIALS = Number(opt.trials);
// --steps '' skips the density part.
const STEPS = opt.steps ? opt.steps.split(',').map(Number) : [];
const LAT_SESSIONS = Number(opt['latency-sessions']);
const LAT_TRIALS = Number(opt['latency-trials']);
const BUDGET_MS = Number(opt.budget) * 1000;
// serve-harness starts $PORTHOLE_BIN: the release build unless told otherwise.
process.env.PORTHOLE_BIN ??= portholeBin('release');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const VIEWPORT = { width: 1280, height: 720 };
const IMAGE = 'porthole-default';
const INSTANCE_TYPE = 'stream.standard.small';
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

// ---------------------------------------------------------------- the server's processes

/** One /proc scan: the descendants of `root` and a way to walk any subtree. */
function processTree(root) {
  const stats = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => procStat(Number(d)))
    .filter((s) => s && s.state !== 'Z');
  const kids = new Map();
  for (const s of stats) {
    if (!kids.has(s.ppid)) kids.set(s.ppid, []);
    kids.get(s.ppid).push(s);
  }
  const subtree = (pid) => {
    const out = [];
    const todo = [...(kids.get(pid) ?? [])];
    while (todo.length) {
      const s = todo.pop();
      out.push(s);
      todo.push(...(kids.get(s.pid) ?? []));
    }
    return out;
  };
  return { all: subtree(root), children: kids.get(root) ?? [], subtree };
}

/** PSS and RSS in bytes from /proc/PID/smaps_rollup (0 when unreadable). */
function memory(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
    return { pss: kb('Pss'), rss: kb('Rss') };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

// ---------------------------------------------------------------- the admin API

const api = (server, op, input = {}) => server.admin.call(op, input);

async function createFleet(server, name, fleet) {
  await api(server, 'CreateFleet', { Name: name, ImageName: IMAGE, InstanceType: INSTANCE_TYPE, ...fleet });
  await api(server, 'CreateStack', { Name: name });
  await api(server, 'AssociateFleet', { FleetName: name, StackName: name });
  await api(server, 'StartFleet', { Name: name });
}

const fleetOf = async (server, name) => (await api(server, 'DescribeFleets', { Names: [name] })).Fleets[0];

/** Polls DescribeFleets until `cond(fleet)` holds; resolves to the fleet. */
function waitFleet(server, name, cond, what, timeout = 60000) {
  return waitFor(async () => {
    const f = await fleetOf(server, name);
    return cond(f) && f;
  }, { timeout, interval: 100, what: `${name}: ${what}`, diag: async () => JSON.stringify((await fleetOf(server, name)).ComputeCapacityStatus) });
}

async function sessionsOf(server, fleet, userId) {
  const out = [];
  let NextToken;
  do {
    const page = await api(server, 'DescribeSessions', { StackName: fleet, FleetName: fleet, Limit: 50, ...(userId && { UserId: userId }), ...(NextToken && { NextToken }) });
    out.push(...page.Sessions);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** The image's first app (xterm): a URL without ApplicationId opens the catalog instead. */
async function firstApp(server) {
  const { Images } = await api(server, 'DescribeImages', { Names: [IMAGE] });
  return Images[0].Applications[0].Name;
}

async function streamingUrl(server, fleet, userId) {
  server.firstApp ??= await firstApp(server);
  const { StreamingURL } = await api(server, 'CreateStreamingURL', { StackName: fleet, FleetName: fleet, UserId: userId, ApplicationId: server.firstApp, Validity: 3600 });
  return `${StreamingURL}?scale=1`;
}

// ---------------------------------------------------------------- the browser

// Runs in the page before the client: timestamps (Date.now(), the harness's clock) of
// DOMContentLoaded, the first painted frame and the first frame with the app's window
// listed. The connection's own milestones (WebSocket created and open, Hello, first
// message, first Frame message, first paint) come from the client's stats.timeline:
// the socket and the canvas live in a Worker, out of the page's reach, which paints
// before the page's own modules may have loaded.
function recordTimeline() {
  const tl = { navStart: performance.timeOrigin };
  window.__tl = tl;
  document.addEventListener('DOMContentLoaded', () => { tl.domReady = Date.now(); });
  const poll = () => {
    const p = window.porthole;
    if (!tl.firstFrame && p?.stats?.framesPainted > 0) tl.firstFrame = p.stats.timeline?.firstPaint ?? Date.now();
    if (tl.firstFrame && p?.windows?.length > 0) {
      tl.appWindow = Date.now();
      const { start, wsCreated, wsOpen, hello, firstMessage, firstFrameMessage } = p.stats.timeline ?? {};
      Object.assign(tl, { clientStart: start, wsCreated, wsOpen, hello, wsFirstMessage: firstMessage, wsFirstFrame: firstFrameMessage });
    } else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}

/**
 * Opens `url` in a fresh context, waits until the app's window is painted, and returns
 * the timeline relative to `t0` (just before navigation), in ms. Leaves the page open.
 */
async function openTimed(browser, url, { latencyProbe = false } = {}) {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  await context.addInitScript(recordTimeline);
  if (latencyProbe) await context.addInitScript(recordFrameArrival);
  const page = await context.newPage();
  page.consoleLog = [];
  page.on('console', (m) => { if (m.type() === 'error') page.consoleLog.push(m.text()); });
  const t0 = Date.now();
  try {
    await page.goto(url);
    const tl = await page.waitForFunction(() => window.__tl.appWindow && window.__tl, null, { timeout: 45000 })
      .then((h) => h.jsonValue());
    const rel = Object.fromEntries(Object.entries(tl).map(([k, v]) => [k, v - t0]));
    return { context, page, tl: rel };
  } catch (e) {
    const diag = await clientDiag(page);
    const tl = await page.evaluate(() => window.__tl).catch(() => null);
    await context.close();
    throw new Error(`${url}: no app window painted: ${e.message.split('\n')[0]}\ntimeline ${JSON.stringify(tl)} (t0 ${t0})\n${diag}`);
  }
}

// ---------------------------------------------------------------- 1. session start

/**
 * The gateway's own account of attaching the browser (its "browser attached" log
 * line): ms from the WebSocket upgrade to the session opened, the instance assigned,
 * the app launched, the agent's stream attached.
 */
function gatewayTimes(server, sessionId) {
  const lines = server.tail().split('\n');
  const line = lines.reverse().find((l) => l.includes('browser attached') && l.includes(sessionId));
  if (!line) return {};
  const field = (k) => Number(new RegExp(`${k}_ms=(\\d+)`).exec(line)?.[1]);
  return { gwOpened: field('opened'), gwAssigned: field('assigned'), gwLaunched: field('launched'), gwAttached: field('attached') };
}

async function startTrials(server, browser, { name, fleet, ready, userPrefix }) {
  await createFleet(server, name, fleet);
  await waitFleet(server, name, ready, 'ready for a session');
  const trials = [];
  for (let i = 0; i < TRIALS; i++) {
    const url = await streamingUrl(server, name, `${userPrefix}-${i}`);
    const { context, tl } = await openTimed(browser, url);
    const [session] = await sessionsOf(server, name, `${userPrefix}-${i}`);
    Object.assign(tl, gatewayTimes(server, session.Id));
    await api(server, 'ExpireSession', { SessionId: session.Id });
    await context.close();
    const t = Date.now();
    await waitFleet(server, name, ready, 'capacity back after ExpireSession');
    tl.backAfterExpire = Date.now() - t;
    log(`${name} trial ${i + 1}/${TRIALS}: ${JSON.stringify(tl)}`);
    trials.push(tl);
  }
  await api(server, 'StopFleet', { Name: name });
  await waitFleet(server, name, (f) => f.State === 'STOPPED', 'STOPPED');
  return trials;
}

// ---------------------------------------------------------------- 2. density

/** Memory and CPU ticks per live session of the fleet, by its instance's sandbox. */
async function sessionFootprints(server, fleet) {
  const sessions = (await sessionsOf(server, fleet)).filter((s) => s.State === 'ACTIVE');
  const tree = processTree(server.pid);
  const sandboxOf = new Map();
  for (const c of tree.children) {
    const id = cmdline(c.pid).map((a) => /\/(i-[0-9a-f]+)$/.exec(a)?.[1]).find(Boolean);
    if (id) sandboxOf.set(id, c);
  }
  return sessions.map((s) => {
    const root = sandboxOf.get(s.InstanceId);
    if (!root) return { user: s.UserId, instance: s.InstanceId, missing: true };
    const procs = [root, ...tree.subtree(root.pid)];
    const mem = procs.map((p) => memory(p.pid));
    return {
      user: s.UserId, instance: s.InstanceId, comms: procs.map((p) => p.comm).sort().join(','),
      pss: mem.reduce((a, m) => a + m.pss, 0), rss: mem.reduce((a, m) => a + m.rss, 0),
      ticks: procs.reduce((a, p) => a + p.utime + p.stime, 0),
      connection: s.ConnectionState,
    };
  });
}

async function density(server, browser) {
  const name = 'bench-density';
  const began = Date.now();
  await createFleet(server, name, {
    FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: STEPS[0] },
    DisconnectTimeoutInSeconds: 36000, MaxUserDurationInSeconds: 36000,
  });
  const steps = [];
  let opened = 0;
  let perSessionMs = null; // instance launch + session open, from the last step
  for (const n of STEPS) {
    const left = BUDGET_MS - (Date.now() - began);
    if (perSessionMs && (n - opened) * perSessionMs > left) {
      steps.push({ n, skipped: `predicted ${(((n - opened) * perSessionMs) / 1000).toFixed(0)} s > ${(left / 1000).toFixed(0)} s left of the budget` });
      break;
    }
    const step = { n };
    steps.push(step);
    const stepStart = Date.now();
    const from = opened;
    try {
      if (n !== STEPS[0]) await api(server, 'UpdateFleet', { Name: name, ComputeCapacity: { DesiredInstances: n } });
      const f = await waitFleet(server, name, (x) => x.ComputeCapacityStatus.Running >= n, `${n} instances running`, 60000 + 2000 * (n - opened));
      step.launchS = (Date.now() - stepStart) / 1000;
      step.launchRate = (n - from) / step.launchS;
      step.capacity = f.ComputeCapacityStatus;
      log(`density: ${n} instances running after ${step.launchS.toFixed(1)} s (${step.launchRate.toFixed(2)}/s) ${JSON.stringify(f.ComputeCapacityStatus)}`);
      const openStart = Date.now();
      step.openMs = [];
      for (; opened < n; opened++) {
        const { context, tl } = await openTimed(browser, await streamingUrl(server, name, `idle-${opened}`));
        step.openMs.push(tl.appWindow);
        await context.close();
      }
      step.openS = (Date.now() - openStart) / 1000;
      perSessionMs = (Date.now() - stepStart) / (n - from);
      log(`density: ${n} sessions opened in ${step.openS.toFixed(1)} s (app window median ${median(step.openMs).toFixed(0)} ms)`);
      await measureIdle(server, name, step);
      log(`density: ${n}: ${JSON.stringify({ ...step, openMs: undefined, sessions: undefined })}`);
    } catch (e) {
      step.error = e.message.split('\n').slice(0, 6).join(' | ');
      log(`density: step ${n} failed: ${e.message}\n${server.tail()}`);
      break;
    }
  }
  const last = steps.filter((s) => s.pssMedian !== undefined).at(-1);
  if (last) last.latency = await keystrokeSample(server, browser, name, last.n);
  return steps;
}

/** Settles, then the per-session footprint and the idle CPU of everything over 5 s. */
async function measureIdle(server, name, step) {
  await new Promise((r) => setTimeout(r, 3000));
  const a = await sessionFootprints(server, name);
  const serverA = procStat(server.pid);
  const t = Date.now();
  await new Promise((r) => setTimeout(r, 5000));
  const b = await sessionFootprints(server, name);
  const serverB = procStat(server.pid);
  const secs = (Date.now() - t) / 1000;
  const found = b.filter((s) => !s.missing);
  step.active = b.length;
  step.missing = b.length - found.length;
  step.notConnected = b.filter((s) => s.connection === 'NOT_CONNECTED').length;
  step.pssMedian = median(found.map((s) => s.pss));
  step.pssP90 = percentile(found.map((s) => s.pss), 90);
  step.rssMedian = median(found.map((s) => s.rss));
  step.comms = found[0]?.comms;
  step.serverPss = memory(server.pid).pss;
  step.totalPss = found.reduce((sum, s) => sum + s.pss, 0) + step.serverPss;
  const ticksA = new Map(a.map((s) => [s.instance, s.ticks]));
  const sessionTicks = found.reduce((sum, s) => sum + (s.ticks - (ticksA.get(s.instance) ?? s.ticks)), 0);
  const serverTicks = serverB.utime + serverB.stime - serverA.utime - serverA.stime;
  step.idleCpu = ((sessionTicks + serverTicks) / CLK_TCK / secs) * 100;
}

/** Reconnects to a spread sample of the idle sessions and measures keystroke to photon. */
async function keystrokeSample(server, browser, name, n) {
  const picks = [...new Set(Array.from({ length: LAT_SESSIONS }, (_, i) => Math.round((i * (n - 1)) / Math.max(1, LAT_SESSIONS - 1))))];
  const out = [];
  for (const i of picks) {
    const r = { user: `idle-${i}` };
    try {
      const { context, page, tl } = await openTimed(browser, await streamingUrl(server, name, r.user), { latencyProbe: true });
      r.reconnectMs = tl.appWindow;
      try {
        await waitStreaming(page);
        const { samples, arrivalMedian, missed } = await measureLatency(page, LAT_TRIALS);
        Object.assign(r, { samples, median: median(samples), p95: percentile(samples, 95), max: Math.max(...samples), arrivalMedian, missed });
      } finally {
        await context.close();
      }
    } catch (e) {
      r.error = e.message.split('\n')[0];
    }
    log(`keystroke ${r.user}: ${JSON.stringify({ ...r, samples: undefined })}`);
    out.push(r);
  }
  return out;
}

// ---------------------------------------------------------------- report

const MB = 2 ** 20;
const ms = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v)} ms`);
const mb = (v) => `${(v / MB).toFixed(1)} MB`;
const mark = (ok) => (ok ? 'pass' : '**FAIL**');
const stat = (xs) => ({ median: median(xs), p90: percentile(xs, 90) });


function render({ alwaysOn, elastic, steps, problems, chromium, minutes }) {
  const L = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machine()}, headless Chromium ${chromium}, with`,
    `\`${process.env.BENCH_COMMAND ?? `node bench/sessions.mjs ${process.argv.slice(2).join(' ')}`}\` (${minutes.toFixed(1)} min;`,
    `release build; instance type ${INSTANCE_TYPE}; app xterm; 1280x720 page).`,
    '',
    '### Session start: open a streaming URL -> first painted frame',
    '',
    `${TRIALS} trials per fleet, each a new UserId (a fresh session), ended with ExpireSession; the ALWAYS_ON trials wait for Available capacity to come back first. Times from \`page.goto\` (a new browser context each); "app window" is the first frame after the client lists the xterm window. The connection's milestones come from the client (its socket runs in a Worker); the gateway's from its "browser attached" log line, in ms: session opened and instance assigned, counted from the start of the session's preparation (the page request, which starts it in the background), then app launched (agent POST /launch answered) and agent stream attached, counted from the WebSocket upgrade (0 when the page request had done it all). Medians of each interval, so they need not add up exactly.`,
    '',
    '| fleet | first frame, median | p90 | app window, median | page loaded (DOMContentLoaded) | WebSocket created | WebSocket open | gateway: opened / assigned / launched / attached | first message -> first Frame message | -> painted | capacity back after ExpireSession |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const row = (label, trials) => {
    const s = (k) => stat(trials.map((t) => t[k]));
    const ff = s('firstFrame');
    const gateway = ['gwOpened', 'gwAssigned', 'gwLaunched', 'gwAttached'].map((k) => ms(s(k).median)).join(' / ');
    L.push(`| ${label} | **${ms(ff.median)}** | **${ms(ff.p90)}** | ${ms(s('appWindow').median)} | ${ms(s('domReady').median)} | ${ms(s('wsCreated').median)} | ${ms(s('wsOpen').median)} | ${gateway} | ${ms(median(trials.map((t) => t.wsFirstFrame - t.wsFirstMessage)))} | ${ms(median(trials.map((t) => t.firstFrame - t.wsFirstFrame)))} | ${ms(s('backAfterExpire').median)} |`);
    return ff;
  };
  const on = alwaysOn?.length ? row('ALWAYS_ON, waiting instance', alwaysOn) : null;
  const el = elastic?.length ? row('ELASTIC, cold (sandbox + Xorg + agent + app)', elastic) : null;
  L.push('', 'AppStream 2.0 (published): 1-2 minutes to start an on-demand or elastic session; instant only on ALWAYS_ON fleets, whose instances are kept running (and billed).');

  L.push('', '### Density: idle xterm sessions on one machine', '',
    'One ALWAYS_ON fleet (DisconnectTimeoutInSeconds 36000) scaled step by step with UpdateFleet (100 instances is also the per-fleet cap, MAX_DESIRED_INSTANCES); each session opened once by a browser page (which starts its xterm), then the page closed: sessions stay ACTIVE, NOT_CONNECTED. Memory per session: PSS (/proc/PID/smaps_rollup) summed over its sandbox\'s processes (bwrap x2, porthole agent, Xorg, xterm), median over sessions; RSS summed the same way for comparison with RSS-based figures. Idle CPU: the server and every session\'s processes over 5 s.',
    '',
    '| sessions | instance launch (rate) | open session -> app window, median | PSS per session, median (p90) | RSS sum per session | server PSS | PSS of everything | idle CPU, all sessions | note |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const s of steps) {
    if (s.skipped) { L.push(`| ${s.n} | – | – | – | – | – | – | – | not run: ${s.skipped} |`); continue; }
    if (s.pssMedian === undefined) { L.push(`| ${s.n} | ${s.launchS ? `${s.launchS.toFixed(1)} s` : '–'} | – | – | – | – | – | – | **broke**: ${s.error} |`); continue; }
    const note = [s.active !== s.n ? `${s.active} ACTIVE sessions` : '', s.missing ? `${s.missing} sandboxes not found` : '', s.notConnected !== s.active ? `${s.active - s.notConnected} still CONNECTED` : ''].filter(Boolean).join('; ');
    L.push(`| ${s.n} | ${s.launchS.toFixed(1)} s (${s.launchRate.toFixed(2)}/s) | ${ms(median(s.openMs))} | **${mb(s.pssMedian)}** (${mb(s.pssP90)}) | ${mb(s.rssMedian)} | ${mb(s.serverPss)} | ${(s.totalPss / 2 ** 30).toFixed(2)} GiB | ${s.idleCpu.toFixed(1)} % | ${note} |`);
  }
  const measured = steps.filter((s) => s.pssMedian !== undefined);
  const top = measured.at(-1);
  const lat = top?.latency ?? [];
  if (lat.length) {
    L.push('', `Keystroke to photon at ${top.n} sessions, reconnecting to ${lat.length} of them spread over the range (${LAT_TRIALS} keystrokes each, measured as in bench/bench.mjs):`, '',
      '| session | reconnect -> app window | median | p95 | max | keydown -> Frame arrives, median |', '|---|---|---|---|---|---|');
    for (const r of lat) {
      L.push(r.error ? `| ${r.user} | **broke**: ${r.error} | | | | |`
        : `| ${r.user} | ${ms(r.reconnectMs)} | ${ms(r.median)} | ${ms(r.p95)} | ${ms(r.max)} | ${ms(r.arrivalMedian)} |`);
    }
  }
  if (top && top.n < 100) {
    const perGiB = (2 ** 30) / top.pssMedian;
    L.push('', `**Extrapolation** (not measured): at ${mb(top.pssMedian)} PSS per idle session, 100 sessions need about ${((100 * top.pssMedian + top.serverPss) / 2 ** 30).toFixed(1)} GiB (this machine has ${(totalmem() / 2 ** 30).toFixed(0)} GiB: about ${Math.floor(perGiB * (totalmem() / 2 ** 30) * 0.9)} sessions in 90 % of it), and at ${top.launchRate.toFixed(2)} instances/s they launch in about ${(100 / top.launchRate).toFixed(0)} s.`);
  }
  L.push('', 'Xpra (published): about 210 MB RSS per idle xterm session (its server, Xvfb/Xorg and the app); compare with the RSS column (RSS sums count shared pages in every process; PSS divides them among their users).');

  L.push('', 'Targets:', '');
  if (on) L.push(`- ${mark(on.median < 300)}: ALWAYS_ON first frame median ${ms(on.median)} < 300 ms (p90 ${ms(on.p90)})`);
  if (el) L.push(`- ${mark(el.median < 1500)}: ELASTIC cold first frame median ${ms(el.median)} < 1.5 s (p90 ${ms(el.p90)})`);
  if (top) {
    L.push(`- ${mark(top.n >= 100)}: ${top.n} idle sessions held${top.n >= 100 ? '' : ' (target >= 100)'}`);
    L.push(`- ${mark(top.pssMedian < 100 * MB)}: ${mb(top.pssMedian)} PSS per idle session < 100 MB`);
    const worst = Math.max(...lat.map((r) => (r.error ? Infinity : r.p95)));
    if (lat.length) L.push(`- ${mark(worst < 100)}: keystroke to photon p95 of the worst sampled session ${ms(worst)} < 100 ms`);
  }
  if (problems.length) L.push('', 'Problems seen:', '', ...problems.map((p) => `- ${p}`));
  return L.join('\n');
}


// ---------------------------------------------------------------- main

const began = Date.now();
// The gateway's "browser attached" lines give its share of each session start.
const server = await startServe({ env: { PORTHOLE_LOG: 'warn,porthole_server::gateway=info' } });
log(`serving at ${server.endpoint}`);
const browser = await launchBrowser();
const result = { problems: [], chromium: browser.version(), steps: [] };
try {
  // The default fleet's instance would only add noise.
  await api(server, 'StopFleet', { Name: 'porthole-default' });
  const part = partRunner(result, server, log);
  result.alwaysOn = await part('ALWAYS_ON start', () => startTrials(server, browser, {
    name: 'bench-always-on', userPrefix: 'warm',
    fleet: { FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: 1 }, DisconnectTimeoutInSeconds: 60 },
    ready: (f) => f.State === 'RUNNING' && f.ComputeCapacityStatus.Available >= 1,
  }));
  result.elastic = await part('ELASTIC start', () => startTrials(server, browser, {
    name: 'bench-elastic', userPrefix: 'cold',
    fleet: { FleetType: 'ELASTIC', MaxConcurrentSessions: 2, DisconnectTimeoutInSeconds: 60 },
    // No instance left over from the previous trial: every start is cold.
    ready: (f) => f.State === 'RUNNING' && f.ComputeCapacityStatus.Running === 0 && f.ComputeCapacityStatus.InUse === 0,
  }));
  if (STEPS.length) result.steps = (await part('density', () => density(server, browser))) ?? [];
} finally {
  await browser.close();
  await stopServe(server).catch((e) => result.problems.push(`teardown: ${e.message.split('\n')[0]}`));
}
result.minutes = (Date.now() - began) / 60000;
const text = render(result);
console.log(text);
if (opt.out !== '-') writeSection(opt.out, 'bench-sessions', 'Control plane: session start and density', text);
