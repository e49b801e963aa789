// The image builder benchmark: `porthole serve` (release build), image builders and an
// ALWAYS_ON DESKTOP fleet, all on the default image. Each trial (the fleet's half and the
// builder's in alternating order):
//   1. instance start: StartFleet -> Available >= 1 on the stopped fleet (the yardstick),
//      CreateImageBuilder -> RUNNING for a fresh builder, and StartImageBuilder ->
//      RUNNING on that builder once making its image has STOPPED it;
//   2. first session: a streaming URL -> first painted frame on the fleet (no app: its
//      desktop and catalog) and on the fresh builder (its desktop and catalog);
//   3. create image: in the builder's terminal (typed through the browser, as an
//      administrator does) a payload is written and an app added, then
//      `image-assistant create-image`; from the image listed (the server accepted the
//      request) to the image AVAILABLE and the builder STOPPED, with the data dir's and
//      the new layer's size on disk and the payload's inode before and after.
// The API is polled every 20 ms. Writes a marked section of docs/performance.md. Run
// through `scripts/bench --workload builders`.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { portholeBin, waitFor, openClient, stillRunning, fileText } from '../tests/e2e/harness.mjs';
import {
  streamingUrl, fleetOf, builderOf, createFleetAndStack, instances, openBuilderTerminal, runInTerminal,
  DEFAULT_NAME, RUNTIME_ROOT,
} from '../tests/e2e/serve-harness.mjs';
import { du, machine, serveBenchmark } from './report.mjs';
import { median, percentile } from './latency.mjs';

const { values: opt } = parseArgs({
  options: {
    trials: { type: 'string', default: '5' },
    'layer-mb': { type: 'string', default: '64' },
    out: { type: 'string', default: 'docs/performance.md' },
  },
});
const TRIALS = Number(opt.trials);
const LAYER_MB = Number(opt['layer-mb']);
process.env.PORTHOLE_BIN ??= portholeBin('release');
const FLEET = 'bench-fleet';
// Builder and fleet alike, so that only the builder's root differs.
const INSTANCE_TYPE = 'stream.standard.medium';
const POLL_MS = 20;
// What the builder's terminal writes: the payload lands in the builder's writable layer.
const PAYLOAD = '/opt/porthole-bench/payload';
// The machine is shared: the report says how busy it was.
const LOAD_AT_START = loadavg()[0].toFixed(2);
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

/** ms from just before `action` to the first poll where `done` holds. */
async function timed(action, done, what) {
  const t0 = Date.now();
  await action();
  await waitFor(done, { timeout: 60000, interval: POLL_MS, what });
  return Date.now() - t0;
}

const available = (server) => async () => (await fleetOf(server, FLEET)).ComputeCapacityStatus.Available >= 1;
const builderIs = (server, name, state) => async () => (await builderOf(server, name)).State === state;

async function fleetStart(server) {
  await server.admin.call('StopFleet', { Name: FLEET });
  // Stopped, and no instance of any kind left on the host (the builders are deleted and
  // the default fleet stopped): the start has the machine to itself.
  await waitFor(async () => (await fleetOf(server, FLEET)).State === 'STOPPED' && instances(server).length === 0,
    { timeout: 60000, what: `${FLEET} stopped, no instance left`, diag: server.tail });
  return timed(() => server.admin.call('StartFleet', { Name: FLEET }), available(server), `${FLEET}: an available instance`);
}

/** A desktop session of the fleet: page.goto -> first painted frame; then back to one waiting instance. */
async function fleetSession({ server, browser }, i) {
  const userId = `bench-${i}`;
  const page = await openClient(browser, await streamingUrl(server, { stack: FLEET, fleet: FLEET, userId }));
  const session = { firstFrame: page.firstFrameMs, ...await clientMilestones(page) };
  const { Sessions } = await server.admin.call('DescribeSessions', { StackName: FLEET, FleetName: FLEET, UserId: userId });
  await server.admin.call('ExpireSession', { SessionId: Sessions[0].Id });
  await page.context().close();
  // The replacement instance starts now: let it finish before the builder's measures.
  await waitFor(available(server), { timeout: 60000, what: `${FLEET}: capacity back`, diag: server.tail });
  return session;
}

