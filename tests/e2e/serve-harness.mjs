// Driver for the `porthole serve` end-to-end tests: runs the real server on a fresh
// data dir, talks to its admin API with SigV4-signed awsJson1_1 requests (what the AWS
// CLI sends), finds each instance's sandbox processes on the host, and on teardown
// checks that the server took every sandbox and runtime directory down with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  portholeBin, makeTmp, waitFor, spawnTracked, stopPorthole, descendants, cmdline,
  stillRunning, launchBrowser, procStat, untilPage, focusApp,
} from './harness.mjs';
import { adminApi } from '../../web/console/sigv4.js';

export const REGION = 'us-east-1';
export const DEFAULT_NAME = 'porthole-default';
export const RUNTIME_ROOT = '/run/porthole';

/** AppStream's fleet metrics that /metrics must publish per fleet. */
export const FLEET_METRICS = [
  'ActualCapacity', 'AvailableCapacity', 'CapacityUtilization', 'DesiredCapacity',
  'InUseCapacity', 'PendingCapacity', 'RunningCapacity', 'InsufficientCapacityError',
];

// ---------------------------------------------------------------- admin API

/** The [default] profile of an AWS shared-credentials file. */
export function readCredentials(path) {
  const text = readFileSync(path, 'utf8');
  const get = (k) => new RegExp(`^${k}\\s*=\\s*(\\S+)`, 'm').exec(text)?.[1];
  return { accessKeyId: get('aws_access_key_id'), secretAccessKey: get('aws_secret_access_key') };
}

/** An admin API client: `await admin.call('DescribeFleets', { Names: [...] })`. */
export function adminClient(endpoint, { accessKeyId, secretAccessKey }, service = 'appstream') {
  return adminApi({ endpoint, credentials: { accessKeyId, secretAccessKey }, region: REGION, service });
}

// ---------------------------------------------------------------- the server

// Servers start one at a time: each server hands out sandbox uids from the same range
// and skips only uids that already own processes, so two servers launching their first
// instance at the same moment could both pick the first uid.
let startQueue = Promise.resolve();

/**
 * Spawns `porthole serve --listen 127.0.0.1:0 --data-dir DIR` on a fresh data dir and
 * resolves once it printed its streaming URL for the default fleet (`openUrl`), which
 * it does once that fleet runs. `env` is added to the server's environment, `args` to
 * its command line; `dataDir` restarts a server on an earlier one's data.
 */
export function startServe(options) {
  const started = startQueue.then(() => spawnServe(options));
  startQueue = started.catch(() => {});
  return started;
}

async function spawnServe({ env = {}, args = [], timeout = 60000, dataDir = makeTmp('porthole-serve-e2e-') } = {}) {
  const p = spawnTracked(portholeBin(), ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], { env });
  p.dataDir = dataDir;
  // Track the sandboxes from the start: instances come up before the URL is printed.
  p.startTracking();
  try {
    [, p.endpoint] = await p.output(/serving at (http:\/\/127\.0\.0\.1:\d+)\//, timeout, 'its address');
    [, p.openUrl] = await p.output(/porthole: open (http:\/\/\S+)/, timeout, 'the streaming URL');
  } catch (e) {
    await stopServe(p).catch(() => {});
    throw e;
  }
  const credentials = env.PORTHOLE_ACCESS_KEY_ID
    ? { accessKeyId: env.PORTHOLE_ACCESS_KEY_ID, secretAccessKey: env.PORTHOLE_SECRET_ACCESS_KEY }
    : readCredentials(join(dataDir, 'credentials'));
  p.admin = adminClient(p.endpoint, credentials);
  p.instanceIds = new Set();
  return p;
}

/**
 * SIGTERMs the server and asserts that it exits, that every process it ever spawned
 * (bwrap, `porthole agent`, Xorg, apps) is gone and that the runtime directories of
 * all its instances were removed. Removes the data dir.
 */
