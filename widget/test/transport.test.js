import test from 'node:test';
import assert from 'node:assert/strict';
import { FakeWebSocket, fakeClock, flushPromises, response, sse } from './helpers.js';
import { backoff, createTransport, sseParser } from '../src/transport.js';

const WELCOME = { type: 'aichat.welcome', session_id: 's1', identity_verified: false, messages: [] };

/** A transport on a fake window; returns it with what it reported. */
function setup({ ws = true, fetch, online = true, hello } = {}) {
  FakeWebSocket.reset();
  const clock = fakeClock();
  const frames = [];
  const states = [];
  const win = {
    WebSocket: ws ? FakeWebSocket : undefined,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    fetch,
    navigator: { onLine: online },
  };
  const t = createTransport({
    win,
    origin: 'https://chat.example',
    key: 'pk_1',
    random: () => 0.5,
    hello: hello || (() => ({ type: 'aichat.hello', session_id: 's1', identity: null })),
    onFrame: (f) => frames.push(f),
    onState: (s, code) => states.push(code ? s + ':' + code : s),
  });
  return { t, clock, frames, states, win };
}

test('backoff starts at 0.5 s, doubles, is capped at 30 s and is jittered', () => {
  assert.equal(backoff(0, () => 1), 500);
  assert.equal(backoff(1, () => 1), 1000);
  assert.equal(backoff(2, () => 1), 2000);
  assert.equal(backoff(10, () => 1), 30000);
  assert.equal(backoff(100, () => 1), 30000);
  assert.equal(backoff(0, () => 0), 250);
  const seen = new Set([0, 0.3, 0.7, 0.99].map((r) => backoff(3, () => r)));
  assert.equal(seen.size, 4, 'different random draws give different delays');
});

test('sseParser handles chunks split anywhere, CRLF, comments and multi-line data', () => {
  const got = [];
  const feed = sseParser((d) => got.push(d));
  feed('id: 1\r\nda');
  feed('ta: {"a":1}\r\n\r\n: keep-alive\n\n');
  feed('data: line1\ndata: line2\n');
  feed('\n');
  assert.deepEqual(got, ['{"a":1}', 'line1\nline2']);
});

test('WebSocket: connects to /ws/widget/?key=, sends hello first, is up on welcome', () => {
  const { t, frames, states } = setup();
  t.start();
  const ws = FakeWebSocket.last();
  assert.equal(ws.url, 'wss://chat.example/ws/widget/?key=pk_1');
  ws.serverOpen();
  assert.deepEqual(ws.sent[0], { type: 'aichat.hello', session_id: 's1', identity: null });
  assert.equal(t.send({ type: 'aichat.message', client_id: 'c', text: 'x' }), false, 'not before the welcome');
  ws.serverSend(WELCOME);
  assert.deepEqual(states, ['connecting', 'open']);
  assert.equal(frames[0].type, 'aichat.welcome');
  assert.equal(t.send({ type: 'aichat.message', client_id: 'c', text: 'x' }), true);
  assert.equal(ws.sent[1].type, 'aichat.message');
  assert.equal(t.kind(), 'ws');
});

test('WebSocket: http origins use ws://, junk and foreign frames are ignored, pongs are swallowed', () => {
  FakeWebSocket.reset();
  const frames = [];
  const t = createTransport({
    win: { WebSocket: FakeWebSocket, setTimeout: () => 0, clearTimeout() {} },
    origin: 'http://localhost:8000',
    key: 'k',
    hello: () => ({ type: 'aichat.hello' }),
    onFrame: (f) => frames.push(f.type),
    onState() {},
  }).start();
  const ws = FakeWebSocket.last();
  assert.equal(ws.url, 'ws://localhost:8000/ws/widget/?key=k');
  ws.serverSend(WELCOME);
  ws.serverSend('not json');
  ws.serverSend({ type: 'other.thing' });
  ws.serverSend({ type: 'aichat.pong' });
  ws.serverSend({ type: 'aichat.delta', message_id: 'm', seq: 1, text: 'x' });
  assert.deepEqual(frames, ['aichat.welcome', 'aichat.delta']);
  t.close();
});

