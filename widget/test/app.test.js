import test from 'node:test';
import assert from 'node:assert/strict';
import { closeWindows, FakeWebSocket, flushPromises, response, setupDom } from './helpers.js';
import { findScript, normalizeConfig, start, uuid } from '../src/app.js';

test.afterEach(closeWindows);

const KEY = 'pk_test';
const WELCOME = (extra = {}) => ({ type: 'aichat.welcome', session_id: 'sess-1', identity_verified: false, messages: [], ...extra });

/** A page with our script tag, a fake server (WebSocket + fetch), and the widget started. */
function boot({ config = { title: 'Acme' }, configStatus = 200, lang = 'en', before } = {}) {
  const win = setupDom(`<!doctype html><html lang="${lang}"><head></head><body><script src="https://chat.example/widget.js" data-key="${KEY}" async></script></body></html>`);
  FakeWebSocket.reset();
  win.WebSocket = FakeWebSocket;
  const fetches = [];
  let answer;
  const pending = new Promise((r) => (answer = r));
  win.fetch = (url) => {
    fetches.push(url);
    return config === 'hang' ? new Promise(() => {}) : pending;
  };
  const events = [];
  for (const e of ['ready', 'open', 'close', 'message', 'error']) win.addEventListener('aichat:' + e, (ev) => events.push([e, ev.detail]));
  if (before) before(win);
  const globalsBefore = new Set(Object.keys(win));
  const t0 = Date.now();
  const api = start(win);
  const startMs = Date.now() - t0;
  const newGlobals = Object.keys(win).filter((k) => !globalsBefore.has(k));
  answer(response(configStatus, config));
  const shadow = () => win.document.getElementById('aichat-root').shadowRoot;
  const $ = (sel) => shadow().querySelector(sel);
  const $$ = (sel) => [...shadow().querySelectorAll(sel)];
  const frame = () => new Promise((r) => win.requestAnimationFrame(() => r()));
  return { win, api, fetches, events, newGlobals, startMs, $, $$, frame };
}

/** Open the window, accept the socket, send the welcome. */
async function connected(t, welcome = WELCOME()) {
  await flushPromises();
  t.api.open();
  const ws = FakeWebSocket.last();
  ws.serverOpen();
  ws.serverSend(welcome);
  await t.frame();
  return ws;
}

test('draws the launcher synchronously, before the config answers, as the only global', async () => {
  const t = boot({ config: 'hang' });
  assert.ok(t.startMs < 100, 'start() took ' + t.startMs + ' ms');
  const root = t.win.document.getElementById('aichat-root');
  assert.ok(root && root.shadowRoot, 'host element with a shadow root');
  assert.ok(t.$('.launcher'));
  assert.deepEqual(t.newGlobals, ['AIChat']);
  await flushPromises();
  assert.equal(t.fetches[0], 'https://chat.example/widget/config?key=pk_test');
  assert.equal(FakeWebSocket.all.length, 0, 'no connection until the visitor shows interest');
});

test('init is idempotent: a second start does nothing', () => {
  const t = boot();
  assert.equal(start(t.win), t.api);
  assert.equal(t.win.document.querySelectorAll('#aichat-root').length, 1);
});

test('without a data-key nothing is drawn and no global is set', () => {
  const win = setupDom('<!doctype html><html><body><script src="https://chat.example/widget.js"></script></body></html>');
  win.console.warn = () => {};
  assert.equal(start(win), null);
  assert.equal(win.document.getElementById('aichat-root'), null);
  assert.equal(win.AIChat, undefined);
});

test('findScript prefers document.currentScript, else script[src*="widget.js"][data-key]', () => {
  const mine = { getAttribute: (k) => (k === 'data-key' ? 'x' : null) };
  assert.equal(findScript({ currentScript: mine }), mine);
  const tag = {};
  assert.equal(findScript({ currentScript: null, querySelector: () => tag }), tag);
  assert.equal(findScript({ get currentScript() { throw new Error('x'); }, querySelector: () => null }), null);
});

test('uuid() gives RFC 4122 v4 ids, with or without crypto.randomUUID', () => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid({ crypto: globalThis.crypto }), re);
  const noRandomUUID = { getRandomValues: (b) => globalThis.crypto.getRandomValues(b) };
  assert.match(uuid({ crypto: noRandomUUID }), re);
  assert.notEqual(uuid({ crypto: noRandomUUID }), uuid({ crypto: noRandomUUID }));
});

