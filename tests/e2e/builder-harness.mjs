// What the image builder tests share: a builder on the default image and its terminal in
// headless Chromium, a .deb built here (offline) to install in a builder, and an apt
// repository holding it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmp, openClient } from './harness.mjs';
import { appIn, openBuilderTerminal, waitBuilder, RUNTIME_ROOT } from './serve-harness.mjs';

/** CreateImageBuilder on the default image (with `input`'s members too), once RUNNING: what it answered. */
export async function createBuilder(server, name, input = {}) {
  const { ImageBuilder } = await server.admin.call('CreateImageBuilder', {
    Name: name, ImageName: 'porthole-default', InstanceType: 'stream.standard.medium', ...input,
  });
  await waitBuilder(server, name, 'RUNNING');
  return ImageBuilder;
}

/**
 * The running builder `name`'s desktop in a new page with its terminal open: the page, the
 * builder's instance, and its temporary files on the host (`$HOME/MyFiles/TemporaryFiles`
 * inside, `files`).
 */
export async function builderTerminal(server, browser, name) {
  const { StreamingURL } = await server.admin.call('CreateImageBuilderStreamingURL', { Name: name, Validity: 600 });
  const page = await openClient(browser, StreamingURL);
  await openBuilderTerminal(page);
  const { instance } = await appIn(server, 'xterm');
  const temporary = join(RUNTIME_ROOT, instance.id, 'TemporaryFiles');
  return { page, instance, temporary, files: '$HOME/MyFiles/TemporaryFiles' };
}

// A 1x1 PNG: the app's icon, found through its .desktop entry's Icon= name.
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
);

/** A .deb installing /usr/bin/porthole-hello (reports what it sees, then opens a window). */
export function helloDeb() {
  const dir = makeTmp('porthole-deb-');
  const root = join(dir, 'pkg');
  const file = (path, text, mode = 0o644) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  };
  file('DEBIAN/control', [
    'Package: porthole-hello', 'Version: 1.0', 'Architecture: all',
    'Maintainer: Porthole tests <tests@porthole.invalid>', 'Description: an app installed in an image builder', '',
  ].join('\n'));
  file('etc/porthole-hello.conf', 'installed-in-the-builder\n');
  file('usr/bin/porthole-hello', [
    '#!/bin/sh',
    'out="$HOME/MyFiles/TemporaryFiles/hello.txt"',
    'cat /etc/porthole-hello.conf > "$out"',
    'echo "uid: $(id -u)" >> "$out"',
    'exec xterm -T porthole-hello',
    '',
  ].join('\n'), 0o755);
  file('usr/share/applications/porthole-hello.desktop', [
    '[Desktop Entry]', 'Type=Application', 'Name=Porthole Hello', 'Exec=porthole-hello', 'Icon=porthole-hello', '',
  ].join('\n'));
  file('usr/share/icons/hicolor/48x48/apps/porthole-hello.png', PNG);
  const deb = join(dir, 'porthole-hello.deb');
  const built = spawnSync('dpkg-deb', ['--root-owner-group', '--build', root, deb], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  return deb;
}

/** A flat apt repository in `dir` (created) holding helloDeb(): `deb [trusted=yes] file:DIR ./`. */
export function helloRepo(dir) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(helloDeb(), join(dir, 'porthole-hello.deb'));
  const scanned = spawnSync('dpkg-scanpackages', ['.'], { cwd: dir, encoding: 'utf8' });
  assert.equal(scanned.status, 0, scanned.stderr);
  writeFileSync(join(dir, 'Packages'), scanned.stdout);
  return dir;
}