test('WebSocket: pings every 25 s while up', () => {
  const { t, clock } = setup();
  t.start();
  const ws = FakeWebSocket.last();
  ws.serverOpen();
  ws.serverSend(WELCOME);
  clock.advance(25000);
  clock.advance(25000);
  assert.deepEqual(ws.sent.slice(1).map((f) => f.type), ['aichat.ping', 'aichat.ping']);
});

test('WebSocket: a dropped connection reconnects with backoff and a fresh hello', () => {
  let n = 0;
  const { t, clock, states } = setup({ hello: () => ({ type: 'aichat.hello', session_id: 's' + ++n, identity: null }) });
  t.start();
  let ws = FakeWebSocket.last();
  ws.serverOpen();
  ws.serverSend(WELCOME);
  ws.serverClose(1006);
  assert.equal(states.at(-1), 'reconnecting');
  assert.deepEqual(clock.pending(), [375], '0.5 s with jitter');
  clock.advance(375);
  ws = FakeWebSocket.last();
  assert.equal(FakeWebSocket.all.length, 2);
  ws.serverOpen();
  assert.equal(ws.sent[0].session_id, 's2');
  ws.serverClose(1006); // dies before its welcome: the next wait doubles
  assert.deepEqual(clock.pending(), [750]);
  clock.advance(750);
  FakeWebSocket.last().serverOpen();
  FakeWebSocket.last().serverSend(WELCOME);
  assert.equal(states.at(-1), 'open');
  assert.equal(t.kind(), 'ws', 'a socket that once worked never falls back');
});

test('WebSocket: 4401 and 4403 are final (no retry), 4429 retries', () => {
  for (const code of [4401, 4403]) {
    const { t, clock, states } = setup();
    t.start();
    FakeWebSocket.last().serverOpen();
    FakeWebSocket.last().serverClose(code);
    assert.equal(states.at(-1), 'failed:' + code);
    assert.deepEqual(clock.pending(), []);
    clock.advance(60000);
    assert.equal(FakeWebSocket.all.length, 1);
    t.restart();
    t.kick();
    assert.equal(FakeWebSocket.all.length, 1);
  }
  const { t, clock } = setup();
  t.start();
  FakeWebSocket.last().serverClose(4429);
  FakeWebSocket.last().serverClose(4429); // stale socket: ignored
  clock.advance(1000);
  FakeWebSocket.last().serverClose(4429);
  clock.advance(2000);
  assert.equal(FakeWebSocket.all.length, 3, 'rate limiting never switches to SSE');
  assert.equal(t.kind(), 'ws');
});

test('stop and feedback frames sent while down are queued until the next welcome', () => {
  const { t, clock } = setup();
  t.start();
  FakeWebSocket.last().serverOpen();
  FakeWebSocket.last().serverSend(WELCOME);
  FakeWebSocket.last().serverClose(1006);
  assert.equal(t.send({ type: 'aichat.stop', message_id: 'r1' }), false);
  assert.equal(t.send({ type: 'aichat.resume', message_id: 'r1', after_seq: 1 }), false);
  clock.advance(1000);
  const ws = FakeWebSocket.last();
  ws.serverOpen();
  ws.serverSend(WELCOME);
  assert.deepEqual(ws.sent.map((f) => f.type), ['aichat.hello', 'aichat.stop']);
});

test('restart() closes the socket and reconnects at once; close() stops for good', () => {
  const { t, clock } = setup();
  t.start();
  const first = FakeWebSocket.last();
  first.serverOpen();
  first.serverSend(WELCOME);
  t.restart();
  assert.equal(first.closedWith, 1000);
  assert.equal(FakeWebSocket.all.length, 2);
  first.serverClose(1000); // the old socket's late close event changes nothing
  assert.deepEqual(clock.pending().filter((d) => d < 10000), []);
  t.close();
  assert.equal(FakeWebSocket.last().closedWith, 1000);
  clock.advance(60000);
  assert.equal(FakeWebSocket.all.length, 2);
});

test('kick() (back online) retries now instead of waiting out the backoff', () => {
  const { t } = setup();
  t.start();
  FakeWebSocket.last().serverOpen();
  FakeWebSocket.last().serverSend(WELCOME);
  FakeWebSocket.last().serverClose(1006);
  assert.equal(FakeWebSocket.all.length, 1);
  t.kick();
  assert.equal(FakeWebSocket.all.length, 2);
  t.kick(); // already connecting
  assert.equal(FakeWebSocket.all.length, 2);
});

