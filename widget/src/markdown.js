// A small, safe markdown renderer for assistant answers.
//
// It returns DOM nodes built with createElement / textContent only, so text
// from the model or from documents can never become HTML. Raw HTML in the
// source is shown as text. Links are kept only for http(s) and mailto URLs.
// It is forgiving with unfinished input, because it re-renders the whole
// message on every streamed delta: an unclosed ``` fence renders as code, an
// unclosed **bold or [link]( stays literal until its closing arrives.

import { h } from './dom.js';

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w#+.-]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const LIST = /^( *)([-*+]|\d{1,9}[.)])(?:\s+(.*))?$/;
const DELIM = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const BARE_URL = /^https?:\/\/[^\s<>"]+/i;
const PUNCT = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}]/u;
const MAX_DEPTH = 12;

/** The URL if it is an allowed link target (http, https, mailto), else null. */
export function safeUrl(url) {
  const u = String(url == null ? '' : url).trim();
  return u.length < 2048 && /^(https?:\/\/|mailto:)[^\s]+$/i.test(u) ? u : null;
}

/** Render markdown `src` into a DocumentFragment. */
export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  const lines = String(src == null ? '' : src)
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, '    ')
    .split('\n');
  blocks(lines, frag, 0);
  return frag;
}

const startsBlock = (line) => FENCE.test(line) || HEADING.test(line) || HR.test(line);

function blocks(lines, out, depth) {
  let para = [];
  const flush = () => {
    if (para.length) out.appendChild(h('p', null, inlineLines(para, depth)));
    para = [];
  };
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      flush();
      i++;
    } else if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const code = [];
      for (i++; i < lines.length; i++) {
        const t = lines[i].trim();
        if (t.length >= fence.length && t === fence[0].repeat(t.length)) {
          i++;
          break;
        }
        code.push(lines[i]);
      }
      out.appendChild(h('pre', null, h('code', { class: m[2] ? 'language-' + m[2] : null, text: code.join('\n') })));
    } else if ((m = HEADING.exec(line))) {
      flush();
      out.appendChild(h('h' + m[1].length, null, inline(m[2] || '', depth)));
      i++;
    } else if (HR.test(line)) {
      flush();
      out.appendChild(h('hr'));
      i++;
    } else if (line.indexOf('|') >= 0 && i + 1 < lines.length && lines[i + 1].indexOf('|') >= 0 && DELIM.test(lines[i + 1])) {
      flush();
      i = table(lines, i, out, depth);
    } else if ((m = LIST.exec(line)) && !(para.length && !m[3])) {
      flush();
      i = list(lines, i, out, depth);
    } else {
      para.push(line);
      i++;
    }
  }
  flush();
}

function list(lines, i, out, depth) {
  const first = LIST.exec(lines[i]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const el = h(ordered ? 'ol' : 'ul');
  const start = parseInt(first[2], 10);
  if (ordered && start !== 1) el.setAttribute('start', start);
  let loose = false;
  const items = [];
  for (let m; i < lines.length && (m = LIST.exec(lines[i])); ) {
    // Siblings sit at the first item's indent (one space of slack); deeper ones nest.
    if (m[1].length < indent || m[1].length > indent + 1 || /\d/.test(m[2]) !== ordered) break;
    const width = m[1].length + m[2].length + 1;
    const body = [m[3] || ''];
    let blank = 0;
    for (i++; i < lines.length; i++) {
      const line = lines[i];
      const ind = line.search(/\S/);
      if (ind < 0) blank++;
      else if (ind > indent + 1) {
        // Indented: belongs to this item (nested list, code, more paragraphs).
        if (blank) loose = true;
        for (; blank; blank--) body.push('');
        body.push(line.slice(Math.min(ind, width)));
      } else if (blank || LIST.test(line) || startsBlock(line)) break;
      else body.push(line); // lazy continuation of the item's paragraph
    }
    const next = LIST.exec(lines[i] || '');
    if (blank && next && next[1].length >= indent && next[1].length <= indent + 1 && /\d/.test(next[2]) === ordered) loose = true;
    items.push(body);
  }
  for (const body of items) {
    const li = h('li');
    if (depth < MAX_DEPTH) blocks(body, li, depth + 1);
    else li.textContent = body.join('\n');
    // Tight list: no <p> around each item's text.
    if (!loose) {
      for (const p of Array.from(li.childNodes)) {
        if (p.nodeName === 'P') {
          while (p.firstChild) li.insertBefore(p.firstChild, p);
          li.removeChild(p);
        }
      }
    }
    el.appendChild(li);
  }
  out.appendChild(el);
  return i;
}

/** Split a GFM table row on unescaped pipes (no regex lookbehind: old Safari). */
function cells(row) {
  let s = row.trim();
  if (s[0] === '|') s = s.slice(1);
  if (s[s.length - 1] === '|' && s[s.length - 2] !== '\\') s = s.slice(0, -1);
  const out = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (s[i] === '|') {
      out.push(cur.trim());
      cur = '';
    } else cur += s[i];
  }
  out.push(cur.trim());
  return out;
}