test('normalizeConfig tolerates junk', () => {
  assert.deepEqual(normalizeConfig(null), {});
  assert.deepEqual(normalizeConfig([1]), {});
  assert.deepEqual(normalizeConfig({ title: 'x' }), { title: 'x' });
});

test('the config is applied, then aichat:ready fires with it; language auto follows <html lang>', async () => {
  const t = boot({ config: { title: 'Acme Support', language: 'auto', colors: { primary: '#0a7cff' } }, lang: 'de-AT' });
  await flushPromises();
  assert.equal(t.$('#aichat-title').textContent, 'Acme Support');
  assert.equal(t.$('textarea').placeholder, 'Nachricht schreiben…');
  assert.equal(t.$('.root').style.getPropertyValue('--p'), '#0a7cff');
  assert.deepEqual(t.events.map((e) => e[0]), ['ready']);
  assert.equal(t.events[0][1].config.title, 'Acme Support');
});

test('a failed config fetch keeps the defaults, reports aichat:error and still gets ready', async () => {
  const t = boot({ configStatus: 500, config: 'oops' });
  await flushPromises();
  assert.ok(t.$('.launcher'));
  assert.deepEqual(t.events.map((e) => e[0]), ['error', 'ready']);
  assert.equal(t.events[0][1].code, 'config_unavailable');
});

test('an unknown key (401 on config) is reported and disables the composer', async () => {
  const t = boot({ configStatus: 401, config: {} });
  await flushPromises();
  assert.equal(t.events[0][1].code, 'unknown_key');
  assert.equal(t.$('textarea').disabled, true);
});

test('opening connects with the stored session and renders the history from the welcome', async () => {
  const t = boot({ before: (w) => w.localStorage.setItem('aichat:pk_test:session', 'sess-1') });
  const ws = await connected(t, WELCOME({ messages: [
    { id: 'u1', role: 'user', content: 'Hi', status: 'complete', sources: [], feedback: null, seq: 0 },
    { id: 'a1', role: 'assistant', content: 'Hello **there**', status: 'complete', sources: [], feedback: 'up', seq: 2 },
  ] }));
  assert.deepEqual(ws.sent[0], { type: 'aichat.hello', session_id: 'sess-1', identity: null });
  assert.equal(t.$('.user .bubble').textContent, 'Hi');
  assert.equal(t.$('.bot:not(.intro .bot) strong').textContent, 'there');
  assert.equal(t.$$('.fb button')[0].getAttribute('aria-pressed'), 'true');
  assert.deepEqual(t.events.map((e) => e[0]), ['ready', 'open']);
  assert.equal(t.win.sessionStorage.getItem('aichat:pk_test:open'), '1');
});

test('a new visitor gets the session id from the welcome and keeps it in localStorage', async () => {
  const t = boot();
  const ws = await connected(t, WELCOME({ session_id: 'fresh' }));
  assert.equal(ws.sent[0].session_id, null);
  assert.equal(t.win.localStorage.getItem('aichat:pk_test:session'), 'fresh');
});

test('sending: message frame, accepted, streamed answer, aichat:message when done', async () => {
  const t = boot();
  const ws = await connected(t);
  const ta = t.$('textarea');
  ta.value = 'What is your refund policy?';
  ta.dispatchEvent(new t.win.KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  const msg = ws.sent.at(-1);
  assert.equal(msg.type, 'aichat.message');
  assert.equal(msg.text, 'What is your refund policy?');
  assert.match(msg.client_id, /^[0-9a-f-]{36}$/);
  ws.serverSend({ type: 'aichat.accepted', client_id: msg.client_id, message_id: 'u1', reply_id: 'r1' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'Within ' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 2, text: '30 days.' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 2, text: '30 days.' }); // duplicate
  await t.frame();
  assert.equal(t.$$('.bot .md').at(-1).textContent, 'Within 30 days.');
  ws.serverSend({ type: 'aichat.done', message_id: 'r1', seq: 3, status: 'complete', notice: null });
  const done = t.events.find((e) => e[0] === 'message');
  assert.deepEqual(done[1], { id: 'r1', text: 'Within 30 days.', status: 'complete', sources: [] });
  assert.equal(t.win.sessionStorage.getItem('aichat:pk_test:stream'), null, 'no snapshot once finished');
});

test('streaming progress (seq + text) is saved for a reload', async () => {
  const t = boot();
  const ws = await connected(t);
  ws.serverSend({ type: 'aichat.delta', message_id: 'r9', seq: 1, text: 'partial' });
  await new Promise((r) => setTimeout(r, 350));
  const saved = JSON.parse(t.win.sessionStorage.getItem('aichat:pk_test:stream'));
  assert.deepEqual({ seq: saved.r9.seq, content: saved.r9.content }, { seq: 1, content: 'partial' });
});

test('after a reload an answer still being generated resumes from the last seq it shows', async () => {
  const t = boot({ before: (w) => w.localStorage.setItem('aichat:pk_test:session', 'sess-1') });
  const ws = await connected(t, WELCOME({ messages: [
    { id: 'u1', role: 'user', content: 'Explain', status: 'complete', sources: [], feedback: null, seq: 0 },
    { id: 'r1', role: 'assistant', content: 'Step one, ', status: 'streaming', sources: [], feedback: null, seq: 3 },
  ] }));
  assert.deepEqual(ws.sent[1], { type: 'aichat.resume', message_id: 'r1', after_seq: 3 });
  assert.equal(t.$$('.bot .md').at(-1).textContent, 'Step one,');
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 3, text: 'Step one, ' }); // already in the history
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 4, text: 'step two.' });
  await t.frame();
  assert.equal(t.$$('.bot .md').at(-1).textContent, 'Step one, step two.');
});

