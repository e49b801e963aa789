// What the image builder tests share: a .deb built here (offline) to install in a builder,
// and an apt repository holding it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmp } from './harness.mjs';

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
