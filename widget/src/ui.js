// The widget's DOM: launcher bubble and chat window inside the shadow root.
// It renders the store's messages and reports user intent through callbacks;
// it knows nothing about transports.

import { h, icon } from './dom.js';
import { renderMarkdown, safeUrl } from './markdown.js';
import CSS from './styles.js';

export const MAX_TEXT = 4000; // characters; keeps a frame well under the 16 KiB limit
const SMALL = '(max-width: 639.98px)';

const I = {
  chat: 'M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-3.6-.8L3 21l1.6-4.6A8.4 8.4 0 1 1 21 11.5z',
  help: ['M12 2.5a9.5 9.5 0 1 0 0 19 9.5 9.5 0 1 0 0-19z', 'M9.3 9.2a2.8 2.8 0 0 1 5.4 1c0 1.9-2.7 2.5-2.7 4.1', 'M12 17.3h.01'],
  sparkle: ['M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z', 'M19 15.5l.8 2 2 .8-2 .8-.8 2-.8-2-2-.8 2-.8z'],
  x: 'M6 6l12 12M18 6L6 18',
  send: 'M12 19V5M5.5 11.5L12 5l6.5 6.5',
  stop: 'M7.5 7.5h9v9h-9z',
  new: 'M12 5v14M5 12h14',
  thumb: ['M7 10v11', 'M7 10l4-7.3c1.3 0 2.3 1 2.1 2.3L12.5 9H19a2 2 0 0 1 2 2.3l-1.4 7.6a2.5 2.5 0 0 1-2.4 2.1H7', 'M7 10H4a1 1 0 0 0-1 1v9a1 1 0 0 0 1 1h3'],
};

