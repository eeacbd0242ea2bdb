import test from 'node:test';
import assert from 'node:assert/strict';
import { closeWindows, setupDom } from './helpers.js';
import { createUI } from '../src/ui.js';
import { createStore } from '../src/store.js';
import { strings } from '../src/i18n.js';

test.afterEach(closeWindows);

/** A mounted UI bound to a fresh store; callbacks are recorded in `calls`. */
function mount(opts = {}) {
  const win = setupDom();
  if (opts.matchMedia !== undefined) win.matchMedia = opts.matchMedia;
  const calls = [];
  const rec = (name) => (...args) => calls.push([name, ...args]);
  const store = createStore();
  const ui = createUI({
    win,
    origin: 'https://chat.example',
    strings: strings('en'),
    schedule: (fn) => fn(),
    onSend: rec('send'),
    onStop: rec('stop'),
    onFeedback: rec('feedback'),
    onOpen: rec('open'),
    onClose: rec('close'),
    onNew: rec('new'),
    onWarm: rec('warm'),
  });
  const host = document.createElement('div');
  document.body.appendChild(host);
  const sr = host.attachShadow({ mode: 'open' });
  ui.mount(sr);
  ui.bind(store);
  store.subscribe(ui.update);
  ui.configure(opts.config || {}, strings('en'));
  const $ = (sel) => sr.querySelector(sel);
  const $$ = (sel) => [...sr.querySelectorAll(sel)];
  return { win, ui, store, sr, calls, $, $$ };
}

const key = (el, k, extra = {}) => el.dispatchEvent(new window.KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true, composed: true, ...extra }));

test('draws a labelled launcher and a closed dialog with its CSS in the shadow root', () => {
  const { $, ui } = mount();
  const launcher = $('.launcher');
  assert.equal(launcher.getAttribute('aria-label'), 'Open chat');
  assert.equal(launcher.getAttribute('aria-expanded'), 'false');
  const panel = $('[role="dialog"]');
  assert.equal(panel.getAttribute('aria-modal'), 'true');
  assert.equal(panel.getAttribute('aria-labelledby'), 'aichat-title');
  assert.equal($('#aichat-title').textContent, 'Chat with us');
  assert.ok($('style').textContent.includes(':host'));
  assert.equal(ui.isOpen(), false);
  assert.equal($('.log').getAttribute('aria-live'), 'polite');
});

test('open focuses the input; Escape closes and returns focus to the launcher', () => {
  const { $, sr, ui, calls } = mount();
  $('.launcher').click();
  assert.ok(ui.isOpen());
  assert.ok($('.root').classList.contains('open'));
  assert.equal($('.launcher').getAttribute('aria-expanded'), 'true');
  assert.equal(sr.activeElement, $('textarea'));
  key($('textarea'), 'Escape');
  assert.equal(ui.isOpen(), false);
  assert.equal(sr.activeElement, $('.launcher'));
  assert.deepEqual(calls.map((c) => c[0]).filter((c) => c !== 'warm'), ['open', 'close']);
  assert.ok(calls.some((c) => c[0] === 'warm'), 'focusing the launcher warms the connection');
});

test('Tab and Shift+Tab stay inside the open window', () => {
  const { $, sr, ui } = mount({ config: { starter_questions: ['How much?'] } });
  ui.open();
  const newBtn = $('.head .ib');
  const textarea = $('textarea');
  textarea.value = 'x';
  textarea.dispatchEvent(new window.Event('input'));
  const send = $('.send');
  send.focus();
  key(send, 'Tab');
  assert.equal(sr.activeElement, newBtn, 'wraps from the last control to the first');
  key(newBtn, 'Tab', { shiftKey: true });
  assert.equal(sr.activeElement, send, 'and back');
});

test('Enter sends, Shift+Enter does not, IME composition does not', () => {
  const { $, ui, calls } = mount();
  ui.open();
  const ta = $('textarea');
  ta.value = '  Hello there  ';
  key(ta, 'Enter', { shiftKey: true });
  key(ta, 'Enter', { isComposing: true });
  assert.equal(calls.filter((c) => c[0] === 'send').length, 0);
  key(ta, 'Enter');
  assert.deepEqual(calls.filter((c) => c[0] === 'send'), [['send', 'Hello there']]);
  assert.equal(ta.value, '');
});

test('the send button is disabled when empty and becomes a stop button while answering', () => {
  const { $, ui, store, calls } = mount();
  ui.open();
  const btn = $('.send');
  assert.equal(btn.disabled, true);
  assert.equal(btn.getAttribute('aria-label'), 'Send message');
  store.addUser('c1', 'Hi');
  ui.flush();
  assert.equal(btn.disabled, false);
  assert.equal(btn.getAttribute('aria-label'), 'Stop generating');
  assert.ok(btn.classList.contains('stop'));
  btn.click();
  assert.deepEqual(calls.at(-1), ['stop']);
  key($('textarea'), 'Enter');
  assert.equal(calls.filter((c) => c[0] === 'send').length, 0, 'Enter never stops or double-sends');
});