test('a saved snapshot ahead of the history is shown and resumed from', async () => {
  const t = boot({
    before: (w) => {
      w.localStorage.setItem('aichat:pk_test:session', 'sess-1');
      w.sessionStorage.setItem('aichat:pk_test:stream', JSON.stringify({ r1: { seq: 6, content: 'Step one, step two, ', sources: [], tools: [] } }));
    },
  });
  const ws = await connected(t, WELCOME({ messages: [{ id: 'r1', role: 'assistant', content: 'Step one, ', status: 'streaming', seq: 3 }] }));
  assert.deepEqual(ws.sent[1], { type: 'aichat.resume', message_id: 'r1', after_seq: 6 });
  assert.equal(t.$$('.bot .md').at(-1).textContent, 'Step one, step two,');
});

test('a dropped connection resumes the streaming answer after the new welcome', async () => {
  const t = boot();
  const ws = await connected(t);
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'one ' });
  ws.serverClose(1006);
  await new Promise((r) => setTimeout(r, 600));
  const ws2 = FakeWebSocket.last();
  assert.notEqual(ws2, ws);
  ws2.serverOpen();
  ws2.serverSend(WELCOME({ messages: [{ id: 'r1', role: 'assistant', content: '', status: 'streaming', seq: 0 }] }));
  assert.deepEqual(ws2.sent[1], { type: 'aichat.resume', message_id: 'r1', after_seq: 1 });
  ws2.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'one ' });
  ws2.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 2, text: 'two' });
  await t.frame();
  assert.equal(t.$$('.bot .md').at(-1).textContent, 'one two');
});

test('a gap in the sequence asks for a resume from the last seq seen, once', async () => {
  const t = boot();
  const ws = await connected(t);
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'a' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 3, text: 'c' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 4, text: 'd' });
  const resumes = ws.sent.filter((f) => f.type === 'aichat.resume');
  assert.deepEqual(resumes, [{ type: 'aichat.resume', message_id: 'r1', after_seq: 1 }]);
});

test('a message typed before the connection is up is sent once, after the welcome', async () => {
  const t = boot();
  await flushPromises();
  t.api.open();
  const ta = t.$('textarea');
  ta.value = 'early bird';
  ta.dispatchEvent(new t.win.KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  const ws = FakeWebSocket.last();
  ws.serverOpen();
  assert.equal(ws.sent.length, 1, 'only the hello before the welcome');
  ws.serverSend(WELCOME());
  const msgs = ws.sent.filter((f) => f.type === 'aichat.message');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].text, 'early bird');
});

