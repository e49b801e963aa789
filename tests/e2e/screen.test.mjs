// The X screen follows the browser viewport (device pixels; ?scale=1, DPR 1).
import test from 'node:test';
import { session, waitFor, rootSize } from './harness.mjs';

test('resizing the viewport resizes the X screen', { timeout: 90000 }, async (t) => {
  const s = await session(t, { app: ['xterm'], viewport: { width: 1280, height: 720 }, query: '?scale=1' });
  for (const [width, height] of [[1000, 700], [800, 600]]) {
    await s.page.setViewportSize({ width, height });
    let seen;
    await waitFor(async () => {
      const root = await rootSize(s.xenv);
      const client = await s.page.evaluate(() => {
        const c = document.querySelector('#screen');
        return { screen: window.porthole.screen, canvas: { width: c.width, height: c.height } };
      });
      seen = { root, ...client };
      return [root, client.screen, client.canvas].every((r) => r.width === width && r.height === height);
    }, {
      timeout: 10000,
      what: `X root, porthole.screen and the canvas to become ${width}x${height}`,
      diag: async () => `last seen: ${JSON.stringify(seen)}\n${await s.diag()}`,
    });
  }
});