test('greeting and starter questions show on an empty conversation; a chip sends its text', () => {
  const { $, $$, ui, store, calls } = mount({ config: { greeting: 'Welcome **friend**', starter_questions: ['Pricing?', 'Refunds?', 7, ''] } });
  ui.open();
  assert.equal($('.intro .md strong').textContent, 'friend');
  const chips = $$('.chip');
  assert.deepEqual(chips.map((c) => c.textContent), ['Pricing?', 'Refunds?']);
  chips[1].click();
  assert.deepEqual(calls.at(-1), ['send', 'Refunds?']);
  store.addUser('c1', 'Refunds?');
  ui.flush();
  assert.equal($('.intro').hidden, true);
});

test('messages render: user text as text, assistant markdown, typing dots while waiting', () => {
  const { $, $$, ui, store } = mount();
  ui.open();
  store.addUser('c1', '<b>hi</b>');
  ui.flush();
  assert.equal($('.user .bubble').textContent, '<b>hi</b>');
  assert.equal($('.user .bubble b'), null);
  assert.ok($('.typing'), 'typing indicator while pending');
  assert.equal($('.typing .sr').textContent, 'The assistant is typing');
  store.accepted('c1', 'u1', 'r1');
  ui.flush();
  assert.ok($('.typing'));
  store.apply({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'A **bold** answer' });
  ui.flush();
  assert.equal($('.typing'), null);
  assert.equal($('.bot .md strong').textContent, 'bold');
  assert.equal($$('.msg').filter((m) => !m.closest('.intro')).length, 2);
  assert.equal($('.bot:not(.intro .bot)').getAttribute('aria-busy'), 'true');
});

test('each delta re-renders only the streaming message, in place', () => {
  const { $$, ui, store } = mount();
  ui.open();
  store.addUser('c1', 'q');
  store.accepted('c1', 'u1', 'r1');
  store.apply({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'one' });
  ui.flush();
  const userEl = $$('.user')[0];
  const botEl = $$('.bot').at(-1);
  store.apply({ type: 'aichat.delta', message_id: 'r1', seq: 2, text: ' two' });
  ui.flush();
  assert.equal($$('.user')[0], userEl);
  assert.equal($$('.bot').at(-1), botEl);
  assert.equal(botEl.querySelector('.md').textContent, 'one two');
});

test('a finished answer shows tools, sources (linked when safe, with page) and a notice', () => {
  const { $, $$, ui, store } = mount();
  ui.open();
  store.accepted('c0', null, 'r1');
  store.apply({ type: 'aichat.tool', message_id: 'r1', seq: 1, summary: 'Looked up order 1234' });
  store.apply({ type: 'aichat.delta', message_id: 'r1', seq: 2, text: 'Done.' });
  store.apply({ type: 'aichat.sources', message_id: 'r1', seq: 3, sources: [
    { title: 'Refund policy', url: 'https://docs.example/refunds', page: 3 },
    { title: 'Internal memo', url: 'javascript:alert(1)', page: null },
    { title: null, url: null },
  ] });
  store.apply({ type: 'aichat.done', message_id: 'r1', seq: 4, status: 'incomplete', notice: 'The assistant is offline.' });
  ui.flush();
  assert.equal($('.tool').textContent, 'Looked up order 1234');
  assert.equal($('.src b').textContent, 'Sources');
  const items = $$('.src li');
  assert.equal(items.length, 3);
  assert.equal(items[0].querySelector('a').getAttribute('href'), 'https://docs.example/refunds');
  assert.equal(items[0].querySelector('a').getAttribute('rel'), 'noopener noreferrer');
  assert.equal(items[0].textContent, 'Refund policy · p. 3');
  assert.equal(items[1].querySelector('a'), null);
  assert.equal(items[1].textContent, 'Internal memo');
  assert.equal($('.note').textContent, 'The assistant is offline.');
  assert.equal($('.bot:not(.intro .bot)').getAttribute('aria-busy'), 'false');
});

test('show_sources: false hides sources', () => {
  const { $, ui, store } = mount({ config: { show_sources: false } });
  ui.open();
  store.apply({ type: 'aichat.sources', message_id: 'r1', seq: 1, sources: [{ title: 'x' }] });
  ui.flush();
  assert.equal($('.src'), null);
});

