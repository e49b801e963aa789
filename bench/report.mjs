// What the benchmarks' reports share: the machine line, sizes on disk, running a
// benchmark of `porthole serve` and writing a marked section of docs/performance.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { REPO, launchBrowser } from '../tests/e2e/harness.mjs';
import { startServe, stopServe } from '../tests/e2e/serve-harness.mjs';

/** "2 cores (model), 24 GiB, porthole <rev>[ + uncommitted changes]". */
export function machine() {
  const git = (...a) => execFileSync('git', ['-C', REPO, ...a], { encoding: 'utf8' }).trim();
  let rev = 'unknown';
  try {
    rev = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? ' + uncommitted changes' : '');
  } catch { /* not a checkout */ }
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, porthole ${rev}`;
}

/** Bytes on disk under `path` (du: blocks allocated, each hard-linked file once). */
export const du = (path) => Number(execFileSync('du', ['-s', '--block-size=1', path], { encoding: 'utf8' }).split('\t')[0]);

/**
 * A benchmark part's runner: `await part(label, f)` answers f's result, or records its
 * failure in `result.problems` (and logs it with the server's log) and answers undefined,
 * so that one failing part still leaves a report of the others.
 */
export function partRunner(result, server, log) {
  return async (label, f) => {
    try {
      return await f();
    } catch (e) {
      result.problems.push(`${label}: ${e.message.split('\n').slice(0, 4).join(' | ')}`);
      log(`${label} failed: ${e.message}\n${server.tail()}`);
      return undefined;
    }
  };
}

/**
 * A benchmark of `porthole serve` from start to report: a server (`env` added to its
 * environment) and headless Chromium, `body({ server, browser, result, part })` (part:
 * see partRunner), the teardown (its failure one more problem), then `render(result)`
 * printed and, unless `out` is '-', written as the section `marker` of `out`.
 * `result` starts as { problems, chromium }.
 */
export async function serveBenchmark({ env = { PORTHOLE_LOG: 'warn' }, out, marker, heading, log }, body, render) {
  const server = await startServe({ env });
  log(`serving at ${server.endpoint}`);
  const browser = await launchBrowser();
  const result = { problems: [], chromium: browser.version() };
  try {
    await body({ server, browser, result, part: partRunner(result, server, log) });
  } finally {
    await browser.close();
    await stopServe(server).catch((e) => result.problems.push(`teardown: ${e.message.split('\n')[0]}`));
  }
  const text = render(result);
  console.log(text);
  if (out !== '-') writeSection(out, marker, heading, text);
}

/**
 * Replaces (or appends) the section between `<!-- MARKER:start -->` and
 * `<!-- MARKER:end -->` of the Markdown file at `path` (relative to the repository).
 */
export function writeSection(path, marker, heading, text) {
  const file = resolve(REPO, path);
  const section = `<!-- ${marker}:start -->\n## ${heading}\n\n${text}\n<!-- ${marker}:end -->`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Performance\n\n';
  const re = new RegExp(`<!-- ${marker}:start -->[\\s\\S]*?<!-- ${marker}:end -->`);
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, doc);
}