test('the stop button sends aichat.stop for the answer being streamed', async () => {
  const t = boot();
  const ws = await connected(t);
  t.$('textarea').value = 'long question';
  t.$('textarea').dispatchEvent(new t.win.KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  await t.frame();
  t.$('.send').click(); // not accepted yet: remembered
  const cid = ws.sent.at(-1).client_id;
  ws.serverSend({ type: 'aichat.accepted', client_id: cid, message_id: 'u1', reply_id: 'r1' });
  assert.deepEqual(ws.sent.at(-1), { type: 'aichat.stop', message_id: 'r1' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'x' });
  await t.frame();
  t.$('.send').click();
  assert.deepEqual(ws.sent.at(-1), { type: 'aichat.stop', message_id: 'r1' });
});

test('feedback goes out as aichat.feedback', async () => {
  const t = boot();
  const ws = await connected(t, WELCOME({ messages: [{ id: 'a1', role: 'assistant', content: 'Answer', status: 'complete', seq: 2 }] }));
  t.$$('.fb button')[0].click();
  assert.deepEqual(ws.sent.at(-1), { type: 'aichat.feedback', message_id: 'a1', rating: 'up', comment: '' });
});

test('identify() reconnects with the identity in the hello; the same identity again does not', async () => {
  const t = boot();
  await connected(t);
  assert.equal(t.api.identify({ userId: 'u-42', signature: 'hmac' }), true);
  assert.equal(FakeWebSocket.all.length, 2);
  const ws2 = FakeWebSocket.last();
  ws2.serverOpen();
  assert.deepEqual(ws2.sent[0].identity, { user_id: 'u-42', signature: 'hmac' });
  t.api.identify({ userId: 'u-42', signature: 'hmac' });
  assert.equal(FakeWebSocket.all.length, 2);
  t.win.console.warn = () => {};
  assert.equal(t.api.identify({ nope: 1 }), false);
});

test('identify() before the first connection is carried by the first hello', async () => {
  const t = boot();
  t.api.identify({ token: 'jwt-abc' });
  const ws = await connected(t);
  assert.deepEqual(ws.sent[0].identity, { token: 'jwt-abc' });
});

test('reset() forgets the session, the conversation and the identity, and starts a new session', async () => {
  const t = boot({ before: (w) => w.localStorage.setItem('aichat:pk_test:session', 'sess-1') });
  t.api.identify({ token: 'jwt' });
  await connected(t, WELCOME({ messages: [{ id: 'a1', role: 'assistant', content: 'Old', status: 'complete' }] }));
  t.api.reset();
  assert.equal(t.win.localStorage.getItem('aichat:pk_test:session'), null);
  const ws2 = FakeWebSocket.last();
  ws2.serverOpen();
  assert.deepEqual(ws2.sent[0], { type: 'aichat.hello', session_id: null, identity: null });
  await t.frame();
  assert.equal(t.$('.intro').hidden, false, 'empty conversation again');
});

test('a refused origin (close 4403) is reported once and never retried', async () => {
  const t = boot();
  await flushPromises();
  t.api.open();
  FakeWebSocket.last().serverOpen();
  FakeWebSocket.last().serverClose(4403);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(FakeWebSocket.all.length, 1);
  const errors = t.events.filter((e) => e[0] === 'error');
  assert.deepEqual(errors.map((e) => e[1].code), ['origin_not_allowed']);
  assert.equal(t.$('textarea').disabled, true);
});

test('a rate-limited message is marked failed, its text goes back to the composer', async () => {
  const t = boot();
  const ws = await connected(t);
  t.$('textarea').value = 'spam';
  t.$('textarea').dispatchEvent(new t.win.KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  const cid = ws.sent.at(-1).client_id;
  ws.serverSend({ type: 'aichat.error', code: 'rate_limited', message: 'Slow down', retry_after: 5, client_id: cid });
  await t.frame();
  assert.equal(t.$('.err').textContent, 'Something went wrong. Please try again.');
  assert.equal(t.$('textarea').value, 'spam');
  assert.equal(t.$('.banner').textContent, 'Too many messages. Please wait a moment.');
  assert.deepEqual(t.events.at(-1), ['error', { code: 'rate_limited', message: 'Slow down' }]);
  assert.equal(t.$('.send').classList.contains('stop'), false, 'not busy any more');
});

test('a resume answered not_found stops waiting for that message', async () => {
  const t = boot();
  const ws = await connected(t, WELCOME({ messages: [{ id: 'r1', role: 'assistant', content: 'half', status: 'streaming', seq: 2 }] }));
  ws.serverSend({ type: 'aichat.error', code: 'not_found', message: '', message_id: 'r1' });
  await t.frame();
  assert.equal(t.$('.send').classList.contains('stop'), false);
});

test('the window reopens after a reload if it was open', async () => {
  const t = boot({ before: (w) => w.sessionStorage.setItem('aichat:pk_test:open', '1') });
  await flushPromises();
  await flushPromises();
  assert.equal(t.$('.root').classList.contains('open'), true);
  t.api.close();
  assert.equal(t.win.sessionStorage.getItem('aichat:pk_test:open'), '0');
  assert.deepEqual(t.events.map((e) => e[0]), ['ready', 'open', 'close']);
});

test('toggle() opens and closes', async () => {
  const t = boot();
  t.api.toggle();
  assert.equal(t.$('.root').classList.contains('open'), true);
  t.api.toggle();
  assert.equal(t.$('.root').classList.contains('open'), false);
});