/**
 * The client's milestones in ms from the navigation's start (its socket and canvas are in a
 * Worker: the page only sees them through its stats): where the first frame's time went.
 */
const clientMilestones = (page) => page.evaluate(() => {
  const { wsCreated, firstFrameMessage } = window.porthole.stats.timeline;
  return { wsCreated: wsCreated - performance.timeOrigin, firstFrameMessage: firstFrameMessage - performance.timeOrigin };
});

/** The builder's running instance: the one whose runtime dir has the image assistant's socket. */
function builderInstance(server) {
  const found = instances(server).find((i) => existsSync(join(RUNTIME_ROOT, i.id, 'image-assistant.sock')));
  if (!found) throw new Error('no instance serves the image assistant');
  server.instanceIds.add(found.id);
  return found;
}

const listDir = (path) => (existsSync(path) ? readdirSync(path) : []);

/**
 * In the builder's terminal: the payload and an app, then create-image, timed from the
 * server's acceptance (the image listed, which the server does before it answers the
 * assistant) to the image AVAILABLE with the builder STOPPED.
 */
async function createImage(server, page, builder, image) {
  await openBuilderTerminal(page);
  const instance = builderInstance(server);
  const files = '$HOME/MyFiles/TemporaryFiles';
  const temporary = join(RUNTIME_ROOT, instance.id, 'TemporaryFiles');
  await runInTerminal(page, `{ mkdir -p ${dirname(PAYLOAD)} && head -c ${LAYER_MB}M /dev/urandom > ${PAYLOAD} && `
    + `image-assistant add-application --name bench-xterm --absolute-app-path /usr/bin/xterm; } > ${files}/ready.log 2>&1; `
    + `echo $? > ${files}/ready`);
  const status = await waitFor(() => fileText(join(temporary, 'ready')), {
    timeout: 60000, what: 'the payload and the app in the builder', diag: server.tail,
  });
  if (status.trim() !== '0') throw new Error(`the builder's terminal: ${fileText(join(temporary, 'ready.log'))}`);
  const store = join(server.dataDir, 'images');
  const [layer] = listDir(join(store, 'builders'));
  const before = { dataDir: du(server.dataDir), payload: findFile(join(store, 'builders', layer), 'payload') };
  const snapshotsBefore = listDir(join(store, 'snapshots'));

  await runInTerminal(page, `image-assistant create-image --name ${image} > ${files}/created.json 2>&1`);
  const listed = async () => (await server.admin.call('DescribeImages', {})).Images.find((i) => i.Name === image);
  await waitFor(listed, { timeout: 30000, interval: POLL_MS, what: `the builder to ask for ${image}`, diag: server.tail });
  const accepted = Date.now();
  let gone;
  const done = async () => {
    if (gone === undefined && !instance.procs.some(stillRunning)) gone = Date.now() - accepted;
    const [img, b] = await Promise.all([listed(), builderOf(server, builder)]);
    if (img.State === 'FAILED') throw new Error(`${image} FAILED: ${img.Description}`);
    return img.State === 'AVAILABLE' && b.State === 'STOPPED';
  };
  await waitFor(done, { timeout: 60000, interval: POLL_MS, what: `${image} AVAILABLE, ${builder} STOPPED`, diag: server.tail });
  const made = Date.now() - accepted;
  await page.context().close();
  const [snapshot] = listDir(join(store, 'snapshots')).filter((s) => !snapshotsBefore.includes(s));
  const after = { dataDir: du(server.dataDir), payload: findFile(join(store, 'snapshots', snapshot), 'payload') };
  return {
    gone: gone ?? made,
    available: made,
    layer: du(join(store, 'snapshots', snapshot)),
    dataDirGrowth: after.dataDir - before.dataDir,
    sameInode: before.payload.ino === after.payload.ino && before.payload.dev === after.payload.dev,
  };
}

/** The stat of the file `name` under `dir` (wherever the layer keeps it). */
function findFile(dir, name) {
  const [path] = execFileSync('find', [dir, '-name', name, '-type', 'f'], { encoding: 'utf8' }).split('\n');
  if (!path) throw new Error(`no ${name} under ${dir}`);
  return statSync(path);
}

