// The module worker that runs web/stream.js on the page's canvas, transferred
// as an OffscreenCanvas, so that frames arrive, decode and paint off the main thread.
//
// Page -> worker: {op: 'start', canvas, wsUrl, viewport} first, then
// {op: 'send', msg}, {op: 'typed', at}, {op: 'viewport', size}, {op: 'disconnect'},
// {op: 'reconnect'}. Worker -> page: the StreamEvents of web/stream.js.
import { Stream } from './stream.js';

/** @type {Stream | null} */
let stream = null;

self.onmessage = (/** @type {MessageEvent} */ e) => {
  const m = e.data;
  if (m.op === 'start') {
    stream = new Stream(m.canvas, { wsUrl: m.wsUrl, viewport: m.viewport, emit: (ev) => self.postMessage(ev) });
    stream.start();
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
};
