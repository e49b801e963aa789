// The Image Assistant panel (web/image-assistant.js) of an image builder's session, in
// headless Chromium: a package installed from the builder's terminal shows up with its
// .desktop name and icon, is added to the catalog with a click, a bad entry is refused
// with the image assistant's reason, and "Create image" makes the image a fleet can use.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, openClient, fileText, untilPage as until } from './harness.mjs';
import {
  serveTest, streamingUrl, waitBuilder, runInTerminal,
} from './serve-harness.mjs';
import { PNG, helloDeb, createBuilder, builderTerminal } from './builder-harness.mjs';

const TIMEOUT = 240000;

const assistant = (page) => page.evaluate(() => window.porthole.imageAssistant);

/** What fetching `url` from the page gives: status, type and size. */
const fetched = (page, url) => page.evaluate(async (u) => {
  const response = await fetch(u);
  return { status: response.status, type: response.headers.get('content-type'), size: (await response.arrayBuffer()).byteLength };
}, url);

describe('the Image Assistant panel', () => {
  test('adds an installed package\'s app, refuses a bad one, and creates the image', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    await createBuilder(server, 'gui');
    const { page, instance, temporary, files } = await builderTerminal(server, browser, 'gui');

    // A package installed from the builder's terminal.
    const deb = join(temporary, 'porthole-hello.deb');
    copyFileSync(helloDeb(), deb);
    chownSync(deb, instance.uid, instance.uid);
    await runInTerminal(page, `dpkg -i ${files}/porthole-hello.deb > ${files}/dpkg.log 2>&1; echo $? > ${files}/dpkg.done`);
    await waitFor(() => fileText(join(temporary, 'dpkg.done')) !== null, {
      timeout: 30000, what: 'dpkg to finish', diag: () => fileText(join(temporary, 'dpkg.log')) ?? '',
    });
    assert.equal(fileText(join(temporary, 'dpkg.done')).trim(), '0', fileText(join(temporary, 'dpkg.log')));

    // The panel lists it among the installed apps, with its .desktop name and icon.
    await until(page, () => window.porthole.imageAssistant.available, 'the Image Assistant button');
    const listings = (await assistant(page)).listings;
    await page.hover('#toolbar-handle');
    await page.click('#btn-image-assistant');
    await until(page, (n) => window.porthole.imageAssistant.listings > n && !document.getElementById('image-assistant').hidden,
      'the panel to open', listings);
    let state = await assistant(page);
    assert.equal(state.builder, 'gui');
    assert.deepEqual(state.catalog, []);
    const installed = state.installed.find((a) => a.name === 'porthole-hello');
    assert.ok(installed, JSON.stringify(state.installed.map((a) => a.name)));
    assert.equal(installed.displayName, 'Porthole Hello');
    assert.equal(installed.launchPath, '/usr/bin/porthole-hello');
    assert.equal(installed.inCatalog, false);
    assert.deepEqual(await fetched(page, installed.iconUrl), { status: 200, type: 'image/png', size: PNG.length });

    page.on('dialog', (dialog) => dialog.accept());
    // No image of an empty catalog.
    await page.fill('#ia-image-form input[name=name]', 'gui-image');
    await page.click('#ia-image-form button[type=submit]');
    await until(page, () => window.porthole.imageAssistant.status.includes('catalog is empty'), 'the empty catalog refused');

    // One click adds it; the image assistant inside the builder wrote the entry.
    await page.click('[aria-label="Add Porthole Hello to the image"]');
    await until(page, () => window.porthole.imageAssistant.catalog.some((a) => a.name === 'porthole-hello'), 'the app added');
    state = await assistant(page);
    const entry = state.catalog[0];
    assert.equal(entry.displayName, 'Porthole Hello');
    assert.equal(entry.launchPath, '/usr/bin/porthole-hello');
    assert.equal(entry.problem, null);
    assert.equal(state.installed.find((a) => a.name === 'porthole-hello').inCatalog, true);
    assert.deepEqual(await fetched(page, entry.iconUrl), { status: 200, type: 'image/png', size: PNG.length });

    // A program that is not there is refused with the image assistant's reason.
    await page.click('#image-assistant summary');
    await page.fill('#ia-add-form input[name=name]', 'broken');
    await page.fill('#ia-add-form input[name=launchPath]', '/no/such/app');
    await page.click('#ia-add-form button[type=submit]');
    await until(page, () => window.porthole.imageAssistant.status.includes('not an executable file'), 'the bad app refused');
    // Another, by hand, then removed again.
    await page.fill('#ia-add-form input[name=name]', 'terminal');
    await page.fill('#ia-add-form input[name=launchPath]', '/usr/bin/xterm');
    await page.fill('#ia-add-form input[name=displayName]', 'Terminal');
    await page.click('#ia-add-form button[type=submit]');
    await until(page, () => window.porthole.imageAssistant.catalog.some((a) => a.name === 'terminal'), 'terminal added');
    await page.click('[aria-label="Remove terminal from the image"]');
    await until(page, () => window.porthole.imageAssistant.catalog.every((a) => a.name !== 'terminal'), 'terminal removed');
    assert.deepEqual((await assistant(page)).catalog.map((a) => a.name), ['porthole-hello']);

    // Create image: the builder stops (ending this session) and the image becomes AVAILABLE.
    await page.fill('#ia-image-form input[name=displayName]', 'GUI image');
    await page.click('#ia-image-form button[type=submit]');
    await until(page, () => window.porthole.imageAssistant.image?.image === 'gui-image', 'the image accepted');
    assert.equal((await assistant(page)).image.state, 'PENDING');
    await until(page, () => window.porthole.state === 'closed', 'the session to end as the builder stops');
    await waitBuilder(server, 'gui', 'STOPPED');
    const { Images: [image] } = await server.admin.call('DescribeImages', { Names: ['gui-image'] });
    assert.equal(image.State, 'AVAILABLE', JSON.stringify(image));
    assert.equal(image.DisplayName, 'GUI image');
    assert.deepEqual(image.Applications.map((a) => [a.Name, a.DisplayName, a.LaunchPath]),
      [['porthole-hello', 'Porthole Hello', '/usr/bin/porthole-hello']]);
  });

  test('is an image builder\'s only: a fleet session has none', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const page = await openClient(browser, await streamingUrl(server, { userId: 'ivy', applicationId: 'xterm' }));
    await until(page, () => window.porthole.files?.available, 'the session\'s panels to be looked for');
    assert.equal(await page.evaluate(() => document.getElementById('btn-image-assistant').hidden), true);
    const answer = await page.evaluate(async () => {
      const response = await fetch('image-assistant');
      return { status: response.status, body: await response.json() };
    });
    assert.equal(answer.status, 404);
    assert.match(answer.body.message, /image builders' sessions only/);
  });
});
