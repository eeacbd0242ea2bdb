// Wiring: finds our <script> tag, draws the launcher at once, loads the
// config, and connects the store, the transport, the UI and window.AIChat.

import { emit, installApi, normalizeIdentity } from './api.js';
import { pickLanguage, strings } from './i18n.js';
import { createStorage } from './storage.js';
import { createStore, isStreamFrame } from './store.js';
import { createTransport } from './transport.js';
import { createUI, MAX_TEXT } from './ui.js';


// HTTP status / WebSocket close code -> the aichat:error code for a refused key or origin.
const FATAL = { 401: 'unknown_key', 4401: 'unknown_key', 403: 'origin_not_allowed', 4403: 'origin_not_allowed' };

function warn(win, text) {
  if (win.console) win.console.warn('[aichat] ' + text);
}

/** Our own <script> element: document.currentScript, else the first script[src*="widget.js"][data-key]. */
export function findScript(doc) {
  let s = null;
  try {
    s = doc.currentScript;
  } catch (e) { /* defensive read of the host page */ }
  if (s && s.getAttribute && s.getAttribute('data-key')) return s;
  try {
    return doc.querySelector('script[src*="widget.js"][data-key]');
  } catch (e) {
    return null;
  }
}

/** RFC 4122 v4 id; crypto.randomUUID only exists in secure contexts. */
export function uuid(win) {
  const c = win.crypto;
  try {
    if (c && c.randomUUID) return c.randomUUID();
  } catch (e) { /* fall through */ }
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const x = Array.from(b, (v) => (v + 256).toString(16).slice(1)).join('');
  return x.slice(0, 8) + '-' + x.slice(8, 12) + '-' + x.slice(12, 16) + '-' + x.slice(16, 20) + '-' + x.slice(20);
}

/** The config as served, or {} (every field is optional: the UI has a default for each). */
export function normalizeConfig(c) {
  return c && typeof c === 'object' && !Array.isArray(c) ? c : {};
}

/**
 * Boot the widget in `win`. Returns window.AIChat, or null when there is
 * nothing to do (no data-key). Calling it again is a no-op.
 */