const COLOR = /^(#[0-9a-f]{3,8}|(rgb|hsl)a?\([\d\s.,%/-]+\)|[a-z]{3,20})$/i;

/**
 * o = {win, strings, origin, onSend(text), onStop(), onFeedback(id, rating, comment),
 *      onOpen(), onClose(), onNew(), onWarm(), schedule(fn)}
 */
export function createUI(o) {
  const win = o.win || window;
  const schedule = o.schedule || ((fn) => (win.requestAnimationFrame ? win.requestAnimationFrame(fn) : win.setTimeout(fn, 16)));
  let S = o.strings;
  let cfg = {};
  let store = null;
  let shadow = null;
  let opened = false;
  let fatal = false;
  let conn = 'idle';
  let flashText = '';
  let flashTimer = 0;
  let slowTimer = 0;
  let slowShown = false;
  let queued = false;
  let stick = false;
  let focusComment = null;
  let darkMode = 'auto';
  let mq = null;
  const recs = new Map(); // message object -> render record
  const fbState = {}; // message id -> "c" (comment box open) | "t" (thanked)

  const launcher = h('button', {
    class: 'launcher', type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', 'aria-controls': 'aichat-panel',
    onclick: () => toggle(), onpointerenter: () => o.onWarm(), onfocus: () => o.onWarm(),
  });
  let launcherIcon = icon(I.chat, 'i1');
  launcher.append(launcherIcon, icon(I.x, 'i2'));

  const logo = h('img', { class: 'logo', alt: '', hidden: true });
  logo.addEventListener('error', () => (logo.hidden = true));
  const title = h('h2', { class: 'title', id: 'aichat-title' });
  const newBtn = h('button', { class: 'ib', type: 'button', onclick: () => o.onNew() }, icon(I.new));
  const closeBtn = h('button', { class: 'ib', type: 'button', onclick: () => close(true) }, icon(I.x));
  const banner = h('div', { class: 'banner', role: 'status', hidden: true });
  const greet = h('div', { class: 'bubble md' });
  const chips = h('div', { class: 'chips' });
  const intro = h('div', { class: 'intro' }, h('div', { class: 'msg bot' }, greet), chips);
  const typingLabel = h('span', { class: 'sr' });
  const typing = h('div', { class: 'typing' }, typingLabel, h('i'), h('i'), h('i'));
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' }, intro);
  const input = h('textarea', { rows: '1', maxlength: String(MAX_TEXT), oninput: grow, onkeydown: inputKey });
  const sendBtn = h('button', { class: 'send', type: 'submit' });
  const form = h('form', { class: 'comp', onsubmit: (e) => (e.preventDefault(), submit()) }, h('div', { class: 'box' }, input, sendBtn));
  const panel = h(
    'div',
    { class: 'panel', id: 'aichat-panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'aichat-title', tabindex: '-1' },
    h('div', { class: 'head' }, logo, title, newBtn, closeBtn),
    banner,
    log,
    form,
  );
  const root = h('div', { class: 'root', onkeydown: rootKey }, launcher, panel);

  // ---- input -------------------------------------------------------------

  function busy() {
    return !!(store && store.busy());
  }

  function grow() {
    input.style.height = '';
    if (input.value) input.style.height = Math.min(input.scrollHeight || 0, 120) + 'px';
    sendState();
  }

  function inputKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      if (!busy()) submit();
    }
  }

  function submit() {
    if (busy()) return o.onStop();
    const text = input.value.trim();
    if (!text || fatal) return;
    input.value = '';
    grow();
    send(text);
  }

  function send(text) {
    stick = true;
    o.onSend(text);
  }

  function sendState() {
    const b = busy();
    sendBtn.className = b ? 'send stop' : 'send';
    sendBtn.textContent = '';
    sendBtn.appendChild(icon(b ? I.stop : I.send));
    label(sendBtn, b ? S.stop : S.send);
    sendBtn.disabled = fatal || (!b && !input.value.trim());
    input.disabled = fatal;
  }

  // ---- keyboard: Escape closes, Tab stays inside the open window ---------

  function rootKey(e) {
    if (!opened) return;
    if (e.key === 'Escape') {
      e.stopPropagation();
      close(true);
    } else if (e.key === 'Tab') {
      const active = shadow && shadow.activeElement;
      if (active === launcher) return;
      const all = Array.from(panel.querySelectorAll('button, textarea, a[href], [tabindex="0"]')).filter(
        (el) => !el.disabled && !el.closest('[hidden]'),
      );
      if (!all.length) return;
      const first = all[0];
      const last = all[all.length - 1];
      const inside = active && active !== panel && panel.contains(active);
      if (e.shiftKey ? active === first || !inside : active === last || !inside) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    }
  }

  // ---- open / close ------------------------------------------------------

  function small() {
    try {
      return !!(win.matchMedia && win.matchMedia(SMALL).matches);
    } catch (e) {
      return false;
    }
  }

  function open() {
    if (opened) return;
    opened = true;
    root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', S.close);
    stick = true;
    render();
    // On phones the keyboard would cover half the chat: focus the window, not the input.
    (small() ? panel : input).focus({ preventScroll: true });
    o.onOpen();
  }

  function close(returnFocus) {
    if (!opened) return;
    const hadFocus = !!(shadow && shadow.activeElement);
    opened = false;
    root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', S.open);
    if (returnFocus || hadFocus) launcher.focus({ preventScroll: true });
    o.onClose();
  }

  function toggle() {
    opened ? close(true) : open();
  }

  // ---- configuration -----------------------------------------------------

  function applyDark() {
    root.classList.toggle('dark', darkMode === 'dark' || (darkMode === 'auto' && !!(mq && mq.matches)));
  }

  function setDark(mode) {
    darkMode = mode || 'auto';
    if (!mq) {
      try {
        mq = win.matchMedia('(prefers-color-scheme: dark)');
        if (mq.addEventListener) mq.addEventListener('change', applyDark);
        else if (mq.addListener) mq.addListener(applyDark);
      } catch (e) {
        mq = null; // matchMedia missing: light unless the config says dark
      }
    }
    applyDark();
  }

  /** Apply a (normalised) widget config and the string table for its language. */
  function configure(c, strings) {
    cfg = c;
    S = strings;
    const colors = c.colors || {};
    const st = root.style;
    if (COLOR.test(colors.primary || '')) {
      st.setProperty('--p', colors.primary);
      st.setProperty('--op', COLOR.test(colors.text_on_primary || '') ? colors.text_on_primary : '#fff');
    }
    root.classList.toggle('left', c.position === 'left');
    const next = icon(/^(help|sparkle)$/.test(c.launcher_icon) ? I[c.launcher_icon] : I.chat, 'i1');
    launcher.replaceChild(next, launcherIcon);
    launcherIcon = next;
    launcher.setAttribute('aria-label', opened ? S.close : S.open);
    title.textContent = c.title || S.title;
    let src = null;
    try {
      src = c.logo_url ? safeUrl(new URL(c.logo_url, o.origin).href) : null;
    } catch (e) { /* invalid URL: no logo */ }
    if (src && /^https?:/i.test(src)) {
      logo.src = src;
      logo.hidden = false;
    } else logo.hidden = true;
    greet.textContent = '';
    greet.appendChild(renderMarkdown(c.greeting || S.greeting));
    chips.textContent = '';
    (Array.isArray(c.starter_questions) ? c.starter_questions : [])
      .filter((q) => typeof q === 'string' && q.trim())
      .slice(0, 4)
      .forEach((q) => chips.appendChild(h('button', { class: 'chip', type: 'button', text: q, onclick: () => !busy() && !fatal && send(q) })));
    label(closeBtn, S.close);
    label(newBtn, S.newChat);
    input.placeholder = S.placeholder;
    input.setAttribute('aria-label', S.placeholder);
    log.setAttribute('aria-label', title.textContent);
    typingLabel.textContent = S.typing;
    setDark(c.dark_mode);
    recs.forEach((r) => (r.v = -1));
    setConn(conn);
    update();
  }

  // ---- connection banner -------------------------------------------------

  function bannerText() {
    if (fatal) return S.unavailable;
    if (conn === 'offline') return S.offline;
    if (conn === 'reconnecting' && slowShown) return S.reconnecting;
    return flashText;
  }

  function showBanner() {
    const t = bannerText();
    banner.textContent = t;
    banner.hidden = !t;
  }

  /** Connection state: "idle" | "connecting" | "open" | "reconnecting" | "offline" | "failed". */
  function setConn(state) {
    conn = state;
    if (state === 'failed') fatal = true;
    win.clearTimeout(slowTimer);
    slowShown = false;
    // Only mention a reconnect that takes a while; a quick one goes unnoticed.
    if (state === 'reconnecting') slowTimer = win.setTimeout(() => ((slowShown = true), showBanner()), 1500);
    showBanner();
    sendState();
  }

  function flash(text) {
    flashText = text;
    showBanner();
    win.clearTimeout(flashTimer);
    flashTimer = win.setTimeout(() => ((flashText = ''), showBanner()), 6000);
  }

  function restoreInput(text) {
    if (!input.value) {
      input.value = text;
      grow();
    }
  }

  // ---- messages ----------------------------------------------------------

  function update() {
    if (queued || !opened) return;
    queued = true;
    schedule(render);
  }

  function render() {
    queued = false;
    if (!shadow) return;
    const list = store ? store.list() : [];
    const near = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    const seen = new Set(list);
    recs.forEach((r, m) => {
      if (!seen.has(m)) {
        r.el.remove();
        recs.delete(m);
      }
    });
    let cursor = intro.nextSibling;
    for (const m of list) {
      let r = recs.get(m);
      if (!r) recs.set(m, (r = { el: h('div', { class: 'msg ' + (m.role === 'user' ? 'user' : 'bot') }), v: -1 }));
      if (r.v !== m.v) {
        paint(r, m);
        r.v = m.v;
      }
      if (cursor !== r.el) log.insertBefore(r.el, cursor);
      cursor = r.el.nextSibling;
    }
    intro.hidden = list.length > 0;
    if (store && store.waiting()) log.appendChild(typing);
    else typing.remove();
    sendState();
    if (near || stick) log.scrollTop = log.scrollHeight;
    stick = false;
  }

  function paint(r, m) {
    const el = r.el;
    if (m.role === 'user') {
      el.textContent = '';
      el.appendChild(h('div', { class: 'bubble', text: m.content }));
      if (m.status === 'failed') el.appendChild(h('div', { class: 'err', text: S.error }));
      return;
    }
    const streaming = m.status === 'streaming';
    if (!r.body) {
      r.tools = h('div');
      r.body = h('div', { class: 'bubble md' });
      r.extra = h('div');
      el.append(r.tools, r.body, r.extra);
    }
    el.setAttribute('aria-busy', String(streaming));
    if (r.nTools !== m.tools.length) {
      r.nTools = m.tools.length;
      r.tools.textContent = '';
      m.tools.forEach((t) => r.tools.appendChild(h('div', { class: 'tool', text: t })));
    }
    if (r.content !== m.content) {
      r.content = m.content;
      r.body.textContent = '';
      r.body.appendChild(renderMarkdown(m.content));
    }
    r.body.hidden = !m.content;
    const sig = [m.status, m.notice, m.feedback, fbState[m.id], m.sources.length, cfg.show_sources, S.sources].join('|');
    if (r.sig === sig && r.sources === m.sources) return;
    r.sig = sig;
    r.sources = m.sources;
    r.extra.textContent = '';
    if (cfg.show_sources !== false && m.sources.length) r.extra.appendChild(sources(m.sources));
    if (m.notice) r.extra.appendChild(h('div', { class: 'note', text: m.notice }));
    if (!streaming && m.id && m.content) r.extra.appendChild(feedback(m));
  }

  function sources(list) {
    return h(
      'div',
      { class: 'src' },
      h('b', { text: S.sources }),
      h('ol', null, list.slice(0, 8).map((s) => {
        s = s || {};
        const url = safeUrl(s.url);
        const name = String(s.title || s.url || S.sources);
        const page = s.page != null && s.page !== '' ? ' · ' + S.page + ' ' + s.page : '';
        return h(
          'li',
          null,
          url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: name }) : name,
          page,
        );
      })),
    );
  }

  function feedback(m) {
    const st = fbState[m.id];
    const row = h('div', { class: 'fb' });
    if (st === 't') return add(row, h('span', { text: S.thanks }));
    const thumb = (rating, cls) =>
      h('button', {
        class: 'ib ' + cls, type: 'button', 'aria-label': S[rating], title: S[rating], 'aria-pressed': m.feedback === rating ? 'true' : 'false',
        onclick: () => {
          fbState[m.id] = 'c';
          focusComment = m.id;
          o.onFeedback(m.id, rating, '');
        },
      }, icon(I.thumb));
    add(row, h('span', { text: S.helpful }), thumb('up', 'up'), thumb('down', 'dn'));
    if (st === 'c') {
      const ta = h('textarea', { rows: '1', placeholder: S.comment, 'aria-label': S.comment, maxlength: '1000' });
      const done = (e) => {
        e.preventDefault();
        const text = ta.value.trim();
        if (text) o.onFeedback(m.id, m.feedback || 'up', text);
        fbState[m.id] = 't';
        recs.forEach((r, k) => k === m && (r.v = -1));
        update();
      };
      const btn = h('button', { class: 'send', type: 'submit' }, icon(I.send));
      label(btn, S.submit);
      row.appendChild(h('form', { class: 'box fbc', onsubmit: done }, ta, btn));
      if (focusComment === m.id) {
        focusComment = null;
        win.setTimeout(() => ta.focus(), 0);
      }
    }
    return row;
  }

  function label(el, text) {
    el.setAttribute('aria-label', text);
    el.title = text;
  }

  function add(el, ...kids) {
    kids.forEach((k) => el.appendChild(k));
    return el;
  }

  setDark('auto');

  return {
    /** Attach to a shadow root (style + tree). */
    mount(sr) {
      shadow = sr;
      sr.appendChild(h('style', { text: CSS }));
      sr.appendChild(root);
      update(); // opened before the page had a <body>
    },
    bind(s) {
      store = s;
      sendState();
    },
    configure,
    update,
    flush: render,
    open,
    close,
    toggle,
    isOpen: () => opened,
    setConn,
    flash,
    restoreInput,
    /** The composer's textarea (tests and focus management). */
    input,
    launcher,
  };
}
