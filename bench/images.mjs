// The image benchmark: `porthole serve` (release build), an OCI image built like the e2e
// test's (sh, cat, ls, xterm and their libraries; tests/e2e/oci-image.mjs), imported with
// `porthole image import`. Measures
//   1. the import: the first (layers unpacked) and later ones (the same layers, shared),
//      and what the store holds on disk for them;
//   2. session start on an ALWAYS_ON fleet of the imported image against one of the host
//      image, alternating trials: page.goto -> the app's window painted. On the imported
//      image the app starts through `porthole enter-root` (namespaces, overlays, pivot);
//      a third fleet's image is the same plus a SessionStart script (one user-context
//      script that writes a file), which runs before the app: what session scripts cost.
// Writes a marked section of docs/performance.md. Run through `scripts/bench --workload images`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { portholeBin, waitFor } from '../tests/e2e/harness.mjs';
import { streamingUrl, fleetOf, createFleetAndStack, DEFAULT_NAME } from '../tests/e2e/serve-harness.mjs';
import { probeImage } from '../tests/e2e/oci-image.mjs';
import { du, machine, serveBenchmark } from './report.mjs';
import { median, percentile } from './latency.mjs';

const { values: opt } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    imports: { type: 'string', default: '5' },
    out: { type: 'string', default: 'docs/performance.md' },
  },
});
const TRIALS = Number(opt.trials);
const IMPORTS = Number(opt.imports);
process.env.PORTHOLE_BIN ??= portholeBin('release');
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

