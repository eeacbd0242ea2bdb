import test from 'node:test';
import assert from 'node:assert/strict';
import CSS from '../src/styles.js';

test('host page CSS cannot leak in: :host is reset with all: initial', () => {
  assert.match(CSS, /:host\s*\{\s*all:\s*initial\s*!important;\s*\}/);
});

test('theme comes from custom properties set on our own root element', () => {
  assert.match(CSS, /\.root\s*\{[^}]*--p:/);
  assert.match(CSS, /\.dark\s*\{[^}]*--bg:/);
  assert.match(CSS, /background:\s*var\(--p\)/);
});

test('full screen below 640 px, reduced motion respected, visible focus rings', () => {
  assert.match(CSS, /@media \(max-width: 639\.98px\)/);
  assert.match(CSS, /@media \(prefers-reduced-motion: reduce\)/);
  assert.match(CSS, /:focus-visible\s*\{\s*outline:\s*2px solid/);
});

test('desktop window is about 380 x 600, anchored bottom right (or left)', () => {
  assert.match(CSS, /\.panel\s*\{[^}]*width:\s*380px;[^}]*height:\s*600px;/);
  assert.match(CSS, /\.left \.panel\s*\{[^}]*left:\s*20px/);
});

test('no web fonts, imports or remote URLs', () => {
  assert.doesNotMatch(CSS, /@import|@font-face|url\(/);
  assert.doesNotMatch(CSS, /\$\{/, 'the build minifies this as a plain string');
});
