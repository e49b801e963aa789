// Images from OCI: an image layout built in the test is imported with `porthole image
// import`, a fleet runs on it, and its app streams in headless Chromium while running on
// the image's root (not the host's); bad images are refused with clear errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, openClient, portholeBin, fileText, clientDiag, untilPage } from './harness.mjs';
import { serveTest, appIn, createFleetAndStack, streamingUrl, describeSessions, RUNTIME_ROOT } from './serve-harness.mjs';
import { probeImage, writeLayout, tarWithEntry, readBlob } from './oci-image.mjs';

const TIMEOUT = 180000;

/** `porthole image import` against the server: { status, json, stderr }. */
function importImage(server, name, source) {
  const done = spawnSync(portholeBin(), [
    'image', 'import', '--name', name, '--endpoint', server.endpoint,
    '--credentials', join(server.dataDir, 'credentials'), source,
  ], { encoding: 'utf8', env: { ...process.env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined } });
  return { status: done.status, json: done.status === 0 ? JSON.parse(done.stdout) : null, stderr: done.stderr };
}

const roots = (server) => readdirSync(join(server.dataDir, 'images', 'roots'));

const SCRIPTS = '/opt/appstream/SessionScripts';
/** An image's session scripts: config.json (AppStream's format) and the scripts it names. */
function sessionScripts({ start = [], startWaiting = 30, termination = [], terminationWaiting = 20, files = {} }) {
  const section = (executables, waitingTime) => ({
    executables: executables.map(([context, filename, args = '']) => ({ context, filename, arguments: args, s3LogEnabled: true })),
    waitingTime,
  });
  const config = { SessionStart: section(start, startWaiting), SessionTermination: section(termination, terminationWaiting) };
  return { [`${SCRIPTS}/config.json`.slice(1)]: JSON.stringify(config), ...files };
}