test('a socket with no welcome within 10 s counts as failed', () => {
  const { t, clock, states } = setup({ fetch: () => new Promise(() => {}) });
  t.start();
  FakeWebSocket.last().serverOpen();
  clock.advance(10000);
  assert.equal(states.at(-1), 'reconnecting');
});

// ---- fallback to HTTP + SSE ------------------------------------------------

function scriptedFetch(routes) {
  const calls = [];
  const fetch = (url, init) => {
    calls.push({ url, init });
    const path = url.replace('https://chat.example', '');
    for (const [re, fn] of routes) if (re.test(path)) return Promise.resolve(fn(path, init));
    return Promise.reject(new TypeError('network'));
  };
  return { fetch, calls };
}

test('two WebSocket failures before any welcome switch to SSE', async () => {
  const { fetch, calls } = scriptedFetch([[/^\/widget\/api\/session/, () => response(200, { session_id: 's1', messages: [] })]]);
  const { t, clock, frames, states } = setup({ fetch });
  t.start();
  FakeWebSocket.last().serverClose(1006);
  clock.advance(1000);
  FakeWebSocket.last().serverClose(1006);
  await flushPromises();
  assert.equal(t.kind(), 'sse');
  assert.equal(calls[0].url, 'https://chat.example/widget/api/session?key=pk_1&session_id=s1');
  assert.equal(calls[0].init.credentials, 'omit');
  assert.equal(frames[0].type, 'aichat.welcome');
  assert.equal(states.at(-1), 'open');
});

test('offline failures do not count towards the fallback', () => {
  const { t, clock } = setup({ online: false });
  t.start();
  for (let i = 0; i < 4; i++) {
    FakeWebSocket.last().serverClose(1006);
    clock.advance(60000);
  }
  assert.equal(t.kind(), 'ws');
});

test('no WebSocket at all: SSE from the start; messages stream over POST', async () => {
  const frames = [
    { type: 'aichat.accepted', client_id: 'c1', message_id: 'u1', reply_id: 'r1' },
    { type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'Hel' },
    { type: 'aichat.delta', message_id: 'r1', seq: 2, text: 'lo' },
    { type: 'aichat.done', message_id: 'r1', seq: 3, status: 'complete', notice: null },
  ];
  const text = sse(frames);
  const { fetch, calls } = scriptedFetch([
    [/^\/widget\/api\/session/, () => response(200, { session_id: 's1', messages: [] })],
    [/^\/widget\/api\/messages\?/, () => response(200, null, [text.slice(0, 37), text.slice(37, 120), text.slice(120)])],
  ]);
  const { t, frames: got, clock } = setup({ ws: false, fetch, hello: () => ({ type: 'aichat.hello', session_id: null, identity: { token: 'jwt' } }) });
  t.start();
  await flushPromises();
  assert.equal(calls[0].url, 'https://chat.example/widget/api/session?key=pk_1');
  assert.equal(calls[0].init.headers['X-AIChat-Identity'], encodeURIComponent('{"token":"jwt"}'));
  assert.equal(t.send({ type: 'aichat.message', client_id: 'c1', text: 'Hi' }), true);
  for (let i = 0; i < 10; i++) await flushPromises();
  assert.equal(calls[1].url, 'https://chat.example/widget/api/messages?key=pk_1&session_id=s1');
  assert.equal(calls[1].init.method, 'POST');
  assert.deepEqual(JSON.parse(calls[1].init.body), { session_id: 's1', client_id: 'c1', text: 'Hi', identity: { token: 'jwt' } });
  assert.deepEqual(got.slice(1), frames);
  assert.deepEqual(clock.pending(), [], 'a stream that ended with done is not a drop');
});

