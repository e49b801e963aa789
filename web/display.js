// Painting agent frames onto the #screen canvas (or the OffscreenCanvas it handed
// to web/worker.js), in order and atomically per frame.
import { Encoding } from './protocol.js';

export const H264_CODEC = 'avc1.42E01F';
/** How long a decoder may sit on a chunk before we give up on it. Baseline
 * streams with optimizeForLatency output each access unit immediately. */
const VIDEO_OUTPUT_TIMEOUT_MS = 1000;
/** Video streams kept alive; the agent starts a new one whenever geometry changes. */
const MAX_VIDEO_STREAMS = 8;
/** H.264 rect data starts with flags u8, content width u16, content height u16. */
const VIDEO_HEADER_BYTES = 5;

/** @typedef {{encoding: number, x: number, y: number, width: number, height: number, data: Uint8Array}} Rect */

/** True when WebCodecs can decode the agent's H.264 stream. */
export async function h264Supported() {
  if (typeof VideoDecoder === 'undefined') return false;
  try {
    const { supported } = await VideoDecoder.isConfigSupported({ codec: H264_CODEC, optimizeForLatency: true });
    return supported === true;
  } catch {
    return false;
  }
}

/** True when createImageBitmap decodes WebP (a 1x1 lossless image). */
export async function webpSupported() {
  const webp = Uint8Array.from(atob('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=='), (c) => c.charCodeAt(0));
  try {
    const bitmap = await createImageBitmap(new Blob([webp], { type: 'image/webp' }));
    bitmap.close();
    return true;
  } catch {
    return false;
  }
}

const MIME = { [Encoding.Png]: 'image/png', [Encoding.Jpeg]: 'image/jpeg', [Encoding.Webp]: 'image/webp' };

/**
 * One H.264 stream: a VideoDecoder for one rect geometry. Outputs come back in
 * decode order (no B-frames), so each decode() is matched with the next output.
 */
class VideoStream {
  /** @param {number} width @param {number} height @param {() => void} onBroken */
  constructor(width, height, onBroken) {
    /** @type {((frame: VideoFrame | null) => void)[]} */
    this.waiting = [];
    this.hadKeyframe = false;
    this.broken = false;
    this.timestamp = 0;
    this.onBroken = onBroken;
    /** @type {VideoDecoder | null} */
    this.decoder = null;
    try {
      this.decoder = new VideoDecoder({
        output: (frame) => {
          const resolve = this.waiting.shift();
          if (resolve) resolve(frame);
          else frame.close();
        },
        error: () => this.fail(),
      });
      this.decoder.configure({
        codec: H264_CODEC,
        optimizeForLatency: true,
        hardwareAcceleration: 'prefer-software',
      });
    } catch (err) {
      console.warn('porthole: cannot create an H.264 decoder', err);
      this.fail();
    }
  }

  /**
   * @param {Uint8Array} data flags u8, content width u16, content height u16, then an Annex B access unit
   * @returns {Promise<VideoFrame | null>} null when the frame cannot be shown
   */
  decode(data) {
    if (this.broken || data.length < VIDEO_HEADER_BYTES) return Promise.resolve(null);
    const key = (data[0] & 1) === 1;
    if (!key && !this.hadKeyframe) {
      this.fail();
      return Promise.resolve(null);
    }
    this.hadKeyframe ||= key;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(settle);
        if (i >= 0) this.waiting.splice(i, 1);
        this.fail();
        resolve(null);
      }, VIDEO_OUTPUT_TIMEOUT_MS);
      /** @param {VideoFrame | null} frame */
      const settle = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiting.push(settle);
      try {
        /** @type {VideoDecoder} */ (this.decoder).decode(new EncodedVideoChunk({
          type: key ? 'key' : 'delta',
          timestamp: this.timestamp++,
          data: data.subarray(VIDEO_HEADER_BYTES),
        }));
      } catch {
        this.fail();
      }
    });
  }

  fail() {
    if (this.broken) return;
    this.broken = true;
    this.close();
    this.onBroken();
  }

  /** Stop decoding; frames still being decoded are not shown. */
  close() {
    for (const settle of this.waiting.splice(0)) settle(null);
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
  }
}

