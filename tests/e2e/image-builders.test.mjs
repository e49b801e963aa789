// Image builders end to end: an administrator streams a builder's desktop in headless
// Chromium, installs a package with apt-get from its terminal (from a repository built
// here, offline), adds the app with the image assistant and makes an image; a fleet on that
// image then streams the new app.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, openClient, fileText, untilPage } from './harness.mjs';
import {
  serveTest, appIn, createFleetAndStack, streamingUrl, RUNTIME_ROOT, waitBuilder, runInTerminal, startServe, stopServe,
} from './serve-harness.mjs';
import { PNG, helloRepo, createBuilder, builderTerminal } from './builder-harness.mjs';

const TIMEOUT = 240000;

describe('image builders', () => {
  test('a package installed in a builder becomes an image a fleet streams', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const created = await createBuilder(server, 'builder', { DisplayName: 'Builder' });
    assert.equal(created.State, 'PENDING');
    assert.match(created.Arn, /:image-builder\/builder$/);

    // The administrator's desktop on the builder: a terminal from its catalog.
    const { page, instance, temporary, files } = await builderTerminal(server, browser, 'builder');

    // The repository reaches the builder in its temporary files (as an upload would); only
    // it is updated (the host's sources need the internet).
    helloRepo(join(temporary, 'repo'));
    const list = '/etc/apt/sources.list.d/porthole-test.list';
    await runInTerminal(page,
      `echo "deb [trusted=yes] file:${files}/repo ./" > ${list} && ` +
      `apt-get update -o Dir::Etc::SourceList=${list} -o Dir::Etc::SourceParts=- > ${files}/apt.log 2>&1 && ` +
      `DEBIAN_FRONTEND=noninteractive apt-get install -y porthole-hello >> ${files}/apt.log 2>&1 && ` +
      `image-assistant add-application --name hello --absolute-app-path /usr/bin/porthole-hello > ${files}/added.json 2>&1 && ` +
      `image-assistant create-image --name hello-image --display-name Hello > ${files}/created.json 2>&1; ` +
      `echo $? > ${files}/done`,
    );
    await waitFor(async () => {
      const { Images } = await server.admin.call('DescribeImages', {});
      return Images.some((i) => i.Name === 'hello-image');
    }, {
      timeout: 60000, interval: 200, what: 'the builder to ask for the image',
      diag: () => `${server.tail()}\napt: ${fileText(join(temporary, 'apt.log'))}\nadded: ${fileText(join(temporary, 'added.json'))}` +
        `\ncreated: ${fileText(join(temporary, 'created.json'))}`,
    });
    // The builder stops to make it, then the image is AVAILABLE with the app's catalog entry.
    await waitBuilder(server, 'builder', 'STOPPED');
    const { Images: [image] } = await server.admin.call('DescribeImages', { Names: ['hello-image'] });
    assert.equal(image.State, 'AVAILABLE', JSON.stringify(image));
    assert.equal(image.DisplayName, 'Hello');
    const hello = image.Applications.find((a) => a.Name === 'hello');
    assert.ok(hello, JSON.stringify(image.Applications));
    assert.equal(hello.DisplayName, 'Porthole Hello', 'the display name comes from the .desktop entry');
    assert.equal(hello.LaunchPath, '/usr/bin/porthole-hello');
    // The host never saw the package: it is in the image's own layer.
    assert.ok(!existsSync('/usr/bin/porthole-hello'));
    const snapshots = readdirSync(join(server.dataDir, 'images', 'snapshots'));
    assert.equal(snapshots.length, 1);
    assert.ok(existsSync(join(server.dataDir, 'images', 'snapshots', snapshots[0], 'usr/bin/porthole-hello')));
    await page.close();

    // A fleet on the new image streams the new app, running on the image's files.
    await createFleetAndStack(server, 'hello', { ImageName: 'hello-image', ComputeCapacity: { DesiredInstances: 1 } });
    const url = await streamingUrl(server, { stack: 'hello', fleet: 'hello', userId: 'hana', applicationId: 'hello' });
    const app = await openClient(browser, url);
    await untilPage(app, () => window.porthole.windows.some((w) => w.title === 'porthole-hello'), 'the new app to stream');
    // Its icon, found through its .desktop entry, is the image's file.
    await untilPage(app, () => window.porthole.catalog?.apps?.some((a) => a.name === 'hello'), 'the catalog to load');
    const icon = await app.evaluate(async () => {
      const url = window.porthole.catalog.apps.find((a) => a.name === 'hello').iconUrl;
      const response = await fetch(url);
      return { status: response.status, type: response.headers.get('content-type'), size: (await response.arrayBuffer()).byteLength };
    });
    assert.deepEqual(icon, { status: 200, type: 'image/png', size: PNG.length });
    const { instance: fleetInstance } = await appIn(server, 'xterm', { exclude: [instance.id] });
    const report = join(RUNTIME_ROOT, fleetInstance.id, 'TemporaryFiles', 'hello.txt');
    await waitFor(() => fileText(report)?.includes('uid:'), { what: 'the app to report', diag: server.tail });
    assert.match(fileText(report), /^installed-in-the-builder$/m);
    assert.match(fileText(report), new RegExp(`^uid: ${fleetInstance.uid}$`, 'm'), 'it runs as the fleet instance uid');

    // The builder starts again over what it made; the image's base cannot be deleted under it.
    await server.admin.call('StartImageBuilder', { Name: 'builder' });
    await waitBuilder(server, 'builder', 'RUNNING');
    await assert.rejects(server.admin.call('DeleteImage', { Name: 'porthole-default' }), /ResourceInUseException/);
    await server.admin.call('DeleteImageBuilder', { Name: 'builder' });
    await waitFor(async () => {
      const { ImageBuilders } = await server.admin.call('DescribeImageBuilders', {});
      return ImageBuilders.length === 0;
    }, { timeout: 60000, interval: 200, what: 'the builder to be deleted', diag: server.tail });
    await waitFor(() => readdirSync(join(server.dataDir, 'images', 'builders')).length === 0, {
      what: 'the builder layer to be removed', diag: server.tail,
    });
  });

  // Each server installs its own copy of the agent executable in the runtime root, over the
  // last: a running sandbox keeps its copy, which /proc/self/exe then calls "(deleted)".
  // The builder's root owns the host's trees it builds on (id-mapped), yet sees of them only
  // what every user of the host may read.
  test('a builder\'s terminal is root in the image, sees only what others may read of the host, and stays so once another server has started', { timeout: TIMEOUT }, async (t) => {
    const secret = `/etc/porthole-e2e-secret-${process.pid}`;
    const scratch = `/var/tmp/porthole-e2e-scratch-${process.pid}`;
    writeFileSync(secret, 'the host\'s secret\n');
    chmodSync(secret, 0o600);
    writeFileSync(scratch, 'someone else\'s scratch file\n');
    chmodSync(scratch, 0o644);
    t.after(() => rmSync(secret, { force: true }));
    t.after(() => rmSync(scratch, { force: true }));
    const { server, browser } = await serveTest(t);
    await createBuilder(server, 'second');
    const other = await startServe();
    t.after(() => stopServe(other));
    const { page, temporary, files } = await builderTerminal(server, browser, 'second');
    const seen = (path) => `(test -e ${path} && echo ${path} seen || echo ${path} hidden)`;
    await runInTerminal(page,
      `(id -u; command -v image-assistant; grep '^root:' /etc/shadow | cut -d: -f2; ` +
      `${seen(secret)}; ${seen(scratch)}; ${seen('/etc/hostname')}) > ${files}/shell.txt; touch ${files}/shell.done`);
    await waitFor(() => existsSync(join(temporary, 'shell.done')), { what: 'the shell to answer', diag: server.tail });
    assert.deepEqual(fileText(join(temporary, 'shell.txt')).trim().split('\n'), [
      '0', '/run/porthole-bin/image-assistant',
      '*', // root's password, locked
      `${secret} hidden`, `${scratch} hidden`, '/etc/hostname seen',
    ]);
  });
});
