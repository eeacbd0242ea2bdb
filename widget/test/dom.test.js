import test from 'node:test';
import assert from 'node:assert/strict';
import { closeWindows, setupDom } from './helpers.js';
import { h, add, icon } from '../src/dom.js';

test.afterEach(closeWindows);

test('h() sets class, text, attributes and listeners, and skips null/false attributes', () => {
  setupDom();
  let clicked = 0;
  const el = h('button', { class: 'a b', text: 'Hi', 'aria-label': 'x', hidden: false, title: null, onclick: () => clicked++ });
  assert.equal(el.className, 'a b');
  assert.equal(el.textContent, 'Hi');
  assert.equal(el.getAttribute('aria-label'), 'x');
  assert.equal(el.hasAttribute('hidden'), false);
  assert.equal(el.hasAttribute('title'), false);
  el.click();
  assert.equal(clicked, 1);
});

test('children: strings become text nodes (never parsed as HTML), arrays flatten, null is skipped', () => {
  setupDom();
  const el = h('div', null, '<b>not bold</b>', null, [h('i'), ['x', false]]);
  assert.equal(el.querySelector('b'), null);
  assert.equal(el.textContent, '<b>not bold</b>x');
  assert.equal(el.childNodes.length, 3);
  add(el, ['y']);
  assert.equal(el.textContent.endsWith('y'), true);
});

test('icon() builds an aria-hidden SVG with one path per string', () => {
  setupDom();
  const s = icon(['M1 1', 'M2 2'], 'i1');
  assert.equal(s.namespaceURI, 'http://www.w3.org/2000/svg');
  assert.equal(s.getAttribute('aria-hidden'), 'true');
  assert.equal(s.getAttribute('class'), 'i1');
  assert.equal(s.querySelectorAll('path').length, 2);
});