export class Display {
  /**
   * @param {HTMLCanvasElement | OffscreenCanvas} canvas
   * @param {{onRefreshNeeded: () => void}} hooks called when video can't be decoded
   */
  constructor(canvas, hooks) {
    this.canvas = canvas;
    this.hooks = hooks;
    const ctx = canvas.getContext('2d', { alpha: false, desynchronized: true });
    if (!ctx) throw new Error('2d canvas context unavailable');
    this.ctx = ctx;
    /** @type {Map<string, VideoStream>} insertion order = least recently used first */
    this.streams = new Map();
  }

  /** Resize the backing store to the X screen (clears it; the agent resends content). */
  setScreenSize(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.resetVideo();
  }

  resetVideo() {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }

  /**
   * Paint one frame's rects in order. Image and video decodes all start at once;
   * painting waits for each in turn so a Copy sees everything before it.
   * @param {Rect[]} rects
   */
  async paint(rects) {
    const decoded = rects.map((rect) => this.startDecode(rect));
    for (let i = 0; i < rects.length; i++) {
      const rect = rects[i];
      const source = await decoded[i];
      this.draw(rect, source);
    }
  }

  /**
   * @param {Rect} rect
   * @returns {Promise<ImageBitmap | VideoFrame | null> | null}
   */
  startDecode(rect) {
    switch (rect.encoding) {
      case Encoding.Png:
      case Encoding.Jpeg:
      case Encoding.Webp:
        return createImageBitmap(new Blob([rect.data], { type: MIME[rect.encoding] })).catch((err) => {
          console.warn('porthole: image rect failed to decode', err);
          return null;
        });
      case Encoding.H264:
        return this.videoStream(rect).decode(rect.data);
      default:
        return null;
    }
  }

  /** @param {Rect} rect */
  videoStream(rect) {
    const key = `${rect.x},${rect.y},${rect.width},${rect.height}`;
    let stream = this.streams.get(key);
    if (stream && stream.broken) {
      this.streams.delete(key);
      stream = undefined;
    }
    if (stream) {
      // Move to the most-recently-used end.
      this.streams.delete(key);
    } else {
      stream = new VideoStream(rect.width, rect.height, () => this.hooks.onRefreshNeeded());
      if (this.streams.size >= MAX_VIDEO_STREAMS) {
        const [oldestKey, oldest] = this.streams.entries().next().value;
        oldest.close();
        this.streams.delete(oldestKey);
      }
    }
    this.streams.set(key, stream);
    return stream;
  }

  /**
   * @param {Rect} rect
   * @param {ImageBitmap | VideoFrame | null} source
   */
  draw(rect, source) {
    const { ctx } = this;
    const { x, y, width: w, height: h, data } = rect;
    switch (rect.encoding) {
      case Encoding.Solid:
        if (data.length < 3) return;
        ctx.fillStyle = `rgb(${data[0]},${data[1]},${data[2]})`;
        ctx.fillRect(x, y, w, h);
        return;
      case Encoding.Copy: {
        if (data.length < 4) return;
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const sx = view.getUint16(0, true);
        const sy = view.getUint16(2, true);
        // Drawing a canvas onto itself behaves as if from a snapshot, so
        // overlapping scrolls are safe.
        ctx.drawImage(this.canvas, sx, sy, w, h, x, y, w, h);
        return;
      }
      case Encoding.H264: {
        if (!source || data.length < VIDEO_HEADER_BYTES) return;
        // The picture's content is its top-left part (coded sizes are even, and
        // the agent may encode large regions at a reduced size): scale it into the rect.
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        ctx.drawImage(source, 0, 0, view.getUint16(1, true), view.getUint16(3, true), x, y, w, h);
        source.close();
        return;
      }
      default:
        if (!source) return;
        ctx.drawImage(source, 0, 0, w, h, x, y, w, h);
        source.close();
    }
  }
}
