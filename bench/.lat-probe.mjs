// Temporary diagnosis script (not to be committed): per-keystroke timeline.
import { displayEnv, xrun, startPorthole, stopPorthole, launchBrowser, focusApp, waitQuiet } from '../tests/e2e/harness.mjs';
const W = 1280, H = 720;
const XTERM = `xterm -fa 'DejaVu Sans Mono:pixelsize=13' -geometry 159x42+0+0`;
const app = `timeout 120 ${XTERM} -e sh -c 'PS1="prompt\\$ " exec sh'`;
const TRIALS = Number(process.env.TRIALS ?? 20);
const browser = await launchBrowser();
const context = await browser.newContext({ viewport: { width: W, height: H }, deviceScaleFactor: 1 });
await context.addInitScript(() => {
  const T = (window.__T = { ev: [] });
  const now = () => performance.timeOrigin + performance.now();
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        if (e.data instanceof ArrayBuffer && new Uint8Array(e.data)[0] === 0x81) T.ev.push(['frame_rx', performance.timeOrigin + e.timeStamp, now(), e.data.byteLength]);
      });
    }
    send(d) {
      const b = d instanceof Uint8Array ? d : new Uint8Array(d.buffer ?? d);
      if (b[0] === 0x06 && b[1] === 1) T.ev.push(['key_tx', now()]);
      if (b[0] === 0x02) T.ev.push(['ack_tx', now()]);
      return super.send(d);
    }
  };
  if (self.location.protocol === 'http:') {
    const wsrc = 'setInterval(() => postMessage(performance.timeOrigin + performance.now()), 1);';
    const wk = new Worker(URL.createObjectURL(new Blob([wsrc], { type: 'text/javascript' })));
    T.lastRx = 0;
    wk.onmessage = (e) => { const n = now(); if (T.armed && T.ev.some((x) => x[0] === 'keydown')) { const gap = n - T.lastRx; if (gap > (T.maxGap?.[0] ?? 0)) { T.maxGap = [gap, T.lastRx]; } } T.lastRx = n; };
  }
  window.addEventListener('keydown', (e) => T.ev.push(['keydown', performance.timeOrigin + e.timeStamp, now()]), true);
});
const page = await context.newPage();
const ph = await startPorthole({ app: ['sh', '-c', app], size: `${W}x${H}`, bin: process.env.PORTHOLE_BIN, env: { PORTHOLE_LOG: 'porthole_agent=trace,info' } });
await page.goto(`${ph.url}?scale=1`);
await page.waitForFunction(() => window.porthole?.stats?.framesPainted > 0);
await focusApp(page);
await page.evaluate(() => {
  const src = document.querySelector('#screen');
  const sc = document.createElement('canvas');
  const ctx = sc.getContext('2d', { willReadFrequently: true });
  const read = () => { sc.width = src.width; sc.height = src.height; ctx.drawImage(src, 0, 0); return new Uint32Array(ctx.getImageData(0, 0, src.width, 100).data.buffer); };
  const T = window.__T;
  T.arm = () => { T.base = read(); T.ev = []; T.done = null; T.armed = true; };
  const loop = (ts) => {
    const t1 = performance.now();
    if (T.armed) T.ev.push(['raf' + T.ev.filter((e) => e[0].startsWith('raf')).length, performance.timeOrigin + ts]);
    if (T.armed && T.ev.some((e) => e[0] === 'keydown')) {
      const cur = read();
      for (let i = 0; i < cur.length; i++) if (cur[i] !== T.base[i]) { T.ev.push(['photon', performance.timeOrigin + ts, performance.timeOrigin + performance.now()]); T.armed = false; T.done = true; break; }
    }
    if (T.armed) T.ev.push(['rafdur' + T.ev.filter((e) => e[0].startsWith('rafdur')).length, performance.timeOrigin + performance.now() - t1 + (performance.timeOrigin + ts - performance.timeOrigin)]);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
});
const parseTs = (line) => { const m = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z/.exec(line); return m ? Date.parse(m[1].slice(0, 23) + 'Z') + Number('0.' + m[1].slice(23).padEnd(1, '0')) : null; };
const rows = [];
for (let i = 0; i < TRIALS; i++) {
  await waitQuiet(page, { quietMs: 150 });
  const mark = ph.tail().split('\n').length;
  await page.evaluate(() => window.__T.arm());
  if (process.env.XDO) {
    const xe = (await displayEnv(ph, 'xterm')).xenv;
    await page.evaluate(() => window.__T.ev.push(['keydown', performance.timeOrigin + performance.now()]));
    await xrun(xe, 'xdotool', ['key', i % 2 === 0 ? String.fromCharCode(97 + ((i / 2) % 26)) : 'BackSpace']);
  } else await page.keyboard.press(i % 2 === 0 ? String.fromCharCode(97 + ((i / 2) % 26)) : 'Backspace');
  await page.waitForFunction(() => window.__T.done, null, { timeout: 2000, polling: 'raf' }).catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  const ev = await page.evaluate(() => { const T = window.__T; if (T.maxGap) T.ev.push(['wgap_start', T.maxGap[1]], ['wgap_end', T.maxGap[1] + T.maxGap[0]]); T.maxGap = null; return T.ev; });
  const kd = ev.find((e) => e[0] === 'keydown');
  if (!kd) continue;
  const t0 = kd[1];
  const row = {};
  for (const e of ev) if (!(e[0] in row)) row[e[0]] = +(e[1] - t0).toFixed(1);
  const fr = ev.find((e) => e[0] === 'frame_rx'); if (fr) row.frame_rx_js = +(fr[2] - t0).toFixed(1);
  const ph_ = ev.find((e) => e[0] === 'photon'); if (ph_) row.photon_js = +(ph_[2] - t0).toFixed(1);
  for (const line of ph.tail().split('\n')) {
    const ts = parseTs(line); if (ts === null || ts < t0 - 5) continue;
    for (const k of (process.env.MARKS ?? 'key press,damage,frame,ack').split(',')) {
      const tag = k.replace(/ /g, '_');
      if (line.includes(` ${k}`) && !(tag in row)) row[tag] = +(ts - t0).toFixed(1);
    }
  }
  rows.push(row);
}
const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
const med = (xs) => { const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b); return s[s.length >> 1]; };
console.log(keys.map((k) => `${k}=${med(rows.map((r) => r[k]))}`).join('  '));
if (process.env.VERBOSE) for (const r of rows) console.log(JSON.stringify(r));
await context.close(); await stopPorthole(ph).catch((e) => console.error(e.message)); await browser.close();