export function start(win) {
  const doc = win.document;
  if (win.AIChat && win.AIChat.__aichat) return win.AIChat;
  const script = findScript(doc);
  const key = script && script.getAttribute('data-key');
  let origin = '';
  try {
    origin = new URL(script.getAttribute('src') || '', win.location.href).origin;
  } catch (e) { /* handled below */ }
  if (!key || !origin) {
    warn(win, 'missing data-key');
    return null;
  }

  const st = createStorage(win);
  const store = createStore();
  const K = 'aichat:' + key + ':';
  const SESSION = K + 'session';
  const SNAPS = K + 'stream';
  const OPEN = K + 'open';
  let S = strings(pickLanguage('auto', doc));
  let config = normalizeConfig(null);
  let identity = null;
  let transport = null;
  let stopFor = null; // client_id whose answer must be stopped as soon as it is accepted
  let snaps = st.session.getJSON(SNAPS, {}); // streaming message id -> {seq, content, sources, tools}
  let snapTimer = 0;
  const asked = {}; // message id -> seq a resume was last asked from

  const send = (f) => (transport ? transport.send(f) : false);
  const offline = () => !!(win.navigator && win.navigator.onLine === false);

  const ui = createUI({
    win,
    origin,
    strings: S,
    onSend: sendText,
    onStop: stop,
    onFeedback: feedback,
    onOpen() {
      st.session.set(OPEN, '1');
      connect();
      emit(win, 'open');
    },
    onClose() {
      st.session.set(OPEN, '0');
      emit(win, 'close');
    },
    onNew: newConversation,
    onWarm: connect,
  });
  ui.bind(store);
  store.subscribe(ui.update);
  ui.configure(config, S);

  // 1. The launcher, right away (before the config answers).
  function mount() {
    if (doc.getElementById('aichat-root')) return;
    const host = doc.createElement('div');
    host.id = 'aichat-root';
    let sr;
    try {
      sr = host.attachShadow({ mode: 'open' });
    } catch (e) {
      return; // no Shadow DOM: stay out of the page rather than leak styles
    }
    ui.mount(sr);
    (doc.body || doc.documentElement).appendChild(host);
  }
  if (doc.body) mount();
  else doc.addEventListener('DOMContentLoaded', mount);

  // 2. The one global.
  const api = installApi(win, {
    open: () => ui.open(),
    close: () => ui.close(),
    toggle: () => ui.toggle(),
    identify,
    reset,
  });

  // 3. Config, then `ready` (and reopen the window if it was open before a reload).
  loadConfig()
    .then(
      (c) => {
        config = normalizeConfig(c);
        S = strings(pickLanguage(config.language, doc));
        ui.configure(config, S);
      },
      (err) => {
        const code = FATAL[err && err.status];
        if (code) ui.setConn('failed');
        fail(code || 'config_unavailable');
      },
    )
    .then(() => {
      emit(win, 'ready', { config });
      if (st.session.get(OPEN) === '1') ui.open();
    });

  win.addEventListener('online', () => transport && transport.kick());
  win.addEventListener('offline', () => transport && ui.setConn('offline'));
  win.addEventListener('pagehide', () => saveSnaps(true));

  function fail(code) {
    emit(win, 'error', { code, message: '' });
  }

  function loadConfig() {
    return Promise.resolve()
      .then(() => win.fetch(origin + '/widget/config?key=' + encodeURIComponent(key), { credentials: 'omit' }))
      .then((r) => {
        if (!r.ok) throw { status: r.status };
        return r.json();
      });
  }

  // ---- connection ----------------------------------------------------------

  function connect() {
    if (transport) return;
    transport = createTransport({
      win,
      origin,
      key,
      hello: () => ({ type: 'aichat.hello', session_id: st.local.get(SESSION) || null, identity }),
      onFrame,
      onState(state, code) {
        if (state === 'failed') fail(FATAL[code]);
        ui.setConn(state === 'reconnecting' && offline() ? 'offline' : state);
      },
    }).start();
  }

  function onFrame(f) {
    if (f.type === 'aichat.welcome') welcome(f);
    else if (f.type === 'aichat.accepted') {
      store.accepted(f.client_id, f.message_id, f.reply_id);
      if (stopFor && stopFor === f.client_id) {
        stopFor = null;
        send({ type: 'aichat.stop', message_id: f.reply_id });
      }
    } else if (isStreamFrame(f)) streamFrame(f);
    else if (f.type === 'aichat.error') error(f);
  }

  function welcome(f) {
    const prev = st.local.get(SESSION);
    if (f.session_id) {
      if (prev && prev !== f.session_id) snaps = {}; // the server started a new session
      st.local.set(SESSION, f.session_id);
    }
    store.history(f.messages, snaps);
    snaps = {};
    for (const m of store.streaming()) {
      snaps[m.id] = store.snapshot(m);
      resume(m);
    }
    saveSnaps(true);
    for (const m of store.pending()) send({ type: 'aichat.message', client_id: m.cid, text: m.content });
  }

  function resume(m) {
    asked[m.id] = m.seq;
    send({ type: 'aichat.resume', message_id: m.id, after_seq: m.seq });
  }

  function streamFrame(f) {
    const result = store.apply(f);
    const m = store.find(f.message_id);
    if (!m) return;
    if (result === 'gap') {
      if (asked[m.id] !== m.seq) resume(m);
      return;
    }
    if (result !== 'ok') return;
    if (m.status === 'streaming') {
      snaps[m.id] = store.snapshot(m);
      saveSnaps(false);
    } else {
      delete snaps[m.id];
      saveSnaps(true);
      emit(win, 'message', { id: m.id, text: m.content, status: m.status, sources: m.sources });
    }
  }

  /** Persist streaming progress (seq + text together) so a reload resumes exactly. */
  function saveSnaps(now) {
    win.clearTimeout(snapTimer);
    const write = () => {
      if (Object.keys(snaps).length) st.session.setJSON(SNAPS, snaps);
      else st.session.remove(SNAPS);
    };
    if (now) write();
    else snapTimer = win.setTimeout(write, 300);
  }

  function error(f) {
    emit(win, 'error', { code: f.code, message: f.message || '' });
    if (f.client_id) {
      const m = store.fail(f.client_id);
      if (m && m.status === 'failed') ui.restoreInput(m.content);
    }
    if (f.message_id && f.code === 'not_found') store.setStatus(f.message_id, 'incomplete');
    if (f.code === 'rate_limited' || f.code === 'conversation_busy') ui.flash(S.slow);
    else if (f.code !== 'invalid_identity' && f.code !== 'not_found') ui.flash(S.error);
  }

  // ---- user actions --------------------------------------------------------

  function sendText(text) {
    text = String(text).trim().slice(0, MAX_TEXT);
    if (!text || store.busy()) return;
    const cid = uuid(win);
    store.addUser(cid, text);
    connect();
    send({ type: 'aichat.message', client_id: cid, text });
  }

  function stop() {
    const m = store.streaming().pop();
    if (m) send({ type: 'aichat.stop', message_id: m.id });
    else {
      const p = store.pending().pop();
      if (p) stopFor = p.cid;
    }
  }

  function feedback(id, rating, comment) {
    store.setFeedback(id, rating);
    send({ type: 'aichat.feedback', message_id: id, rating, comment: comment || '' });
  }

  function identify(arg) {
    const next = normalizeIdentity(arg);
    if (!next) {
      warn(win, 'identify() needs {userId, signature} or {token}');
      return false;
    }
    // Host apps often call identify() on every route change: only a new identity reconnects.
    if (JSON.stringify(next) === JSON.stringify(identity)) return true;
    identity = next;
    if (transport) transport.restart();
    return true;
  }

  /** Start over: a new session, an empty conversation. */
  function newConversation() {
    const m = store.streaming().pop();
    if (m) send({ type: 'aichat.stop', message_id: m.id });
    st.local.remove(SESSION);
    st.session.remove(SNAPS);
    snaps = {};
    stopFor = null;
    store.clear();
    if (transport) transport.restart();
  }

  /** AIChat.reset(): as newConversation, and forget the identity (call it on logout). */
  function reset() {
    identity = null;
    newConversation();
  }

  return api;
}