test('thumbs up/down report feedback, then offer an optional comment', () => {
  const { $, $$, ui, store, calls } = mount();
  ui.open();
  store.apply({ type: 'aichat.delta', message_id: 'r1', seq: 1, text: 'Answer' });
  ui.flush();
  assert.equal($('.fb'), null, 'no feedback while streaming');
  store.apply({ type: 'aichat.done', message_id: 'r1', seq: 2, status: 'complete' });
  ui.flush();
  assert.equal($('.fb span').textContent, 'Was this helpful?');
  const [up, down] = $$('.fb button');
  assert.equal(up.getAttribute('aria-label'), 'Helpful');
  assert.equal(down.getAttribute('aria-label'), 'Not helpful');
  down.click();
  store.setFeedback('r1', 'down'); // what the app does on onFeedback
  ui.flush();
  assert.deepEqual(calls.at(-1), ['feedback', 'r1', 'down', '']);
  assert.equal($$('.fb button')[1].getAttribute('aria-pressed'), 'true');
  const ta = $('.fbc textarea');
  assert.equal(ta.placeholder, 'Tell us more (optional)');
  ta.value = 'Too vague';
  $('.fbc').dispatchEvent(new window.Event('submit', { cancelable: true }));
  assert.deepEqual(calls.at(-1), ['feedback', 'r1', 'down', 'Too vague']);
  ui.flush();
  assert.equal($('.fb').textContent, 'Thanks for your feedback!');
});

test('configure applies colours, position, icon, title, logo and language', () => {
  const { $, ui } = mount();
  ui.configure({
    title: 'Acme help', colors: { primary: '#ff6600', text_on_primary: '#000000' }, position: 'left',
    launcher_icon: 'sparkle', logo_url: '/media/logo.png',
  }, strings('fr'));
  const root = $('.root');
  assert.equal(root.style.getPropertyValue('--p'), '#ff6600');
  assert.equal(root.style.getPropertyValue('--op'), '#000000');
  assert.ok(root.classList.contains('left'));
  assert.equal($('.launcher .i1').querySelectorAll('path').length, 2);
  assert.equal($('#aichat-title').textContent, 'Acme help');
  assert.equal($('.logo').getAttribute('src'), 'https://chat.example/media/logo.png');
  assert.equal($('.logo').hidden, false);
  assert.equal($('textarea').placeholder, 'Écrivez un message…');
  assert.equal($('.launcher').getAttribute('aria-label'), 'Ouvrir la discussion');
});

test('unsafe colours and logo URLs are ignored', () => {
  const { $, ui } = mount();
  ui.configure({ colors: { primary: 'red; background: url(https://evil)' }, logo_url: 'javascript:alert(1)' }, strings('en'));
  assert.equal($('.root').style.getPropertyValue('--p'), '');
  assert.equal($('.logo').hidden, true);
});

test('dark mode: "dark" forces it, "auto" follows prefers-color-scheme, no matchMedia is fine', () => {
  let listener = null;
  const mq = { matches: true, addEventListener: (_, fn) => (listener = fn) };
  const { $, ui } = mount({ matchMedia: () => mq });
  assert.ok($('.root').classList.contains('dark'), 'auto + dark system');
  mq.matches = false;
  listener();
  assert.ok(!$('.root').classList.contains('dark'));
  ui.configure({ dark_mode: 'dark' }, strings('en'));
  assert.ok($('.root').classList.contains('dark'));
  ui.configure({ dark_mode: 'light' }, strings('en'));
  mq.matches = true;
  listener();
  assert.ok(!$('.root').classList.contains('dark'));
  const other = mount({ matchMedia: null });
  assert.ok(!other.$('.root').classList.contains('dark'));
  other.ui.open();
});

test('connection banner: offline at once, reconnecting only after a delay, failure disables input', () => {
  const { $, ui, win } = mount();
  ui.setConn('offline');
  assert.equal($('.banner').textContent, 'You are offline.');
  assert.equal($('.banner').hidden, false);
  ui.setConn('open');
  assert.equal($('.banner').hidden, true);
  ui.flash('Too many messages. Please wait a moment.');
  assert.equal($('.banner').hidden, false);
  ui.setConn('failed');
  assert.equal($('textarea').disabled, true);
  assert.equal($('.send').disabled, true);
  // Failed means a refused key or origin: trying again would not help, so it does not say to.
  assert.equal($('.banner').textContent, 'Chat is not available on this page.');
  win.close();
});

test('restoreInput puts a refused message back only into an empty composer', () => {
  const { $, ui } = mount();
  ui.restoreInput('first');
  ui.restoreInput('second');
  assert.equal($('textarea').value, 'first');
});

test('the new-conversation and close buttons are labelled and work', () => {
  const { $$, ui, calls } = mount();
  ui.open();
  const [newBtn, closeBtn] = $$('.head .ib');
  assert.equal(newBtn.getAttribute('aria-label'), 'New conversation');
  assert.equal(closeBtn.getAttribute('aria-label'), 'Close chat');
  newBtn.click();
  closeBtn.click();
  assert.deepEqual(calls.map((c) => c[0]).filter((c) => c === 'new' || c === 'close'), ['new', 'close']);
  assert.equal(ui.isOpen(), false);
});
