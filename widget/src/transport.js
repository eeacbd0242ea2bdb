// Transport: WebSocket first, HTTP + Server-Sent Events as a fallback, behind
// one small interface so the UI does not care which is in use.
//
//   const t = createTransport({win, origin, key, hello, onFrame, onState}).start();
//   t.send(frame)   -> true if sent now. While disconnected "aichat.stop" and
//                      "aichat.feedback" frames are queued until the next welcome;
//                      others are dropped (the caller re-sends messages and resumes
//                      streams itself when the welcome arrives).
//   t.restart()     -> reconnect now with a fresh hello (after identify() or reset())
//   t.kick()        -> the browser is back online: retry now instead of waiting
//   t.close()
//   t.kind()        -> "ws" | "sse"
//
// hello() returns the current aichat.hello frame (session_id + identity).
// onFrame(frame) gets every server frame (welcome included, pong excluded).
// onState(state, code): "connecting" | "open" | "reconnecting" | "failed".
// "failed" is final: the key is unknown (4401) or this origin is refused (4403).
//
// A connection is "up" once its welcome arrived. The WebSocket is given up for
// SSE when two sockets in a row die before any welcome ever arrived (proxies
// that break WebSockets), unless the browser is offline or was rate limited.

export const CLOSE_UNKNOWN_KEY = 4401;
export const CLOSE_ORIGIN_REFUSED = 4403;
export const CLOSE_RATE_LIMITED = 4429;
const WELCOME_TIMEOUT = 10000;
const PING_EVERY = 25000;

/** Delay before retry number `n` (0-based): 0.5 s doubling to 30 s, with jitter (50-100 %). */
export function backoff(n, random = Math.random) {
  const d = Math.min(30000, 500 * Math.pow(2, Math.min(n, 16)));
  return Math.round(d / 2 + (random() * d) / 2);
}

/**
 * Incremental text/event-stream parser: feed it decoded chunks, it calls
 * onData(dataString) once per event (multi-line data joined with "\n").
 */
export function sseParser(onData) {
  let buf = '';
  let data = [];
  return (chunk) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      let line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line[line.length - 1] === '\r') line = line.slice(0, -1);
      if (!line) {
        if (data.length) onData(data.join('\n'));
        data = [];
      } else if (line.slice(0, 5) === 'data:') {
        data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
    }
  };
}

const isFrame = (f) => !!f && typeof f.type === 'string' && f.type.indexOf('aichat.') === 0;

