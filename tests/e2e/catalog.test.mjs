// The application catalog end to end: a streaming URL without ApplicationId opens on
// the stack's catalog, the user's pick starts in the session, the toolbar's
// Applications menu starts more apps into the same session, and the catalog's
// endpoints refuse what is not theirs to give.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, openClient, environ, untilPage } from './harness.mjs';
import { serveTest, appIn, instances, streamingUrl, DEFAULT_NAME } from './serve-harness.mjs';

const TIMEOUT = 120000;

/** POST /session/TOKEN/launch from the page (its own origin): { status, body }. */
const postLaunch = (page, url, app) => page.evaluate(async ([u, a]) => {
  const res = await fetch(new URL('launch', u), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ app: a }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}, [url, app]);

/** The comms of the processes in the server's only instance, and that instance. */
function onlyInstance(server) {
  const all = instances(server);
  assert.equal(all.length, 1, `one instance expected, got ${all.map((i) => i.id)}`);
  server.instanceIds.add(all[0].id);
  return all[0];
}

const xterms = (server) => onlyInstance(server).procs.filter((p) => p.comm === 'xterm');

describe('the application catalog', { concurrency: 2 }, () => {
  test('a URL without ApplicationId shows the catalog; picks and the Applications menu start apps in the one session', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const url = await streamingUrl(server, { userId: 'picker' });
    const page = await openClient(browser, url);

    await untilPage(page, () => window.porthole.catalog?.shown, 'the catalog overlay to show');
    const catalog = await page.evaluate(() => window.porthole.catalog);
    assert.equal(catalog.applicationId, null);
    assert.deepEqual(catalog.started, []);
    assert.equal(catalog.apps[0].name, 'xterm', `xterm first: ${JSON.stringify(catalog.apps)}`);
    assert.equal(catalog.apps[0].displayName, 'XTerm');
    // The first tile has the keyboard, and its icon loaded.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.app), 'xterm');
    const tile = '#catalog-grid [data-app="xterm"]';
    await untilPage(page, (sel) => document.querySelector(`${sel} img`)?.complete, 'the xterm icon to load', tile);
    assert.ok(await page.$eval(`${tile} img`, (img) => img.naturalWidth) > 0, 'the xterm icon has pixels');

    // The session is ready (the page streams) and no app runs before the pick.
    const before = onlyInstance(server);
    assert.deepEqual(before.procs.filter((p) => p.comm === 'xterm'), [], 'no app before the pick');
    assert.deepEqual(await page.evaluate(() => window.porthole.windows), []);

    // The pick, by keyboard: Enter on the focused tile.
    await page.keyboard.press('Enter');
    const { app: xterm } = await appIn(server, 'xterm');
    await untilPage(page, () => window.porthole.windows.some((w) => /xterm/i.test(w.title)), 'the xterm window to stream');
    await untilPage(page, () => !window.porthole.catalog.shown, 'the catalog overlay to hide');
    assert.equal(await page.isHidden('#catalog'), true);
    const env = environ(xterm.pid);
    assert.equal(env.AppStream_UserName, 'picker');
    assert.equal(env.AppStream_Stack_Name, DEFAULT_NAME);
    assert.ok(env.AppStream_Session_ID, 'the session environment');

    // A second app from the toolbar's Applications menu, into the same session.
    await page.hover('#toolbar-handle');
    await page.click('#btn-apps');
    await page.click('#catalog-menu [data-app="xterm"]');
    await waitFor(() => xterms(server).length === 2, { what: 'a second xterm in the instance', diag: server.tail });
    await untilPage(page, () => window.porthole.windows.filter((w) => /xterm/i.test(w.title)).length === 2, 'two xterm windows');
    const [, second] = xterms(server);
    assert.equal(environ(second.pid).AppStream_Session_ID, env.AppStream_Session_ID, 'the same session');

    // Only catalog apps, and nothing starts otherwise.
    for (const name of ['no-such-app', '/usr/bin/xterm', '../xterm', '']) {
      const refused = await postLaunch(page, url, name);
      assert.equal(refused.status, 404, `${name}: ${JSON.stringify(refused)}`);
      assert.match(refused.body.message, /not an application of this session's catalog/);
    }
    assert.equal(xterms(server).length, 2, 'nothing was started by refused launches');
    const status = await page.evaluate(async (u) => (await fetch(new URL('catalog', u))).json(), url);
    assert.deepEqual(status.started, ['xterm', 'xterm']);
  });

  test('once the streaming URL expired, its session\'s page still launches apps and ends the session', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);
    const url = await streamingUrl(server, { userId: 'lingerer', applicationId: 'xterm', validity: 2 });
    const page = await openClient(browser, url);
    await appIn(server, 'xterm');
    const expires = Number(JSON.parse(Buffer.from(new URL(url).pathname.split('/')[2].split('.')[0], 'base64url')).expires);
    await waitFor(() => Date.now() > expires + 500, { timeout: 10000, what: 'the URL to expire' });
    // A new page cannot open it any more...
    assert.equal((await fetch(url)).status, 403);
    // ...but the session's own page goes on: a second app, then End session.
    const launched = await postLaunch(page, url, 'xterm');
    assert.equal(launched.status, 200, JSON.stringify(launched));
    await waitFor(() => xterms(server).length === 2, { what: 'the second xterm', diag: server.tail });
    const ended = await page.evaluate(async (u) => (await fetch(new URL('end', u), { method: 'POST' })).status, url);
    assert.equal(ended, 204);
    // With the session gone, the expired URL reaches nothing.
    const after = await page.evaluate(async (u) => (await fetch(new URL('catalog', u))).status, url);
    assert.equal(after, 403);
  });

  test('with ApplicationId the app starts and the catalog stays in the menu; bad tokens and unknown icons are refused', { timeout: TIMEOUT }, async (t) => {
    const { server, browser } = await serveTest(t);

    // DescribeImages names an icon URL the admin can fetch.
    const { Images } = await server.admin.call('DescribeImages', { Names: [DEFAULT_NAME] });
    const xtermApp = Images[0].Applications.find((a) => a.Name === 'xterm');
    assert.equal(xtermApp.IconURL, `${server.endpoint}/catalog/icons/${DEFAULT_NAME}/xterm`);
    const icon = await fetch(xtermApp.IconURL);
    assert.equal(icon.status, 200);
    assert.match(icon.headers.get('content-type'), /^image\/(png|svg\+xml)$/);
    assert.ok((await icon.arrayBuffer()).byteLength > 0);
    for (const path of [`${DEFAULT_NAME}/no-such-app`, 'no-such-image/xterm', `${DEFAULT_NAME}/..%2F..%2Fetc%2Fpasswd`]) {
      assert.equal((await fetch(`${server.endpoint}/catalog/icons/${path}`)).status, 404, path);
    }

    // A URL naming its app starts it at once: no overlay, the menu is there.
    const url = await streamingUrl(server, { userId: 'named', applicationId: 'xterm' });
    const page = await openClient(browser, url);
    await appIn(server, 'xterm');
    await untilPage(page, () => window.porthole.catalog?.available && !window.porthole.catalog.shown
      && window.porthole.catalog.applicationId === 'xterm', 'the catalog to load without showing');
    assert.equal(await page.isHidden('#btn-apps'), false, 'the Applications button is shown');

    // Tampered and expired tokens are refused by both endpoints (reading a token's
    // catalog opens no session, so these leave the single instance alone).
    const token = new URL(url).pathname.split('/')[2];
    const i = Math.floor(token.length / 2);
    const tampered = url.replace(token, token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1));
    const short = await streamingUrl(server, { userId: 'late', validity: 1, applicationId: 'xterm' });
    await waitFor(async () => (await fetch(new URL('catalog', short))).status === 403, {
      timeout: 5000, interval: 100, what: 'the 1 s URL to expire',
    });
    for (const [what, bad] of [['tampered', tampered], ['expired', short]]) {
      const read = await fetch(new URL('catalog', bad));
      assert.equal(read.status, 403, `${what} catalog`);
      assert.match((await read.json()).message, what === 'expired' ? /expired/ : /not valid/);
      const launch = await fetch(new URL('launch', bad), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ app: 'xterm' }),
      });
      assert.equal(launch.status, 403, `${what} launch`);
    }
    assert.equal(xterms(server).length, 1, 'refused launches started nothing');
  });
});
