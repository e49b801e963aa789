// OCI image layouts built in a test from the host's own programs: a tiny root with a
// shell, cat, ls and xterm (their shared libraries found by ldd), as layers
// `docker save` or `skopeo copy oci:` would write.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync, readFileSync, chmodSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTmp } from './harness.mjs';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Copies `programs` (host paths) and every library they load into `root`. */
export function copyPrograms(root, programs) {
  const files = new Set(programs);
  for (const program of programs) {
    const ldd = execFileSync('ldd', [program], { encoding: 'utf8' });
    for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) files.add(m[1]);
  }
  for (const file of files) {
    const target = join(root, file);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(realpathSync(file), target);
    chmodSync(target, 0o755);
  }
}

/** A layer: the tar of `dir` (owned by root, as images are), as a blob. */
function layerBlob(dir) {
  return execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

/**
 * Writes an OCI layout at `dir` with `layerDirs` (lowest first) and `labels`; returns
 * the layout's blob paths (config, layers) so tests can damage them.
 */
export function writeLayout(dir, { layerDirs = [], layerBlobs = [], labels = {} }) {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes) => {
    const digest = sha256(bytes);
    writeFileSync(join(blobs, digest), bytes);
    return { digest: `sha256:${digest}`, size: bytes.length, path: join(blobs, digest) };
  };
  const layers = [...layerDirs.map(layerBlob), ...layerBlobs].map(put);
  const config = put(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Labels: labels },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size })),
  })));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size }],
  }));
  return { config, layers };
}

/**
 * The probe image: a base layer (sh, cat, ls, sleep, xterm and their libraries) and an app
 * layer (its /etc/os-release and /usr/bin/probe, which records what it sees of its root
 * in the session's temporary files, then opens an xterm titled probe). Its catalog is in the
 * label; the probe starts in /opt/probe, a directory only the image has. `scripts` adds
 * executable files to the app layer: { 'path/in/image': 'text' }.
 */
export function probeImage(catalog = [{ name: 'probe', display_name: 'Probe', launch_path: '/usr/bin/probe', working_directory: '/opt/probe' }], { scripts = {} } = {}) {
  const work = makeTmp('porthole-oci-');
  const base = join(work, 'base');
  copyPrograms(base, ['/bin/sh', '/bin/cat', '/bin/ls', '/bin/sleep', '/usr/bin/xterm']);
  const app = join(work, 'app');
  mkdirSync(join(app, 'etc'), { recursive: true });
  mkdirSync(join(app, 'usr/bin'), { recursive: true });
  mkdirSync(join(app, 'opt/probe'), { recursive: true });
  writeFileSync(join(app, 'etc/os-release'), 'ID=porthole-probe\nNAME="Porthole probe image"\n');
  writeFileSync(join(app, 'usr/bin/probe'), [
    '#!/bin/sh',
    'out="$HOME/MyFiles/TemporaryFiles/probe.txt"',
    'cat /etc/os-release > "$out"',
    'echo "root:" $(ls /) >> "$out"',
    'echo "cwd: $(pwd)" >> "$out"',
    'while read -r key value; do [ "$key" = Uid: ] && echo "uid: $value" >> "$out"; done < /proc/self/status',
    // The image has no locales nor Xlib's locale database: no input method to open.
    'export LC_ALL=C',
    'exec /usr/bin/xterm -xrm "XTerm*openIm: false" -T probe -e /bin/sh',
    '',
  ].join('\n'));
  chmodSync(join(app, 'usr/bin/probe'), 0o755);
  for (const [path, text] of Object.entries(scripts)) {
    mkdirSync(dirname(join(app, path)), { recursive: true });
    writeFileSync(join(app, path), text);
    chmodSync(join(app, path), 0o755);
  }
  const layout = join(work, 'layout');
  const blobs = writeLayout(layout, { layerDirs: [base, app], labels: { 'io.porthole.applications': JSON.stringify(catalog) } });
  return { layout, blobs, work };
}

/** The OCI archive of a layout (`skopeo copy ... oci-archive:` writes the same tar), beside it. */
export function archiveOf(layout) {
  const archive = `${layout}.tar`;
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', archive, '.']);
  return archive;
}

/** A tar whose one entry is named `name` (GNU tar would refuse to write `../`). */
export function tarWithEntry(name, text = 'x') {
  const script = [
    'import io, sys, tarfile',
    'buf = io.BytesIO()',
    'with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:',
    '    data = sys.argv[2].encode()',
    '    info = tarfile.TarInfo(sys.argv[1]); info.size = len(data); info.mode = 0o644',
    '    t.addfile(info, io.BytesIO(data))',
    'sys.stdout.buffer.write(buf.getvalue())',
  ].join('\n');
  return execFileSync('python3', ['-c', script, name, text]);
}

export const readBlob = (blob) => readFileSync(blob.path);
