// Keystroke-to-photon measurement in the web client, shared by the benchmarks
// (bench/bench.mjs for one streamed app, bench/sessions.mjs for sessions of
// `porthole serve`), and the statistics they report.
import { focusApp, waitQuiet } from '../tests/e2e/harness.mjs';

// Both skip missing values (a milestone a trial did not record).
export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const percentile = (xs, p) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// Runs in the page before the client: notes when the first Frame message (type 0x81)
// arrives after an armed keystroke, which splits the latency into agent + network
// (keydown -> frame arrives) and client (arrives -> pixels seen).
export function recordFrameArrival() {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const L = window.__lat;
        if (L?.armed && L.keyAt !== null && L.frameAt === null && e.data instanceof ArrayBuffer
          && new Uint8Array(e.data)[0] === 0x81) L.frameAt = e.timeStamp;
      });
    }
  };
}

// Runs in the page: a keystroke-to-photon probe. Arm it, press a key; the first
// animation frame whose canvas pixels (band y0..y1) differ from the armed baseline
// yields latency = rAF time - keydown event time.
function installLatencyProbe({ y0, y1 }) {
  const src = document.querySelector('#screen');
  const scratch = document.createElement('canvas');
  const ctx = scratch.getContext('2d', { willReadFrequently: true });
  const read = () => {
    if (scratch.width !== src.width || scratch.height !== src.height) {
      scratch.width = src.width;
      scratch.height = src.height;
    }
    ctx.drawImage(src, 0, 0);
    return new Uint32Array(ctx.getImageData(0, y0, src.width, y1 - y0).data.buffer);
  };
  const L = { armed: false, keyAt: null, frameAt: null, result: null, base: null };
  window.__lat = L;
  window.addEventListener('keydown', (e) => {
    if (L.armed && L.keyAt === null) L.keyAt = e.timeStamp;
  }, true);
  window.__arm = () => {
    L.base = read();
    L.keyAt = null;
    L.frameAt = null;
    L.result = null;
    L.armed = true;
  };
  const loop = (ts) => {
    if (L.armed && L.keyAt !== null) {
      const cur = read();
      for (let i = 0; i < cur.length; i++) {
        if (cur[i] !== L.base[i]) {
          L.result = { total: ts - L.keyAt, arrival: L.frameAt === null ? null : L.frameAt - L.keyAt };
          L.armed = false;
          break;
        }
      }
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}

export async function measureLatency(page, trials) {
  await focusApp(page);
  // The prompt is on the xterm's first text row: watch a band over the window's top.
  const band = await page.evaluate(() => {
    const w = window.porthole.windows?.at(-1);
    const y0 = Math.max(0, w ? w.y : 0);
    return { y0, y1: Math.min(window.porthole.screen.height, y0 + 100) };
  });
  await page.evaluate(installLatencyProbe, band);
  const samples = [];
  let missed = 0;
  for (let i = 0; i < trials; i++) {
    await waitQuiet(page, { quietMs: 150 });
    await page.evaluate(() => window.__arm());
    await page.keyboard.press(i % 2 === 0 ? String.fromCharCode(97 + ((i / 2) % 26)) : 'Backspace');
    const r = await page.waitForFunction(() => window.__lat.result, null, { timeout: 2000, polling: 'raf' })
      .then((h) => h.jsonValue(), () => null);
    if (r === null) missed++;
    else samples.push(r);
  }
  const arrivals = samples.map((r) => r.arrival).filter((a) => a !== null);
  return { samples: samples.map((r) => r.total), arrivalMedian: arrivals.length ? median(arrivals) : undefined, missed };
}