function table(lines, i, out, depth) {
  const head = cells(lines[i]);
  const align = cells(lines[i + 1]).map((c) =>
    c[0] === ':' && c[c.length - 1] === ':' ? 'center' : c[c.length - 1] === ':' ? 'right' : c[0] === ':' ? 'left' : '',
  );
  const row = (vals, tag) =>
    h('tr', null, head.map((_, k) => {
      const cell = h(tag, null, inline(vals[k] || '', depth));
      if (align[k]) cell.style.textAlign = align[k];
      return cell;
    }));
  const body = h('tbody');
  for (i += 2; i < lines.length && lines[i].trim() && lines[i].indexOf('|') >= 0; i++) {
    body.appendChild(row(cells(lines[i]), 'td'));
  }
  out.appendChild(h('div', { class: 'tw' }, h('table', null, h('thead', null, row(head, 'th')), body)));
  return i;
}

function inlineLines(lines, depth) {
  const out = [];
  lines.forEach((l, k) => {
    if (k) out.push(h('br'));
    out.push(inline(l.trim(), depth));
  });
  return out;
}

/** Inline markdown -> array of nodes. */
export function inline(text, depth = 0, noLinks = false) {
  const out = [];
  let buf = '';
  const noClose = {}; // delimiter -> position after which no closer exists
  const push = (node) => {
    if (buf) out.push(document.createTextNode(buf));
    buf = '';
    out.push(node);
  };
  const deeper = (s, nl) => (depth < MAX_DEPTH ? inline(s, depth + 1, noLinks || nl) : [s]);
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    const rest = text.slice(i);
    let m;
    if (c === '\\' && PUNCT.test(text[i + 1] || '')) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(rest)[0];
      const end = noClose[run] != null && i >= noClose[run] ? -1 : closer(text, i + run.length, run);
      if (end < 0) {
        noClose[run] = i;
        buf += run;
        i += run.length;
        continue;
      }
      let code = text.slice(i + run.length, end);
      if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
      push(h('code', { text: code }));
      i = end + run.length;
      continue;
    }
    if (c === '*' || c === '_') {
      const run = /^(\*+|_+)/.exec(rest)[0].slice(0, 3);
      const ok = !/\s/.test(text[i + run.length] || ' ') && !(c === '_' && WORD.test(text[i - 1] || ' '));
      let end = -1;
      if (ok && !(noClose[run] != null && i >= noClose[run])) {
        end = closer(text, i + run.length + 1, run, c === '_');
        if (end < 0) noClose[run] = i;
      }
      if (end < 0) {
        buf += run;
        i += run.length;
        continue;
      }
      const kids = deeper(text.slice(i + run.length, end));
      let node;
      if (run.length === 1) node = h('em', null, kids);
      else if (run.length === 2) node = h('strong', null, kids);
      else node = h('strong', null, h('em', null, kids));
      push(node);
      i = end + run.length;
      continue;
    }
    if (!noLinks && c === '[') {
      const link = parseLink(text, i);
      if (link) {
        // Images (![alt](src)) are never loaded (privacy, offline): "!" stays text, the rest is a link.
        const url = safeUrl(link.url);
        const kids = deeper(link.label, true);
        push(url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, kids) : h('span', null, kids));
        i = link.end;
        continue;
      }
    }
    if (!noLinks && (c === 'h' || c === 'H') && !WORD.test(text[i - 1] || ' ') && (m = BARE_URL.exec(rest))) {
      let url = m[0].replace(/[.,;:!?'*_]+$/, '');
      while (url.slice(-1) === ')' && url.split('(').length < url.split(')').length) url = url.slice(0, -1);
      push(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: url }));
      i += url.length;
      continue;
    }
    buf += c;
    i++;
  }
  if (buf) out.push(document.createTextNode(buf));
  return out;
}

/** Index of the next delimiter run exactly equal to `run` that can close, or -1. */
function closer(text, from, run, underscore) {
  const ch = run[0];
  for (let j = text.indexOf(ch, from); j >= 0; j = text.indexOf(ch, j)) {
    if (text[j - 1] === '\\' && ch !== '`') {
      j++;
      continue;
    }
    let k = j;
    while (text[k] === ch) k++;
    if (
      k - j === run.length &&
      (ch === '`' || !/\s/.test(text[j - 1])) &&
      !(underscore && WORD.test(text[k] || ' '))
    ) {
      return j;
    }
    j = k;
  }
  return -1;
}

/** Parse [label](url "title") starting at the '['; null if incomplete. */
function parseLink(text, i) {
  let depth = 0;
  let j = i;
  for (; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) break;
  }
  if (j >= text.length || text[j + 1] !== '(') return null;
  const label = text.slice(i + 1, j);
  let parens = 0;
  let k = j + 2;
  for (; k < text.length; k++) {
    const c = text[k];
    if (c === '\\') k++;
    else if (c === '(') parens++;
    else if (c === ')' && parens-- === 0) break;
  }
  if (k >= text.length) return null;
  let url = text.slice(j + 2, k).trim().replace(/\s+("[^"]*"|'[^']*')$/, '');
  if (url[0] === '<' && url[url.length - 1] === '>') url = url.slice(1, -1);
  return { label, url, end: k + 1 };
}