export function createTransport(o) {
  const w = o.win;
  const random = o.random || Math.random;
  const later = (fn, ms) => w.setTimeout(fn, ms);
  let mode = typeof w.WebSocket === 'function' ? 'ws' : 'sse';
  let sock = null;
  let streams = []; // AbortControllers of the SSE responses being read
  let ready = false;
  let closed = false;
  let established = false;
  let failures = 0;
  let attempt = 0;
  let gen = 0; // bumped on every (re)connect: events of an older connection are ignored
  let timers = [];
  let pinger = 0;
  let retrying = false;
  let sid = null;
  let identity = null;
  const queue = [];

  function teardown() {
    timers.concat(pinger).forEach((t) => w.clearTimeout(t));
    timers = [];
    retrying = ready = false;
    streams.forEach((a) => a.abort());
    streams = [];
    if (sock) {
      sock.onclose = sock.onmessage = sock.onopen = null;
      try {
        sock.close(1000);
      } catch (e) { /* already closed */ }
      sock = null;
    }
  }

  function connect() {
    teardown();
    if (closed) return;
    const g = ++gen;
    const hello = o.hello();
    sid = hello.session_id || null;
    identity = hello.identity || null;
    o.onState(attempt || established ? 'reconnecting' : 'connecting');
    if (mode === 'sse') {
      return request('GET', 'session' + qs())
        .then((r) => r.json())
        .then((f) => up(g, Object.assign({}, f, { type: 'aichat.welcome' })), (err) => drop(g, err));
    }
    let s;
    try {
      s = sock = new w.WebSocket(o.origin.replace(/^http/, 'ws') + '/ws/widget/?key=' + encodeURIComponent(o.key));
    } catch (e) {
      return drop(g, {});
    }
    timers.push(later(() => ready || drop(g, {}), WELCOME_TIMEOUT));
    s.onopen = () => raw(hello);
    s.onmessage = (e) => {
      let f;
      try {
        f = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (!isFrame(f) || f.type === 'aichat.pong') return;
      if (f.type !== 'aichat.welcome') return o.onFrame(f);
      up(g, f);
      const ping = () => {
        raw({ type: 'aichat.ping' });
        pinger = later(ping, PING_EVERY);
      };
      pinger = later(ping, PING_EVERY);
    };
    s.onclose = (e) => drop(g, { code: e && e.code });
  }

  function up(g, welcome) {
    if (g !== gen) return;
    if (welcome.session_id) sid = welcome.session_id;
    ready = established = true;
    attempt = failures = 0;
    o.onState('open');
    o.onFrame(welcome);
    queue.splice(0).forEach(send);
  }

  /** The connection `g` is gone: err = {code} (WebSocket close) or {status, frame} (HTTP). */
  function drop(g, err) {
    if (g !== gen || closed) return;
    gen++;
    teardown();
    const code = err.code || (err.status === 401 ? CLOSE_UNKNOWN_KEY : err.status === 403 ? CLOSE_ORIGIN_REFUSED : 0);
    if (code === CLOSE_UNKNOWN_KEY || code === CLOSE_ORIGIN_REFUSED) {
      closed = true;
      return o.onState('failed', code);
    }
    const offline = w.navigator && w.navigator.onLine === false;
    if (mode === 'ws' && !established && code !== CLOSE_RATE_LIMITED && !offline && ++failures >= 2) {
      mode = 'sse';
      attempt = 0;
      return connect();
    }
    o.onState('reconnecting');
    const after = err.frame && +err.frame.retry_after;
    retrying = true;
    timers.push(later(connect, Math.max(backoff(attempt++, random), (after || 0) * 1000)));
  }

  function raw(f) {
    try {
      sock.send(JSON.stringify(f));
    } catch (e) { /* the close event will follow */ }
  }

  // ---- HTTP + SSE ---------------------------------------------------------

  function qs(extra) {
    return '?key=' + encodeURIComponent(o.key) + (sid ? '&session_id=' + encodeURIComponent(sid) : '') + (extra || '');
  }

  /** fetch; a non-2xx answer rejects with {status, frame} (frame: the JSON error body, if any). */
  function request(method, path, body, signal) {
    const headers = { Accept: 'text/event-stream, application/json' };
    if (body) headers['Content-Type'] = 'application/json';
    if (identity) headers['X-AIChat-Identity'] = encodeURIComponent(JSON.stringify(identity));
    return w
      .fetch(o.origin + '/widget/api/' + path, { method, headers, body: body && JSON.stringify(body), credentials: 'omit', signal })
      .then((r) =>
        r.ok
          ? r
          : r.json().then(
              (f) => Promise.reject({ status: r.status, frame: isFrame(f) ? f : null }),
              () => Promise.reject({ status: r.status }),
            ),
      );
  }

  /**
   * Read an SSE response and pass its frames on. A stream that ends before a
   * done or error frame, or a network error, drops the connection (the next
   * welcome resumes). An HTTP error goes to onHttpError; false from it drops too.
   */
  function stream(method, path, body, onHttpError) {
    const g = gen;
    const ctrl = typeof AbortController === 'function' ? new AbortController() : { abort() {} };
    streams.push(ctrl);
    let finished = false;
    const parse = sseParser((data) => {
      let f;
      try {
        f = JSON.parse(data);
      } catch (e) {
        return;
      }
      if (!isFrame(f) || g !== gen) return;
      if (f.type === 'aichat.done' || f.type === 'aichat.error') finished = true;
      o.onFrame(f);
    });
    request(method, path, body, ctrl.signal)
      .then((r) => {
        if (!r.body || !r.body.getReader) return r.text().then((t) => parse(t + '\n\n'));
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        const pump = () =>
          reader.read().then((x) => {
            parse(x.done ? dec.decode() + '\n\n' : dec.decode(x.value, { stream: true }));
            return x.done || pump();
          });
        return pump();
      })
      .then(
        () => finished || drop(g, {}),
        (err) => (err && err.status && onHttpError(err) !== false) || drop(g, err || {}),
      )
      .then(() => (streams = streams.filter((a) => a !== ctrl)));
  }

  function http(f) {
    const id = encodeURIComponent(f.message_id || '');
    const error = (extra, err) => o.onFrame(Object.assign({ type: 'aichat.error', code: 'internal_error', message: '', retry_after: null }, err.frame, extra));
    if (f.type === 'aichat.message') {
      stream('POST', 'messages' + qs(), { session_id: sid, client_id: f.client_id, text: f.text, identity }, (err) =>
        error({ client_id: f.client_id, code: (err.frame && err.frame.code) || (err.status === 429 ? 'rate_limited' : 'internal_error') }, err),
      );
    } else if (f.type === 'aichat.resume') {
      stream('GET', 'messages/' + id + '/stream' + qs('&after_seq=' + (+f.after_seq || 0)), null, (err) =>
        err.status === 404 ? error({ code: 'not_found', message_id: f.message_id }, err) : false,
      );
    } else if (f.type === 'aichat.stop') {
      request('POST', 'messages/' + id + '/stop' + qs(), {}).catch(() => {});
    } else if (f.type === 'aichat.feedback') {
      request('POST', 'messages/' + id + '/feedback' + qs(), { rating: f.rating, comment: f.comment || '' }).then(
        () => o.onFrame({ type: 'aichat.feedback_saved', message_id: f.message_id }),
        () => {},
      );
    }
  }

  function send(f) {
    if (!ready) {
      if ((f.type === 'aichat.stop' || f.type === 'aichat.feedback') && queue.length < 20) queue.push(f);
      return false;
    }
    if (mode === 'ws') raw(f);
    else http(f);
    return true;
  }

  const t = {
    start() {
      if (!gen && !closed) connect();
      return t;
    },
    send,
    restart() {
      if (!closed) {
        attempt = 0;
        connect();
      }
    },
    kick() {
      if (retrying && !closed) {
        attempt = 0;
        connect();
      }
    },
    close() {
      closed = true;
      gen++;
      teardown();
    },
    kind: () => mode,
  };
  return t;
}
