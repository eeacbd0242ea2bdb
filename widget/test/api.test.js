import test from 'node:test';
import assert from 'node:assert/strict';
import { closeWindows, setupDom } from './helpers.js';
import { emit, installApi, normalizeIdentity } from '../src/api.js';

test.afterEach(closeWindows);

function actions(log) {
  const a = {};
  for (const k of ['open', 'close', 'toggle', 'identify', 'reset']) a[k] = (...args) => log.push([k, ...args]);
  return a;
}

test('installs window.AIChat with open, close, toggle, identify, reset and on', () => {
  const win = setupDom();
  const log = [];
  const api = installApi(win, actions(log));
  assert.equal(win.AIChat, api);
  assert.ok(api.__aichat);
  api.open();
  api.close();
  api.toggle();
  api.identify({ token: 't' });
  api.reset();
  assert.deepEqual(log.map((l) => l[0]), ['open', 'close', 'toggle', 'identify', 'reset']);
  assert.deepEqual(log[3][1], { token: 't' });
});

test('on(event) receives the detail of aichat:<event> CustomEvents on window, and unsubscribes', () => {
  const win = setupDom();
  const api = installApi(win, actions([]));
  const got = [];
  const off = api.on('message', (d) => got.push(d));
  api.on('aichat:open', (d) => got.push(['open', d]));
  emit(win, 'message', { id: 'm1' });
  emit(win, 'open');
  off();
  emit(win, 'message', { id: 'm2' });
  assert.deepEqual(got, [{ id: 'm1' }, ['open', {}]]);
  assert.equal(typeof api.on('x', 'not a function'), 'function');
});

test('events are real DOM CustomEvents a host can listen to directly', () => {
  const win = setupDom();
  let detail = null;
  win.addEventListener('aichat:error', (e) => (detail = e.detail));
  emit(win, 'error', { code: 'rate_limited' });
  assert.deepEqual(detail, { code: 'rate_limited' });
});

test('emit never throws, even with a broken CustomEvent on the host page', () => {
  assert.doesNotThrow(() => emit({ CustomEvent: null, dispatchEvent() {} }, 'ready'));
});

test('calls queued before the script loaded are replayed in order', () => {
  const win = setupDom();
  win.AIChat = { q: [['identify', { userId: 1, signature: 's' }], ['open'], ['nope'], ['close']] };
  const log = [];
  installApi(win, actions(log));
  assert.deepEqual(log.map((l) => l[0]), ['identify', 'open', 'close']);
});

test('normalizeIdentity accepts {userId, signature} or {token} and rejects the rest', () => {
  assert.deepEqual(normalizeIdentity({ userId: 42, signature: 'abc' }), { user_id: '42', signature: 'abc' });
  assert.deepEqual(normalizeIdentity({ user_id: 'u', signature: 'abc' }), { user_id: 'u', signature: 'abc' });
  assert.deepEqual(normalizeIdentity({ token: 'jwt' }), { token: 'jwt' });
  for (const bad of [null, 'x', {}, { userId: 1 }, { signature: 's' }, { token: '' }, { userId: '', signature: 's' }]) {
    assert.equal(normalizeIdentity(bad), null);
  }
});
