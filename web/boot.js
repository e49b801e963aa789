// The page's first module: index.html runs it before client.js, as soon as it
// has loaded (it imports nothing). It starts the stream worker (web/worker.js)
// with the canvas, where to connect and at which size, so that the connection,
// the Hello and the first frames are painted while the rest of the page (input,
// toolbar, catalog: client.js) loads. Where a worker cannot paint (no
// OffscreenCanvas or module workers), client.js runs the stream itself.

/** `?scale=1`: one X pixel per CSS pixel, ignoring devicePixelRatio. */
const ignoreDpr = new URLSearchParams(location.search).get('scale') === '1';
// Relative, so that the page works at / (porthole stream) and at /session/TOKEN/ (porthole serve).
export const wsUrl = new URL('ws', location.href).href.replace(/^http/, 'ws');

export function dpr() {
  return ignoreDpr ? 1 : window.devicePixelRatio || 1;
}

/** The viewport in device pixels: the screen size we ask the agent for. */
export function viewportSize() {
  const clamp = (/** @type {number} */ n) => Math.min(Math.max(n, 1), 0xffff);
  return {
    width: clamp(Math.floor(window.innerWidth * dpr())),
    height: clamp(Math.floor(window.innerHeight * dpr())),
  };
}

/** True when a module worker can paint on the page's canvas (OffscreenCanvas). */
function workerCanPaint() {
  if (!('transferControlToOffscreen' in HTMLCanvasElement.prototype)) return false;
  let moduleWorkers = false;
  try {
    // The options are read before the (invalid) URL is, so no worker starts.
    new Worker('http://[', { get type() { moduleWorkers = true; return 'module'; } });
  } catch {
    // Expected: the URL does not parse.
  }
  return moduleWorkers;
}

/** The stream's worker, connecting already; null where the page streams itself. */
export const worker = workerCanPaint() ? new Worker(new URL('worker.js', import.meta.url), { type: 'module' }) : null;

/** @type {MessageEvent[]} what the worker said before client.js listened */
const early = [];
if (worker) {
  worker.onmessage = (e) => early.push(e);
  const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('screen'));
  const offscreen = canvas.transferControlToOffscreen();
  worker.postMessage({ op: 'start', canvas: offscreen, wsUrl, viewport: viewportSize() }, [offscreen]);
}

/**
 * Hands the worker's events, those so far first, to `handler` from now on.
 * @param {(e: MessageEvent) => void} handler
 */
export function listenToWorker(handler) {
  if (!worker) return;
  worker.onmessage = handler;
  for (const e of early.splice(0)) handler(e);
}