export async function stopServe(server) {
  server.track();
  for (const i of instances(server)) server.instanceIds?.add(i.id);
  try {
    await stopPorthole(server);
    const left = [...(server.instanceIds ?? [])].map((id) => join(RUNTIME_ROOT, id)).filter(existsSync);
    if (left.length) throw new Error(`the server left runtime directories behind: ${left.join(', ')}`);
  } finally {
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- instances on the host

export function procUid(pid) {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return null;
  }
}

/** The namespace a process is in, as the kernel names it ("pid:[4026531836]"). */
export function namespaceOf(pid, kind) {
  return readlinkSync(`/proc/${pid}/ns/${kind}`);
}

/**
 * The server's running instances: for each outer bwrap it spawned, the instance id
 * (from its runtime-dir bind), its uid and its live processes (bwrap included).
 */
export function instances(server) {
  return descendants(server.pid)
    .filter((s) => s.comm === 'bwrap' && procStat(s.ppid)?.comm !== 'bwrap')
    .map((bwrap) => {
      const args = cmdline(bwrap.pid);
      const bind = args.findIndex((a, i) => a === '--bind' && args[i + 2] === RUNTIME_ROOT);
      const id = bind >= 0 ? args[bind + 1].split('/').pop() : null;
      return { id, bwrap, uid: procUid(bwrap.pid), procs: [bwrap, ...descendants(bwrap.pid)] };
    })
    .filter((i) => i.id);
}

/**
 * Waits for the process `name` (comm) in one of the server's instances and returns it
 * with its instance. `exclude` lists instance ids to skip.
 */
export async function appIn(server, name, { timeout = 30000, exclude = [] } = {}) {
  return waitFor(() => {
    for (const inst of instances(server)) {
      if (exclude.includes(inst.id)) continue;
      const app = inst.procs.find((s) => s.comm === name);
      if (app) {
        server.instanceIds.add(inst.id);
        return { app, instance: inst };
      }
    }
    return null;
  }, { timeout, what: `process ${name} in an instance`, diag: server.tail });
}

/** The live processes of an instance seen earlier (by their recorded start times). */
export const liveProcs = (instance) => instance.procs.filter(stillRunning);

// ---------------------------------------------------------------- admin helpers

/** Sessions of a stack and fleet (DescribeSessions needs both), every page. */
export async function describeSessions(server, { stack = DEFAULT_NAME, fleet = DEFAULT_NAME, userId } = {}) {
  const out = [];
  let NextToken;
  do {
    const page = await server.admin.call('DescribeSessions', { StackName: stack, FleetName: fleet, UserId: userId, NextToken });
    out.push(...page.Sessions);
    ({ NextToken } = page);
  } while (NextToken);
  return out;
}

export async function fleetOf(server, name = DEFAULT_NAME) {
  const { Fleets } = await server.admin.call('DescribeFleets', { Names: [name] });
  return Fleets[0];
}

export async function streamingUrl(server, { stack = DEFAULT_NAME, fleet = DEFAULT_NAME, userId, applicationId, validity = 600, sessionContext } = {}) {
  const { StreamingURL } = await server.admin.call('CreateStreamingURL', {
    StackName: stack, FleetName: fleet, UserId: userId, ApplicationId: applicationId,
    Validity: validity, SessionContext: sessionContext,
  });
  return StreamingURL;
}

/**
 * Creates a fleet (on the default image) and a stack of the same name, associates
 * them, starts the fleet and waits until it is RUNNING.
 */
export async function createFleetAndStack(server, name, fleetInput) {
  await server.admin.call('CreateFleet', {
    Name: name, ImageName: DEFAULT_NAME, InstanceType: 'stream.standard.small', ...fleetInput,
  });
  await server.admin.call('CreateStack', { Name: name });
  await server.admin.call('AssociateFleet', { FleetName: name, StackName: name });
  await server.admin.call('StartFleet', { Name: name });
  await waitFor(async () => (await fleetOf(server, name)).State === 'RUNNING', {
    timeout: 60000, interval: 200, what: `fleet ${name} to be RUNNING`, diag: server.tail,
  });
}

// ---------------------------------------------------------------- image builders

/** An image builder as DescribeImageBuilders shows it. */
export async function builderOf(server, name) {
  const { ImageBuilders } = await server.admin.call('DescribeImageBuilders', { Names: [name] });
  return ImageBuilders[0];
}

/** Waits until the builder is in `state`; answers the builder. */
export function waitBuilder(server, name, state, { timeout = 60000, interval = 200 } = {}) {
  return waitFor(async () => {
    const builder = await builderOf(server, name);
    return builder.State === state && builder;
  }, { timeout, interval, what: `image builder ${name} to be ${state}`, diag: server.tail });
}

/**
 * On a builder's desktop (its page open on the catalog), starts the terminal (the
 * catalog's first app, focused) and waits for its window: a root shell in the builder,
 * with the image assistant on its PATH.
 */
export async function openBuilderTerminal(page) {
  await untilPage(page, () => window.porthole.catalog?.shown, 'the builder catalog to show');
  const focused = await page.evaluate(() => document.activeElement?.dataset.app);
  assert.equal(focused, 'xterm', 'the builder catalog focuses its terminal');
  await page.keyboard.press('Enter');
  await untilPage(page, () => window.porthole.windows.some((w) => w.title === 'Image builder (root)'), 'the builder terminal');
}

/** Types a command line into the terminal of the page (focusing it first) and runs it. */
export async function runInTerminal(page, line) {
  await focusApp(page);
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** /metrics as { 'appstream_X{fleet="f"}': value }. */
export async function metrics(server) {
  const text = await (await fetch(`${server.endpoint}/metrics`)).text();
  return Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const i = l.lastIndexOf(' ');
    return [l.slice(0, i), Number(l.slice(i + 1))];
  }));
}

// ---------------------------------------------------------------- one test's setup

/**
 * A server and a browser for one test; both are torn down (and the server's process
 * hygiene checked) on `t.after`.
 */
export async function serveTest(t, options) {
  const s = {};
  t.after(async () => {
    try {
      if (s.browser) await s.browser.close();
    } finally {
      if (s.server) await stopServe(s.server);
    }
  });
  s.browser = await launchBrowser();
  s.server = await startServe(options);
  return s;
}

// ---------------------------------------------------------------- the real AWS CLI, axe-core

/** Runs the AWS CLI against the server with its generated credentials. */
export function aws(server, args) {
  const done = spawnSync('aws', ['appstream', ...args, '--endpoint-url', server.endpoint, '--output', 'json'], {
    encoding: 'utf8',
    env: {
      ...process.env,
      AWS_SHARED_CREDENTIALS_FILE: join(server.dataDir, 'credentials'),
      AWS_CONFIG_FILE: '/dev/null',
      AWS_DEFAULT_REGION: REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  assert.equal(done.status, 0, `aws appstream ${args.join(' ')}: ${done.stderr}`);
  return done.stdout.trim() ? JSON.parse(done.stdout) : null;
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Runs axe-core on the page and asserts it finds no serious or critical violation. */
export async function assertAccessible(page, what) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => (await window.axe.run()).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`));
  assert.deepEqual(violations, [], `accessibility of ${what}`);
}

/** Mode and owner of a path. */
export function owner(path) {
  const st = statSync(path);
  return { uid: st.uid, mode: st.mode & 0o777 };
}
