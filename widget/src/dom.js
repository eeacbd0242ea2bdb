// Tiny DOM helpers. Everything the widget puts on screen is built here with
// createElement / textContent / setAttribute: no HTML string ever reaches the DOM.

/**
 * h('div', {class: 'x', text: 'hi', onclick: fn, 'aria-label': 'y'}, child, [children], 'text')
 * Attribute values of null / undefined / false are skipped.
 */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  add(el, kids);
  return el;
}

/** Append strings (as text nodes), nodes and nested arrays; skip null/false. */
export function add(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
  }
  return el;
}

const NS = 'http://www.w3.org/2000/svg';

/** A 24x24 stroke icon from one or more path strings (our own constants, never model text). */
export function icon(paths, cls) {
  const s = document.createElementNS(NS, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  s.setAttribute('focusable', 'false');
  if (cls) s.setAttribute('class', cls);
  for (const d of [].concat(paths)) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    s.appendChild(p);
  }
  return s;
}
