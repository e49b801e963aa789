// The home-folder benchmark: `porthole serve` (release build) on its default ALWAYS_ON
// fleet and stack (home folders on), driven by its admin API and headless Chromium.
// Measures
//   1. what attaching a home folder of 1,000 files adds to session start: the gateway's
//      own attach time, and the first painted frame with the folder vs without (the
//      stack's HOMEFOLDERS connector toggled between alternating trials);
//   2. My Files throughput on loopback: a 200 MB upload through the panel (its XHR,
//      from the page's clock) and the browser's download of it (click to file complete).
// Writes a marked section of docs/performance.md. Run through `scripts/bench --workload files`.
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { portholeBin, waitFor, waitStreaming, makeTmp } from '../tests/e2e/harness.mjs';
import { streamingUrl, fleetOf, DEFAULT_NAME } from '../tests/e2e/serve-harness.mjs';
import { machine, serveBenchmark } from './report.mjs';
import { median, percentile } from './latency.mjs';

const { values: opt } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    files: { type: 'string', default: '1000' },
    'transfer-mb': { type: 'string', default: '200' },
    'transfer-runs': { type: 'string', default: '3' },
    out: { type: 'string', default: 'docs/performance.md' },
  },
});
const TRIALS = Number(opt.trials);
const FILES = Number(opt.files);
const TRANSFER_MB = Number(opt['transfer-mb']);
const TRANSFER_RUNS = Number(opt['transfer-runs']);
process.env.PORTHOLE_BIN ??= portholeBin('release');
/** porthole-sandbox's FOLDER_OWNER. */
const FOLDER_OWNER = 199999;
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');

async function fileSha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

const api = (server, op, input) => server.admin.call(op, input);

/** Fills the user's home folder with `n` small files in 10 folders, as the server keeps them. */
function populate(server, userId, n) {
  const folder = join(server.dataDir, 'home-folders', 'user', 'custom', sha256(userId));
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  chownSync(folder, FOLDER_OWNER, FOLDER_OWNER);
  for (let d = 0; d < 10; d++) {
    const dir = join(folder, `dir-${d}`);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, FOLDER_OWNER, FOLDER_OWNER);
    for (let i = d; i < n; i += 10) {
      const file = join(dir, `file-${i}.txt`);
      writeFileSync(file, `file ${i}\n`.repeat(20));
      chownSync(file, FOLDER_OWNER, FOLDER_OWNER);
    }
  }
  return folder;
}

async function waitAvailable(server) {
  await waitFor(async () => (await fleetOf(server)).ComputeCapacityStatus.Available >= 1, { timeout: 60000, what: 'an available instance' });
}

/** The gateway's "home folder attached" line for the session: its attach time in ms. */
function attachMs(server, sessionId) {
  const line = server.tail().split('\n').reverse().find((l) => l.includes('home folder attached') && l.includes(sessionId));
  return line ? Number(/attach_ms=([\d.]+)/.exec(line)?.[1]) : undefined;
}

/** Opens a session of `userId` (its xterm) and measures page.goto -> first painted frame. */
async function startTrial(server, browser, userId) {
  await waitAvailable(server);
  const url = await streamingUrl(server, { userId, applicationId: 'xterm' });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(new URL('?scale=1', url).href);
  await waitStreaming(page);
  const firstFrame = Date.now() - t0;
  const { Sessions } = await api(server, 'DescribeSessions', { StackName: DEFAULT_NAME, FleetName: DEFAULT_NAME, UserId: userId });
  const session = Sessions[0];
  const attach = attachMs(server, session.Id);
  await api(server, 'ExpireSession', { SessionId: session.Id });
  await context.close();
  return { firstFrame, attach };
}

async function sessionStart(server, browser) {
  const userId = 'bench-files';
  populate(server, userId, FILES);
  const withFolder = [];
  const without = [];
  const attach = [];
  for (let i = 0; i < TRIALS; i++) {
    // Alternating, so that the machine's load falls on both alike.
    await api(server, 'UpdateStack', { Name: DEFAULT_NAME, StorageConnectors: [{ ConnectorType: 'HOMEFOLDERS' }] });
    const on = await startTrial(server, browser, userId);
    withFolder.push(on.firstFrame);
    if (on.attach !== undefined) attach.push(on.attach);
    await api(server, 'UpdateStack', { Name: DEFAULT_NAME, DeleteStorageConnectors: true });
    const off = await startTrial(server, browser, userId);
    without.push(off.firstFrame);
    log(`trial ${i + 1}/${TRIALS}: with ${on.firstFrame} ms (attach ${on.attach} ms), without ${off.firstFrame} ms`);
  }
  await api(server, 'UpdateStack', { Name: DEFAULT_NAME, StorageConnectors: [{ ConnectorType: 'HOMEFOLDERS' }] });
  return { withFolder, without, attach };
}