describe('images from OCI', { concurrency: 2 }, () => {
  test('an imported OCI layout becomes an image whose app streams from the image root', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const { layout } = probeImage();
    const imported = importImage(server, 'probe-image', layout);
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(imported.json.Image.Name, 'probe-image');
    assert.equal(imported.json.Image.State, 'AVAILABLE');
    assert.deepEqual(imported.json.Image.Applications.map((a) => [a.Name, a.DisplayName, a.LaunchPath]),
      [['probe', 'Probe', '/usr/bin/probe']]);
    const { Images } = await server.admin.call('DescribeImages', { Names: ['probe-image'] });
    assert.equal(Images[0].Arn, imported.json.Image.Arn);
    // The same name again is refused, and leaves no second root behind.
    const again = importImage(server, 'probe-image', layout);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /ResourceAlreadyExistsException/);
    assert.equal(roots(server).length, 1);

    await createFleetAndStack(server, 'oci', { ImageName: 'probe-image', ComputeCapacity: { DesiredInstances: 1 } });
    const url = await streamingUrl(server, { stack: 'oci', fleet: 'oci', userId: 'olga', applicationId: 'probe' });
    const page = await openClient(browser, url).catch((e) => { throw new Error(`${e.message}\n${server.tail()}`); });
    const { instance } = await appIn(server, 'xterm');
    try {
      await page.waitForFunction(() => window.porthole.windows.some((w) => w.title === 'probe'), null, { timeout: 30000 });
    } catch (e) {
      throw new Error(`the probe window to stream: ${e.message}\n${await clientDiag(page)}`);
    }
    // What the app saw: the image's /etc and the image's top level, as its own uid.
    const probe = join(RUNTIME_ROOT, instance.id, 'TemporaryFiles', 'probe.txt');
    await waitFor(() => fileText(probe)?.includes('uid:'), { what: 'the probe to report', diag: server.tail });
    const seen = fileText(probe);
    assert.match(seen, /^ID=porthole-probe$/m, seen);
    assert.doesNotMatch(seen, /debian/i, 'the host /etc stays out of the image');
    const top = /^root: (.*)$/m.exec(seen)[1].trim().split(' ');
    assert.ok(top.includes('usr') && top.includes('home') && top.includes('tmp'), seen);
    assert.ok(!top.includes('srv') && !top.includes('boot'), `the host's top level stays out: ${top}`);
    assert.match(seen, new RegExp(`^uid: ${instance.uid}\\b`, 'm'), 'the app runs as the instance uid');
    assert.match(seen, /^cwd: \/opt\/probe$/m, 'the app starts in its working directory, inside the image');

    // In use by a fleet: DeleteImage refuses; once the fleet is gone, it deletes the root too.
    await assert.rejects(server.admin.call('DeleteImage', { Name: 'probe-image' }), /ResourceInUseException/);
    await page.close();
    await server.admin.call('StopFleet', { Name: 'oci' });
    await waitFor(async () => {
      const { Fleets } = await server.admin.call('DescribeFleets', { Names: ['oci'] });
      return Fleets[0].State === 'STOPPED';
    }, { timeout: 60000, interval: 200, what: 'the fleet to stop' });
    await server.admin.call('DisassociateFleet', { FleetName: 'oci', StackName: 'oci' });
    await server.admin.call('DeleteFleet', { Name: 'oci' });
    await server.admin.call('DeleteImage', { Name: 'probe-image' });
    assert.deepEqual(roots(server), [], 'the root of the deleted image is removed');
  });

  test("an image's session scripts run as its sessions start and end, and a failing one warns the user", { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const scripts = sessionScripts({
      start: [['system', `${SCRIPTS}/start-system.sh`, 'alpha beta'], ['user', `${SCRIPTS}/start-user.sh`]],
      termination: [['user', `${SCRIPTS}/end-user.sh`]],
      files: {
        'opt/appstream/SessionScripts/start-system.sh': '#!/bin/sh\necho "system script got $1 $2"\necho "no license server" >&2\nexit 3\n',
        'opt/appstream/SessionScripts/start-user.sh':
          '#!/bin/sh\necho "$AppStream_UserName $AppStream_Session_ID $AppStream_Stack_Name" > "$HOME/MyFiles/TemporaryFiles/session-start.txt"\n',
        // Slow on purpose: the instance's stop must wait for it.
        'opt/appstream/SessionScripts/end-user.sh': '#!/bin/sh\nsleep 1\necho "ending $AppStream_Session_ID"\n',
      },
    });
    const { layout } = probeImage(undefined, { scripts });
    const imported = importImage(server, 'scripted', layout);
    assert.equal(imported.status, 0, imported.stderr);
    await createFleetAndStack(server, 'scripted', { ImageName: 'scripted', ComputeCapacity: { DesiredInstances: 1 } });
    const url = await streamingUrl(server, { stack: 'scripted', fleet: 'scripted', userId: 'sam', applicationId: 'probe' });
    const page = await openClient(browser, url).catch((e) => { throw new Error(`${e.message}\n${server.tail()}`); });
    const { instance } = await appIn(server, 'xterm');
    const temporary = join(RUNTIME_ROOT, instance.id, 'TemporaryFiles');
    await waitFor(() => fileText(join(temporary, 'probe.txt'))?.includes('uid:'), { what: 'the probe to start', diag: server.tail });
    const [session] = await describeSessions(server, { stack: 'scripted', fleet: 'scripted', userId: 'sam' });
    // The start scripts ran before the app, with the session's AppStream environment.
    assert.equal(fileText(join(temporary, 'session-start.txt')), `sam ${session.Id} scripted\n`);
    // The system script exited 3: the user is told, the session goes on.
    await untilPage(page, () => window.porthole.notices.some((n) => n.kind === 4), 'the failed-script notice');
    const notice = await page.evaluate(() => window.porthole.notices.find((n) => n.kind === 4).text);
    assert.match(notice, /session script of this image failed: your session goes on/);
    const logs = join(server.dataDir, 'session-scripts', session.Id);
    const systemLog = fileText(join(logs, 'SessionStart-system.log'));
    assert.match(systemLog, /^exited with code 3$/m, systemLog);
    assert.match(systemLog, /system script got alpha beta/);
    assert.match(systemLog, /no license server/);
    assert.match(fileText(join(logs, 'SessionStart-user.log')), /^exited with code 0$/m);
    assert.equal(fileText(join(logs, 'SessionTermination-user.log')), null, 'termination scripts wait for the end');

    // The end: the termination script runs to its end before the instance stops.
    await server.admin.call('ExpireSession', { SessionId: session.Id });
    const ending = join(logs, 'SessionTermination-user.log');
    await waitFor(() => fileText(ending) !== null, { timeout: 30000, what: 'the termination script', diag: server.tail });
    assert.match(fileText(ending), /^exited with code 0$/m, fileText(ending));
    assert.match(fileText(ending), new RegExp(`^ending ${session.Id}$`, 'm'));
  });

  test('bad images are refused with clear errors and leave nothing behind', { timeout: TIMEOUT }, async (t) => {
    const { server } = await serveTest(t);
    const refused = (name, source, pattern) => {
      const result = importImage(server, name, source);
      assert.notEqual(result.status, 0, `${name} was accepted`);
      assert.match(result.stderr, pattern, name);
    };
    // A layer whose bytes no longer match its digest (checked when it is first unpacked).
    const corrupt = probeImage();
    const blob = corrupt.blobs.layers[1];
    const bytes = readBlob(blob);
    bytes[600] ^= 0xff;
    writeFileSync(blob.path, bytes);
    refused('corrupt-layer', corrupt.layout, /digest/);
    // A catalog naming a program the image lacks (its layers, unpacked once, are kept
    // for the next import that shares them).
    const missing = probeImage([{ name: 'ghost', launch_path: '/usr/bin/not-there' }]);
    refused('missing-launch-path', missing.layout, /launch path \/usr\/bin\/not-there is not an executable file in the image/);
    // Session scripts outside AppStream's bounds, or naming a script the image lacks.
    const slow = probeImage(undefined, { scripts: sessionScripts({ start: [['user', '/usr/bin/probe']], startWaiting: 90 }) });
    refused('slow-scripts', slow.layout, /SessionStart: waitingTime is 90 s; at most 60 s/);
    const lost = probeImage(undefined, { scripts: sessionScripts({ termination: [['system', `${SCRIPTS}/gone.sh`]] }) });
    refused('lost-script', lost.layout, /SessionTermination: the "system" script \/opt\/appstream\/SessionScripts\/gone.sh is not an executable file/);
    // A layer that writes outside the root.
    const evil = join(missing.work, 'evil');
    writeLayout(evil, { layerBlobs: [tarWithEntry('../../escaped')], labels: {} });
    refused('traversal', evil, /path traversal/);
    // Not an image at all.
    const junk = join(missing.work, 'junk.tar');
    writeFileSync(junk, 'not a tar');
    refused('junk', junk, /InvalidParameterValueException/);
    assert.deepEqual(roots(server), []);
    const { Images } = await server.admin.call('DescribeImages', {});
    assert.deepEqual(Images.map((i) => i.Name), ['porthole-default']);
    assert.ok(!existsSync(join(server.dataDir, '..', 'escaped')));
  });
});
