import test from 'node:test';
import assert from 'node:assert/strict';
import { LANGUAGES, pickLanguage, strings } from '../src/i18n.js';

const doc = (lang) => ({ documentElement: { lang } });

test('bundles en, fr, de and es, each with every string filled in', () => {
  assert.deepEqual(LANGUAGES, ['en', 'fr', 'de', 'es']);
  const keys = Object.keys(strings('en'));
  for (const k of ['placeholder', 'send', 'stop', 'close', 'sources', 'helpful', 'up', 'down', 'comment', 'offline', 'reconnecting', 'slow', 'error', 'newChat', 'unavailable']) {
    assert.ok(keys.includes(k), k);
  }
  for (const lang of LANGUAGES) {
    const s = strings(lang);
    assert.deepEqual(Object.keys(s), keys, lang);
    for (const k of keys) assert.ok(s[k] && !s[k].includes('|'), lang + '.' + k);
  }
  assert.equal(strings('fr').sources, 'Sources');
  assert.equal(strings('de').sources, 'Quellen');
  assert.equal(strings('es').sources, 'Fuentes');
});

test('"auto" follows the host page <html lang> prefix', () => {
  assert.equal(pickLanguage('auto', doc('fr-CA')), 'fr');
  assert.equal(pickLanguage('auto', doc('DE')), 'de');
  assert.equal(pickLanguage('auto', doc('es')), 'es');
});

test('unknown or missing languages fall back to English', () => {
  assert.equal(pickLanguage('auto', doc('ja')), 'en');
  assert.equal(pickLanguage('auto', doc('')), 'en');
  assert.equal(pickLanguage('auto', null), 'en');
  assert.equal(pickLanguage('auto', { get documentElement() { throw new Error('x'); } }), 'en');
  assert.equal(strings('xx'), strings('en'));
});

test('an explicit configured language wins over the page', () => {
  assert.equal(pickLanguage('de', doc('fr')), 'de');
});
