// Shared test helpers: a jsdom window installed as the global `window` /
// `document` (the widget's modules read them at call time), a fake
// WebSocket, a manual clock and a scripted fetch.
import { JSDOM } from 'jsdom';

const windows = [];

/** Close every jsdom window opened so far (their timers would keep the test process alive). */
export function closeWindows() {
  windows.splice(0).forEach((w) => w.close());
}

export function setupDom(html = '<!doctype html><html lang="en"><head></head><body></body></html>', url = 'https://shop.example/page') {
  const dom = new JSDOM(html, { url, pretendToBeVisual: true });
  windows.push(dom.window);
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  return dom.window;
}

/** A WebSocket double: the test plays the server. */
export class FakeWebSocket {
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.all.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code) {
    this.closedWith = code || 1000;
  }
  serverOpen() {
    if (this.onopen) this.onopen({});
  }
  serverSend(frame) {
    if (this.onmessage) this.onmessage({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
  serverClose(code) {
    if (this.onclose) this.onclose({ code });
  }
  static reset() {
    FakeWebSocket.all = [];
  }
  static last() {
    return FakeWebSocket.all[FakeWebSocket.all.length - 1];
  }
}
FakeWebSocket.all = [];

/** Manual timers: setTimeout/clearTimeout that only run when the test says so. */
export function fakeClock() {
  let id = 0;
  let now = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      timers.set(++id, { fn, at: now + (ms || 0) });
      return id;
    },
    clearTimeout(t) {
      timers.delete(t);
    },
    pending: () => [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b),
    /** Run timers due within `ms` from now, in order. */
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (!next || next[1].at > until) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = until;
    },
  };
}

/** A Response-like object; `chunks` (strings) are streamed through body.getReader(). */
export function response(status, body, chunks) {
  const enc = new TextEncoder();
  const parts = chunks ? chunks.slice() : null;
  return {
    ok: status >= 200 && status < 300,
    status,
    json: () => (typeof body === 'string' ? Promise.reject(new Error('not json')) : Promise.resolve(body)),
    text: () => Promise.resolve(parts ? parts.join('') : JSON.stringify(body)),
    body: parts
      ? {
          getReader: () => ({
            read: () => Promise.resolve(parts.length ? { done: false, value: enc.encode(parts.shift()) } : { done: true }),
          }),
        }
      : null,
  };
}

/** SSE text for a list of frames (each with an id: line from its seq). */
export function sse(frames) {
  return frames.map((f) => (f.seq ? 'id: ' + f.seq + '\n' : '') + 'data: ' + JSON.stringify(f) + '\n\n').join('');
}

/** Let pending promise callbacks run. */
export const flushPromises = () => new Promise((r) => setImmediate(r));
