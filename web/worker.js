// The module worker that runs web/stream.js on the page's canvas, transferred
// as an OffscreenCanvas, so that frames arrive, decode and paint off the main thread.
// web/boot.js starts it, with the canvas, before the page's other modules load.
//
// Page -> worker: {op: 'start', canvas, wsUrl, viewport} (boot.js), then
// {op: 'send', msg}, {op: 'typed', at}, {op: 'viewport', size}, {op: 'disconnect'},
// {op: 'reconnect'} (client.js). Worker -> page: the StreamEvents of web/stream.js.

// Connect first, even before loading the stream's modules: the gateway starts the
// session while the page loads. The page's URL for it is the same (relative to
// /session/TOKEN/ or /); what arrives meanwhile waits for the Stream.
const early = openEarly(new URL('ws', self.location.href).href.replace(/^http/, 'ws'));
const streamModule = import('./stream.js');

/** @type {import('./stream.js').Stream | null} */
let stream = null;

/** @param {string} url @returns {import('./stream.js').EarlySocket} */
function openEarly(url) {
  const createdAt = performance.timeOrigin + performance.now();
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  /** @type {Event[]} */
  const missed = [];
  ws.onopen = ws.onmessage = ws.onclose = (e) => missed.push(e);
  return { ws, createdAt, missed };
}

/** @param {any} m */
async function handle(m) {
  if (m.op === 'start') {
    const { Stream } = await streamModule;
    stream = new Stream(m.canvas, { wsUrl: m.wsUrl, viewport: m.viewport, emit: (ev) => self.postMessage(ev) });
    stream.start(early);
    return;
  }
  if (!stream) return;
  switch (m.op) {
    case 'send': stream.send(m.msg); return;
    case 'typed': stream.typed(m.at); return;
    case 'viewport': stream.setViewport(m.size); return;
    case 'disconnect': stream.disconnect(); return;
    case 'reconnect': stream.reconnect(); return;
  }
}

// In arrival order, also while 'start' waits for the modules.
let handled = Promise.resolve();
self.onmessage = (/** @type {MessageEvent} */ e) => {
  handled = handled.then(() => handle(e.data)).catch((err) => console.error('porthole: worker', err));
};
