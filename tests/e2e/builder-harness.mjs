// What the image builder tests share: a .deb built here (offline) to install in a
// builder, and a builder streamed to a page with its root terminal open.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, openClient, makeTmp, pageUntil } from './harness.mjs';
import { appIn, RUNTIME_ROOT } from './serve-harness.mjs';

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

export async function builderState(server, name) {
  const { ImageBuilders } = await server.admin.call('DescribeImageBuilders', { Names: [name] });
  return ImageBuilders[0];
}

/** Waits for the builder `name` to reach `state`. */
export async function builderReaches(server, name, state, what = `the builder to be ${state}`) {
  await waitFor(async () => (await builderState(server, name))?.State === state, {
    timeout: 60000, interval: 200, what, diag: server.tail,
  });
}

/**
 * The builder `name` (RUNNING) streamed to a page whose terminal, picked from the builder's
 * catalog, is open: its instance and temporary files folder (the instance's, on the host).
 */
export async function builderTerminal(server, browser, name) {
  const { StreamingURL } = await server.admin.call('CreateImageBuilderStreamingURL', { Name: name, Validity: 600 });
  const page = await openClient(browser, StreamingURL);
  await pageUntil(page, () => window.porthole.catalog?.shown, 'the builder catalog to show');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.app), 'xterm');
  await page.keyboard.press('Enter');
  const { instance } = await appIn(server, 'xterm');
  await pageUntil(page, () => window.porthole.windows.some((w) => w.title === 'Image builder (root)'), 'the builder terminal');
  return { page, instance, temporary: join(RUNTIME_ROOT, instance.id, 'TemporaryFiles') };
}
