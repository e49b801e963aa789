// Clipboard text in both directions between the X CLIPBOARD selection and the browser.
import test from 'node:test';
import { session, waitFor, focusApp, xrun, xspawn } from './harness.mjs';

test('clipboard travels X -> browser and browser -> X', { timeout: 90000 }, async (t) => {
  const s = await session(t, { app: ['xterm'], permissions: ['clipboard-read', 'clipboard-write'] });

  // X -> browser. xclip stays in the background owning the selection until it is taken.
  await xspawn(s.xenv, 'printf from-x | xclip -selection clipboard');
  await s.page.waitForFunction(() => window.porthole.clipboardText === 'from-x', null, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`${e.message.split('\n')[0]}\n${await s.diag()}`); });

  // Browser -> X through the real paste path: the browser's clipboard holds the text,
  // the user presses Ctrl+V in the page.
  await focusApp(s.page);
  await s.page.evaluate(() => navigator.clipboard.writeText('from-browser'));
  await s.page.keyboard.press('Control+V');
  let got;
  await waitFor(async () => (got = await xrun(s.xenv, 'xclip', ['-o', '-selection', 'clipboard'])) === 'from-browser', {
    timeout: 10000, what: 'X CLIPBOARD to hold "from-browser"', diag: async () => `xclip -o gave ${JSON.stringify(got)}\n${await s.diag()}`,
  });
});