async function transfers(server, browser) {
  const tmp = makeTmp('porthole-bench-files-');
  const big = join(tmp, 'big.bin');
  const block = randomBytes(1 << 20);
  writeFileSync(big, Buffer.concat(Array.from({ length: TRANSFER_MB }, (_, i) => Buffer.concat([Buffer.from([i & 0xff]), block.subarray(1)]))));
  const expected = await fileSha256(big);
  const bytes = TRANSFER_MB << 20;
  await waitAvailable(server);
  const url = await streamingUrl(server, { userId: 'bench-transfer', applicationId: 'xterm' });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(new URL('?scale=1', url).href);
  await waitStreaming(page);
  await page.waitForFunction(() => !document.getElementById('btn-files').hidden, null, { timeout: 30000 });
  await page.hover('#toolbar-handle');
  await page.click('#btn-files');
  const up = [];
  const down = [];
  for (let run = 0; run < TRANSFER_RUNS; run++) {
    const before = await page.evaluate(() => window.porthole.files.uploads.length);
    await page.setInputFiles('#files-picker', big);
    await page.waitForFunction((n) => window.porthole.files.uploads.length > n && window.porthole.files.uploads[n].endedAt !== null,
      before, { timeout: 300000, polling: 50 });
    const upload = await page.evaluate((n) => window.porthole.files.uploads[n], before);
    if (upload.error) throw new Error(`upload failed: ${upload.error}`);
    up.push(bytes / ((upload.endedAt - upload.startedAt) / 1000));
    await page.waitForFunction(() => document.querySelector('a[aria-label="Download big.bin"]'), null, { timeout: 30000 });
    const t0 = Date.now();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[aria-label="Download big.bin"]')]);
    const path = await download.path();
    down.push(bytes / ((Date.now() - t0) / 1000));
    if (await fileSha256(path) !== expected) throw new Error('the download differs from the upload');
    await download.delete();
    log(`transfer ${run + 1}/${TRANSFER_RUNS}: up ${(up.at(-1) / 2 ** 20).toFixed(0)} MiB/s, down ${(down.at(-1) / 2 ** 20).toFixed(0)} MiB/s`);
  }
  await context.close();
  return { up, down };
}

// ---------------------------------------------------------------- report

const ms = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const mibs = (v) => `${(v / 2 ** 20).toFixed(0)} MiB/s`;
const mark = (ok) => (ok ? 'pass' : '**FAIL**');


function render({ start, moved, chromium, problems }) {
  const L = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machine()}, headless Chromium ${chromium}, with`,
    `\`${process.env.BENCH_COMMAND ?? `node bench/files.mjs ${process.argv.slice(2).join(' ')}`}\` (release build; default ALWAYS_ON fleet, one waiting instance; local storage on ext4).`,
    '',
  ];
  if (start) {
    const on = median(start.withFolder);
    const off = median(start.without);
    L.push(
      `### Session start with a home folder of ${FILES} files`,
      '',
      `${TRIALS} trials each, alternating; page.goto -> first painted frame. "Attach" is the gateway's own time (its "home folder attached" log line): the id-mapped mount of the folder onto the waiting instance's slot, its quota check (a walk of the ${FILES} files) and the bookkeeping.`,
      '',
      '| | first frame, median | p90 | attach, median | p90 |',
      '|---|---|---|---|---|',
      `| with the home folder | ${ms(on)} | ${ms(percentile(start.withFolder, 90))} | **${ms(median(start.attach))}** | ${ms(percentile(start.attach, 90))} |`,
      `| without (no HOMEFOLDERS) | ${ms(off)} | ${ms(percentile(start.without, 90))} | – | – |`,
      '',
      `Difference of the first-frame medians: ${ms(on - off)}; on this shared 2-core machine such medians move by tens of ms between runs (compare the p90s), so the attach column, the gateway's own clock, is the cost itself.`,
      '',
    );
  }
  if (moved) {
    L.push(
      `### My Files: ${TRANSFER_MB} MB through the client on loopback`,
      '',
      `${TRANSFER_RUNS} runs; the upload through the panel (the file picker, XMLHttpRequest PUT, written to a partial file, fsync'd, renamed), timed by the page from send to load; the download through the panel's link (the browser's own download), from the click to the file complete; every download checked byte for byte (SHA-256).`,
      '',
      '| direction | median | slowest |',
      '|---|---|---|',
      `| upload | **${mibs(median(moved.up))}** | ${mibs(Math.min(...moved.up))} |`,
      `| download | **${mibs(median(moved.down))}** | ${mibs(Math.min(...moved.down))} |`,
      '',
    );
  }
  L.push('Targets:', '');
  if (start) L.push(`- ${mark(median(start.attach) < 50)}: attaching ${FILES} files adds ${ms(median(start.attach))} < 50 ms to an ALWAYS_ON session start`);
  if (moved) {
    L.push(`- ${mark(median(moved.up) >= 100e6)}: upload ${mibs(median(moved.up))} >= 100 MB/s`);
    L.push(`- ${mark(median(moved.down) >= 100e6)}: download ${mibs(median(moved.down))} >= 100 MB/s`);
  }
  if (problems.length) L.push('', 'Problems seen:', '', ...problems.map((p) => `- ${p}`));
  return L.join('\n');
}


// ---------------------------------------------------------------- main

await serveBenchmark({
  env: { PORTHOLE_LOG: 'warn,porthole_server::gateway=info' }, out: opt.out, marker: 'bench-files', heading: 'Home folders and My Files', log,
}, async ({ server, browser, result, part }) => {
  result.start = await part('session start', () => sessionStart(server, browser));
  result.moved = await part('transfers', () => transfers(server, browser));
}, render);