async function removeBuilder(server, builder, image) {
  await server.admin.call('DeleteImageBuilder', { Name: builder });
  await waitFor(async () => !(await server.admin.call('DescribeImageBuilders', {})).ImageBuilders.some((b) => b.Name === builder),
    { timeout: 60000, what: `${builder} deleted`, diag: server.tail });
  await server.admin.call('DeleteImage', { Name: image });
  const store = join(server.dataDir, 'images');
  await waitFor(() => listDir(join(store, 'builders')).length === 0 && listDir(join(store, 'snapshots')).length === 0,
    { timeout: 60000, what: 'the builder\'s layers removed', diag: server.tail });
}

/** The fleet's start, then a session on the instance it started. */
async function fleetHalf(s, i) {
  return { fleetStart: await fleetStart(s.server), fleetSession: await fleetSession(s, i) };
}

/** A fresh builder: created, a session on it, an image made of it, started again; then deleted. */
async function builderHalf({ server, browser }, i) {
  const builder = `bench-builder-${i}`;
  const image = `bench-image-${i}`;
  const t = {};
  t.builderCreate = await timed(() => server.admin.call('CreateImageBuilder', {
    Name: builder, ImageName: DEFAULT_NAME, InstanceType: INSTANCE_TYPE,
  }), builderIs(server, builder, 'RUNNING'), `${builder} RUNNING`);
  const { StreamingURL } = await server.admin.call('CreateImageBuilderStreamingURL', { Name: builder });
  const page = await openClient(browser, StreamingURL);
  t.builderSession = { firstFrame: page.firstFrameMs, ...await clientMilestones(page) };
  t.image = await createImage(server, page, builder, image);
  t.builderStart = await timed(() => server.admin.call('StartImageBuilder', { Name: builder }),
    builderIs(server, builder, 'RUNNING'), `${builder} RUNNING again`);
  await removeBuilder(server, builder, image);
  return t;
}

/** Both halves, the fleet's first in even trials and the builder's first in odd ones: order effects cancel out. */
async function trial(s, i) {
  const halves = i % 2 ? [builderHalf, fleetHalf] : [fleetHalf, builderHalf];
  const t = {};
  for (const half of halves) Object.assign(t, await half(s, i));
  return t;
}

const ms = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const mib = (v) => `${(v / 2 ** 20).toFixed(1)} MiB`;
const kib = (v) => `${v > 0 ? '+' : ''}${(v / 1024).toFixed(0)} KiB`;
const stats = (xs) => `**${ms(median(xs))}** | ${ms(percentile(xs, 90))} | ${ms(Math.max(...xs))}`;
const ratio = (xs, ys) => (median(xs) / median(ys)).toFixed(2);

