// The built artifact, loaded the way a customer's page loads it:
// <script src=".../widget.js" data-key="..." async>.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import jsdom from 'jsdom';
import { bundle } from '../build.mjs';

const { JSDOM, requestInterceptor } = jsdom;
const BUDGET = 15000; // bytes of `gzip -9`

let code;
test.before(async () => {
  code = await bundle();
});

/** A page whose widget.js requests get the bundle; resolves once the page has loaded. */
function page(body, { lang = 'en' } = {}) {
  const dom = new JSDOM(`<!doctype html><html lang="${lang}"><head></head><body>${body}</body></html>`, {
    url: 'https://shop.example/',
    runScripts: 'dangerously',
    resources: {
      interceptors: [
        requestInterceptor((request) =>
          request.url.includes('widget.js')
            ? new Response(code, { headers: { 'Content-Type': 'application/javascript' } })
            : new Response('', { status: 404 }),
        ),
      ],
    },
    pretendToBeVisual: true,
  });
  const win = dom.window;
  const events = [];
  win.addEventListener('aichat:ready', () => events.push('ready'));
  win.addEventListener('aichat:error', (e) => events.push('error:' + e.detail.code));
  return new Promise((resolve) => win.addEventListener('load', () => resolve({ win, events })));
}

const TAG = '<script src="https://chat.example/widget.js" data-key="pk_live_1" async></script>';

test('the built widget boots from its script tag: launcher, one global, ready even without a backend', async () => {
  const { win, events } = await page(TAG);
  const root = win.document.getElementById('aichat-root');
  assert.ok(root, 'host element');
  assert.ok(root.shadowRoot.querySelector('.launcher'), 'launcher in the shadow root');
  assert.equal(typeof win.AIChat.open, 'function');
  for (const m of ['close', 'toggle', 'identify', 'reset', 'on']) assert.equal(typeof win.AIChat[m], 'function', m);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(events, ['error:config_unavailable', 'ready'], 'jsdom has no fetch: degrades gracefully');
  win.AIChat.open();
  assert.equal(root.shadowRoot.querySelector('.root').classList.contains('open'), true);
  win.close();
});

test('loading the script twice initialises once', async () => {
  const { win } = await page(TAG + TAG);
  assert.equal(win.document.querySelectorAll('#aichat-root').length, 1);
  win.close();
});

/** Size as the budget is defined (`gzip -9 -c widget.js | wc -c`); zlib if gzip is missing (it packs ~1 % worse). */
function gzipSize(text) {
  try {
    return execFileSync('gzip', ['-9', '-c'], { input: text }).length;
  } catch (e) {
    return gzipSync(text, { level: 9 }).length;
  }
}

test('the bundle stays within its size budget', () => {
  const size = gzipSize(code);
  assert.ok(size <= BUDGET, `widget.js is ${size} bytes gzipped (budget ${BUDGET})`);
});

test('the bundle never writes HTML strings into the page', () => {
  for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) {
    assert.ok(!code.includes(sink), sink);
  }
});

test('the bundle is one IIFE that loads nothing else (no imports, no CDN)', () => {
  assert.match(code, /^\(\(\)=>\{/);
  assert.ok(!/\bimport\s*\(|\brequire\(|https?:\/\/(?!www\.w3\.org)/.test(code));
});