function importImage(server, name, layout) {
  const t0 = process.hrtime.bigint();
  const done = spawnSync(process.env.PORTHOLE_BIN, ['image', 'import', '--name', name, '--endpoint', server.endpoint,
    '--credentials', join(server.dataDir, 'credentials'), layout], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`import ${name}: ${done.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function imports(server, layout) {
  const times = [];
  for (let i = 0; i < IMPORTS; i++) {
    times.push(importImage(server, `bench-${i}`, layout));
    log(`import ${i + 1}/${IMPORTS}: ${times.at(-1).toFixed(0)} ms`);
  }
  const store = join(server.dataDir, 'images');
  return { first: times[0], later: times.slice(1), store: du(store), layers: du(join(store, 'layers')), layout: du(layout) };
}

/** page.goto -> a painted frame with the app's window (its title matching `title`). */
async function startTrial(server, browser, fleet, app, title) {
  await waitFor(async () => (await fleetOf(server, fleet)).ComputeCapacityStatus.Available >= 1, { timeout: 60000, what: `an available ${fleet} instance` });
  const url = await streamingUrl(server, { stack: fleet, fleet, userId: `bench-${fleet}`, applicationId: app });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(new URL('?scale=1', url).href);
  await page.waitForFunction((t) => window.porthole?.windows?.some((w) => w.title === t) && window.porthole.stats.framesPainted > 0,
    title, { timeout: 30000, polling: 'raf' });
  const elapsed = Date.now() - t0;
  const { Sessions } = await server.admin.call('DescribeSessions', { StackName: fleet, FleetName: fleet, UserId: `bench-${fleet}` });
  await server.admin.call('ExpireSession', { SessionId: Sessions[0].Id });
  await context.close();
  return elapsed;
}

/** The probe image with one SessionStart script, of the user context. */
function scriptedImage() {
  const start = '/opt/appstream/SessionScripts/start.sh';
  const config = { SessionStart: { executables: [{ context: 'user', filename: start, arguments: '' }], waitingTime: 30 } };
  return probeImage(undefined, {
    scripts: {
      'opt/appstream/SessionScripts/config.json': JSON.stringify(config),
      [start.slice(1)]: '#!/bin/sh\necho "$AppStream_UserName" > "$HOME/MyFiles/TemporaryFiles/started.txt"\n',
    },
  }).layout;
}

async function sessionStart(server, browser) {
  importImage(server, 'bench-scripted', scriptedImage());
  const always = { FleetType: 'ALWAYS_ON', ComputeCapacity: { DesiredInstances: 1 } };
  await createFleetAndStack(server, 'bench-oci', { ImageName: 'bench-0', ...always });
  await createFleetAndStack(server, 'bench-scripted', { ImageName: 'bench-scripted', ...always });
  await createFleetAndStack(server, 'bench-host', { ImageName: DEFAULT_NAME, ...always });
  const oci = [];
  const scripted = [];
  const host = [];
  for (let i = 0; i < TRIALS; i++) {
    oci.push(await startTrial(server, browser, 'bench-oci', 'probe', 'probe'));
    scripted.push(await startTrial(server, browser, 'bench-scripted', 'probe', 'probe'));
    host.push(await startTrial(server, browser, 'bench-host', 'xterm', 'xterm'));
    log(`trial ${i + 1}/${TRIALS}: OCI image ${oci.at(-1)} ms, with a start script ${scripted.at(-1)} ms, host image ${host.at(-1)} ms`);
  }
  return { oci, scripted, host };
}

const ms = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const mib = (v) => `${(v / 2 ** 20).toFixed(1)} MiB`;

function render({ imported, start, chromium, problems }) {
  const L = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machine()}, headless Chromium ${chromium}, with`,
    `\`${process.env.BENCH_COMMAND ?? `node bench/images.mjs ${process.argv.slice(2).join(' ')}`}\` (release build; the test image of tests/e2e/oci-image.mjs: two layers, sh, cat, ls and xterm with their libraries).`,
    '',
  ];
  if (imported) {
    L.push(
      '### Import',
      '',
      `\`porthole image import\` of the layout directory (tarred by the command, streamed, hashed, signature checked, every blob verified, layers unpacked, root stacked by hard links), end to end; ${IMPORTS} imports of the same layout under different names.`,
      '',
      '| | time |',
      '|---|---|',
      `| first import (layers unpacked) | ${ms(imported.first)} |`,
      `| later imports (layers shared), median | ${ms(median(imported.later))} |`,
      '',
      `On disk: the layout ${mib(imported.layout)}; the image store after ${IMPORTS} images ${mib(imported.store)}, of which the unpacked layers ${mib(imported.layers)} (each root is hard links to them: file data is stored once).`,
      '',
    );
  }
  if (start) {
    L.push(
      '### Session start on an imported image',
      '',
      `${TRIALS} trials each, alternating, ALWAYS_ON fleets with one waiting instance; page.goto -> the app's window painted. The imported image's app (a script that writes a file, then runs xterm) starts through \`porthole enter-root\`; the host image's xterm starts directly. The scripted image is the imported one with a SessionStart script (user context, writes a file), run through the agent and \`enter-root\` before the app starts.`,
      '',
      '| image | median | p90 |',
      '|---|---|---|',
      `| imported OCI image | **${ms(median(start.oci))}** | ${ms(percentile(start.oci, 90))} |`,
      `| imported OCI image with a SessionStart script | **${ms(median(start.scripted))}** | ${ms(percentile(start.scripted, 90))} |`,
      `| host image | ${ms(median(start.host))} | ${ms(percentile(start.host, 90))} |`,
      '',
      `Ratios of the medians: imported / host ${(median(start.oci) / median(start.host)).toFixed(2)}; with the script / without ${(median(start.scripted) / median(start.oci)).toFixed(2)}.`,
      '',
    );
  }
  if (problems.length) L.push('Problems seen:', '', ...problems.map((p) => `- ${p}`));
  return L.join('\n');
}

await serveBenchmark({ out: opt.out, marker: 'bench-images', heading: 'Images from OCI', log }, async ({ server, browser, result, part }) => {
  const { layout } = probeImage();
  result.imported = await part('import', () => imports(server, layout));
  result.start = await part('session start', () => sessionStart(server, browser));
}, render);