function render({ trials = [], chromium, problems }) {
  const L = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machine()}, headless Chromium ${chromium}, with`,
    `\`${process.env.BENCH_COMMAND ?? `node bench/builders.mjs ${process.argv.slice(2).join(' ')}`}\` (release build; ${trials.length} of ${TRIALS} trials completed; load average ${LOAD_AT_START} at the start, ${loadavg()[0].toFixed(2)} at the end).`,
    '',
    `Each trial has two halves, the fleet's first in odd trials and the builder's first in even ones: the fleet's start and a session on it; a fresh builder created, a session on its desktop, an image made of it, the builder started again, then the builder and its image deleted. The fleet (\`${FLEET}\`, ALWAYS_ON, StreamView DESKTOP, one instance) and the builders are ${INSTANCE_TYPE} on the default image; the default fleet is stopped. The API is polled every ${POLL_MS} ms.`,
    '',
  ];
  if (trials.length) {
    const pick = (f) => trials.map(f);
    const fleetStart = pick((t) => t.fleetStart);
    const imgs = pick((t) => t.image);
    L.push(
      '### Instance start',
      '',
      'The yardstick is StartFleet on the stopped fleet until DescribeFleets shows one available instance: the same sandbox, Xorg and agent coming up on the same image and instance type, with no other instance on the machine. A builder\'s instance does more before it is ready: it mounts id-mapped clones of its writable layer, of its lower layers (after an image, the snapshot) and of the host\'s /usr, /etc, /var and /opt (the overlays over them are made when an app starts), and the server opens the image assistant\'s socket.',
      '',
      '| | median | p90 | max | ratio to the fleet (medians) |',
      '|---|---|---|---|---|',
      `| StartFleet -> Available >= 1 | ${stats(fleetStart)} | 1 |`,
      `| CreateImageBuilder -> RUNNING (a fresh builder) | ${stats(pick((t) => t.builderCreate))} | ${ratio(pick((t) => t.builderCreate), fleetStart)} |`,
      `| StartImageBuilder -> RUNNING (STOPPED after making its image) | ${stats(pick((t) => t.builderStart))} | ${ratio(pick((t) => t.builderStart), fleetStart)} |`,
      '',
      '### Create image',
      '',
      `In the builder's terminal (typed through the browser): ${LAYER_MB} MiB written to ${PAYLOAD} and an app added, then \`image-assistant create-image\`. Times from the first DescribeImages that lists the new image (the server lists it before it answers the assistant); "instance gone" is when every process of the builder's sandbox has exited (seen on the host).`,
      '',
      '| accepted -> | median | p90 | max |',
      '|---|---|---|---|',
      `| builder's instance gone | ${stats(imgs.map((m) => m.gone))} |`,
      `| image AVAILABLE and builder STOPPED | ${stats(imgs.map((m) => m.available))} |`,
      `| (of which instance gone -> AVAILABLE: the rename, the catalog read, the state saved; to one poll) | ${stats(imgs.map((m) => m.available - m.gone))} |`,
      '',
      `On disk: the new layer (du of its snapshot directory) ${mib(median(imgs.map((m) => m.layer)))} (median); the data dir changed by ${imgs.map((m) => kib(m.dataDirGrowth)).join(', ')} across create-image (du before, with the payload in the builder's writable layer, and after); the payload kept its inode in ${imgs.filter((m) => m.sameInode).length} of ${imgs.length} trials: the layer is the builder's changes renamed, no file copied.`,
      '',
      '### First session',
      '',
      'A streaming URL without an app (the desktop, with the catalog) -> first painted frame, page.goto to the frame, each on an instance that just came up: the fleet\'s after its start, the builder\'s after it is RUNNING.',
      '',
      '| | first frame, median | p90 | max | WebSocket created, median | first Frame message, median |',
      '|---|---|---|---|---|---|',
      ...[['fleet desktop session', (t) => t.fleetSession], ['fresh builder\'s desktop session', (t) => t.builderSession]].map(([label, of]) => {
        const s = pick(of);
        return `| ${label} | ${stats(s.map((x) => x.firstFrame))} | ${ms(median(s.map((x) => x.wsCreated)))} | ${ms(median(s.map((x) => x.firstFrameMessage)))} |`;
      }),
      '',
      `Ratio of the first frames' medians (builder / fleet): ${ratio(pick((t) => t.builderSession.firstFrame), pick((t) => t.fleetSession.firstFrame))}. The milestones are the client's (stats.timeline), from the navigation's start.`,
      '',
    );
  }
  if (problems.length) L.push('Problems seen:', '', ...problems.map((p) => `- ${p}`), '');
  return L.join('\n');
}

await serveBenchmark({ out: opt.out, marker: 'bench-builders', heading: 'Image builders', log }, async ({ server, browser, result, part }) => {
  result.trials = [];
  // Its idle instances would only add noise.
  await server.admin.call('StopFleet', { Name: DEFAULT_NAME });
  await createFleetAndStack(server, FLEET, {
    FleetType: 'ALWAYS_ON', StreamView: 'DESKTOP', InstanceType: INSTANCE_TYPE, ComputeCapacity: { DesiredInstances: 1 },
  });
  for (let i = 0; i < TRIALS; i++) {
    const t = await part(`trial ${i + 1}`, () => trial({ server, browser }, i));
    if (t) {
      result.trials.push(t);
      log(`trial ${i + 1}/${TRIALS}: ${JSON.stringify(t)}`);
    }
  }
}, render);