test('SSE: a stream cut before done reconnects (session fetch) after a backoff', async () => {
  let sessions = 0;
  const { fetch } = scriptedFetch([
    [/^\/widget\/api\/session/, () => (sessions++, response(200, { session_id: 's1', messages: [] }))],
    [/\/stream\?/, () => response(200, null, [sse([{ type: 'aichat.delta', message_id: 'r1', seq: 4, text: 'x' }])])],
  ]);
  const { t, clock, frames, states } = setup({ ws: false, fetch });
  t.start();
  await flushPromises();
  t.send({ type: 'aichat.resume', message_id: 'r1', after_seq: 3 });
  for (let i = 0; i < 10; i++) await flushPromises();
  assert.equal(frames.at(-1).seq, 4);
  assert.equal(states.at(-1), 'reconnecting');
  clock.advance(500);
  await flushPromises();
  assert.equal(sessions, 2);
  assert.equal(states.at(-1), 'open');
});

test('SSE: resume, stop and feedback use their endpoints', async () => {
  const { fetch, calls } = scriptedFetch([
    [/^\/widget\/api\/session/, () => response(200, { session_id: 's 1', messages: [] })],
    [/\/feedback\?/, () => response(204, {})],
    [/\/stop\?/, () => response(204, {})],
    [/\/stream\?/, () => response(200, null, [sse([{ type: 'aichat.done', message_id: 'r/1', seq: 5, status: 'complete' }])])],
  ]);
  const { t, frames } = setup({ ws: false, fetch });
  t.start();
  await flushPromises();
  t.send({ type: 'aichat.resume', message_id: 'r/1', after_seq: 4 });
  t.send({ type: 'aichat.stop', message_id: 'r/1' });
  t.send({ type: 'aichat.feedback', message_id: 'r/1', rating: 'down', comment: 'meh' });
  for (let i = 0; i < 10; i++) await flushPromises();
  const urls = calls.slice(1).map((c) => c.init.method + ' ' + c.url.replace('https://chat.example/widget/api/', ''));
  assert.deepEqual(urls, [
    'GET messages/r%2F1/stream?key=pk_1&session_id=s%201&after_seq=4',
    'POST messages/r%2F1/stop?key=pk_1&session_id=s%201',
    'POST messages/r%2F1/feedback?key=pk_1&session_id=s%201',
  ]);
  assert.deepEqual(JSON.parse(calls[3].init.body), { rating: 'down', comment: 'meh' });
  assert.ok(frames.some((f) => f.type === 'aichat.feedback_saved' && f.message_id === 'r/1'));
});

test('SSE: an HTTP error answer to a message becomes an error frame for that client_id', async () => {
  const { fetch } = scriptedFetch([
    [/^\/widget\/api\/session/, () => response(200, { session_id: 's1', messages: [] })],
    [/^\/widget\/api\/messages\?/, () => response(429, { type: 'aichat.error', code: 'rate_limited', message: 'Slow down', retry_after: 3 })],
  ]);
  const { t, frames, clock } = setup({ ws: false, fetch });
  t.start();
  await flushPromises();
  t.send({ type: 'aichat.message', client_id: 'c1', text: 'x' });
  for (let i = 0; i < 5; i++) await flushPromises();
  const err = frames.at(-1);
  assert.equal(err.type, 'aichat.error');
  assert.equal(err.code, 'rate_limited');
  assert.equal(err.client_id, 'c1');
  assert.equal(err.retry_after, 3);
  assert.deepEqual(clock.pending(), [], 'an answered request is not a lost connection');
});

test('SSE: 401/403 on the session are final; 5xx and network errors retry', async () => {
  for (const [status, code] of [[401, 4401], [403, 4403]]) {
    const { fetch } = scriptedFetch([[/session/, () => response(status, {})]]);
    const { t, states, clock } = setup({ ws: false, fetch });
    t.start();
    await flushPromises();
    assert.equal(states.at(-1), 'failed:' + code);
    assert.deepEqual(clock.pending(), []);
  }
  const { fetch } = scriptedFetch([[/session/, () => response(502, 'Bad gateway')]]);
  const { t, states, clock } = setup({ ws: false, fetch });
  t.start();
  await flushPromises();
  assert.equal(states.at(-1), 'reconnecting');
  assert.equal(clock.pending().length, 1);
});

test('SSE: retry_after from a 429 on the session stretches the wait', async () => {
  const { fetch } = scriptedFetch([[/session/, () => response(429, { type: 'aichat.error', code: 'rate_limited', message: '', retry_after: 20 })]]);
  const { t, clock } = setup({ ws: false, fetch });
  t.start();
  await flushPromises();
  assert.deepEqual(clock.pending(), [20000]);
});
