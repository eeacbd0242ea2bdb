import test from 'node:test';
import assert from 'node:assert/strict';
import { createStorage } from '../src/storage.js';

function memoryArea() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), m };
}

test('reads and writes through to localStorage and sessionStorage', () => {
  const local = memoryArea();
  const session = memoryArea();
  const st = createStorage({ localStorage: local, sessionStorage: session });
  st.local.set('a', 1);
  st.session.setJSON('b', { x: 1 });
  assert.equal(local.m.get('a'), '1');
  assert.deepEqual(st.session.getJSON('b'), { x: 1 });
  st.local.remove('a');
  assert.equal(st.local.get('a'), null);
});

test('a window whose localStorage getter throws (sandboxed iframe) falls back to memory', () => {
  const win = {};
  Object.defineProperty(win, 'localStorage', { get() { throw new Error('SecurityError'); } });
  Object.defineProperty(win, 'sessionStorage', { get() { throw new Error('SecurityError'); } });
  const st = createStorage(win);
  st.local.set('k', 'v');
  assert.equal(st.local.get('k'), 'v');
  st.local.remove('k');
  assert.equal(st.local.get('k'), null);
});

test('setItem throwing (quota, Safari private mode) keeps working from memory', () => {
  const area = memoryArea();
  let calls = 0;
  const win = { localStorage: { ...area, setItem: () => { if (calls++) throw new Error('QuotaExceededError'); } }, sessionStorage: area };
  const st = createStorage(win); // the probe write succeeds, later writes throw
  st.local.set('k', 'v');
  assert.equal(st.local.get('k'), 'v');
});

test('getJSON returns the default for missing or corrupt values', () => {
  const area = memoryArea();
  const st = createStorage({ localStorage: area, sessionStorage: area });
  area.setItem('bad', '{not json');
  assert.deepEqual(st.local.getJSON('bad', {}), {});
  assert.deepEqual(st.local.getJSON('missing', []), []);
});
