// Keyboard input through the real stack: browser key events -> client -> agent -> X -> xterm.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { session, waitFor, focusApp, fileText } from './harness.mjs';

const TIMEOUT = 90000;

/** A session running `xterm -e sh -c SCRIPT`; SCRIPT may use $D (the tmp dir). */
async function xtermSession(t, script) {
  const s = await session(t, {
    app: (tmp) => ['xterm', '-e', 'sh', '-c', `D=${tmp}; ${script}`],
  });
  await focusApp(s.page);
  return s;
}

const waitFile = (s, name, expect, what) => waitFor(() => {
  const txt = fileText(join(s.tmp, name));
  return typeof expect === 'function' ? expect(txt) : txt === expect;
}, { timeout: 10000, what: `${what} (file ${name} is ${JSON.stringify(fileText(join(s.tmp, name)))})`, diag: s.diag });

test('typing a shell command into xterm runs it', { timeout: TIMEOUT }, async (t) => {
  const s = await xtermSession(t, 'touch $D/ready; exec sh');
  await waitFor(() => existsSync(join(s.tmp, 'ready')), { what: 'the shell to start' });
  await s.page.keyboard.type(`echo hi > ${join(s.tmp, 'out')}`);
  await s.page.keyboard.press('Enter');
  await waitFile(s, 'out', 'hi\n', 'the typed command to write "hi"');
});

test('non-US characters typed as text arrive intact, and Ctrl+D ends input', { timeout: TIMEOUT }, async (t) => {
  const s = await xtermSession(t, 'exec cat > $D/out');
  await waitFor(() => existsSync(join(s.tmp, 'out')), { what: 'cat to start' });
  const text = 'é ß € ñ ü Ω';
  await s.page.keyboard.type(text);
  await s.page.keyboard.press('Enter');
  await waitFile(s, 'out', (txt) => txt?.includes('\n'), 'a complete line');
  assert.equal(fileText(join(s.tmp, 'out')), `${text}\n`);
  // cat ends on EOF, xterm and so porthole with it.
  await s.page.keyboard.press('Control+D');
  const exit = await waitFor(() => s.porthole.exitInfo, { what: 'porthole to exit after Ctrl+D', diag: s.diag });
  assert.deepEqual(exit, { code: 0, signal: null });
});

test('a German-layout ß key (code Minus) arrives as ß', { timeout: TIMEOUT }, async (t) => {
  const s = await xtermSession(t, 'exec cat > $D/out');
  await waitFor(() => existsSync(join(s.tmp, 'out')), { what: 'cat to start' });
  // What a German keyboard sends: the physical key right of 0 (code Minus), key ß.
  // Playwright's US layout cannot produce this pairing, so go through CDP.
  const cdp = await s.page.context().newCDPSession(s.page);
  const key = { key: 'ß', code: 'Minus', windowsVirtualKeyCode: 219, nativeVirtualKeyCode: 219 };
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', text: 'ß', unmodifiedText: 'ß', ...key });
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...key });
  await s.page.keyboard.press('Enter');
  await waitFile(s, 'out', (txt) => txt?.includes('\n'), 'a complete line');
  assert.equal(fileText(join(s.tmp, 'out')), 'ß\n', 'exactly one ß (not lost, not doubled by key + text input)');
});

test('a held key repeats as the browser repeats it (X itself does not)', { timeout: TIMEOUT }, async (t) => {
  const s = await xtermSession(t, 'exec cat > $D/out');
  await waitFor(() => existsSync(join(s.tmp, 'out')), { what: 'cat to start' });
  // What a browser sends for a held key: one keydown, then keydowns with repeat set.
  const cdp = await s.page.context().newCDPSession(s.page);
  const key = { key: 'x', code: 'KeyX', windowsVirtualKeyCode: 88, nativeVirtualKeyCode: 88 };
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', text: 'x', unmodifiedText: 'x', ...key });
  for (let i = 0; i < 3; i++) {
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', text: 'x', unmodifiedText: 'x', autoRepeat: true, ...key });
  }
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...key });
  await s.page.keyboard.press('Enter');
  await waitFile(s, 'out', (txt) => txt?.includes('\n'), 'a complete line');
  assert.equal(fileText(join(s.tmp, 'out')), 'xxxx\n', 'the press and its three repeats, no more');
});

test('Ctrl+C reaches the app as SIGINT', { timeout: TIMEOUT }, async (t) => {
  const s = await xtermSession(t, 'trap "echo INT > $D/int" INT; touch $D/ready; while :; do sleep 0.1; done');
  await waitFor(() => existsSync(join(s.tmp, 'ready')), { what: 'the trap to be installed' });
  await s.page.keyboard.press('Control+C');
  await waitFile(s, 'int', 'INT\n', 'the INT trap to run');
});
