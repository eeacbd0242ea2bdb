import test from 'node:test';
import assert from 'node:assert/strict';
import { closeWindows, setupDom } from './helpers.js';
import { renderMarkdown, safeUrl } from '../src/markdown.js';

test.afterEach(closeWindows);

function md(src) {
  setupDom();
  const div = document.createElement('div');
  div.appendChild(renderMarkdown(src));
  return div;
}

test('paragraphs are split on blank lines; single newlines become <br>', () => {
  const d = md('one\ntwo\n\nthree');
  const ps = d.querySelectorAll('p');
  assert.equal(ps.length, 2);
  assert.equal(ps[0].querySelectorAll('br').length, 1);
  assert.equal(ps[1].textContent, 'three');
});

test('bold, italic, bold-italic and inline code', () => {
  const d = md('**b** *i* _j_ ***bi*** `a < b`');
  assert.equal(d.querySelector('strong').textContent, 'b');
  assert.deepEqual([...d.querySelectorAll('em')].map((e) => e.textContent), ['i', 'j', 'bi']);
  assert.equal(d.querySelector('strong > em').textContent, 'bi');
  assert.equal(d.querySelector('code').textContent, 'a < b');
});

test('underscores inside words and escaped markers stay literal', () => {
  const d = md('snake_case_name and \\*not italic\\*');
  assert.equal(d.querySelector('em'), null);
  assert.equal(d.textContent, 'snake_case_name and *not italic*');
});

test('raw HTML from the model is shown as text, never parsed', () => {
  const d = md('<img src=x onerror="alert(1)"> <script>alert(2)</script>\n\n**<b>x</b>**');
  assert.equal(d.querySelector('img'), null);
  assert.equal(d.querySelector('script'), null);
  assert.equal(d.querySelector('b'), null);
  assert.ok(d.textContent.includes('<img src=x onerror="alert(1)">'));
  assert.equal(d.querySelector('strong').textContent, '<b>x</b>');
});

test('http(s) and mailto links open in a new tab with noopener noreferrer', () => {
  const d = md('[Docs](https://example.com/a_(b)) and [mail](mailto:hi@example.com "title")');
  const [a, b] = d.querySelectorAll('a');
  assert.equal(a.getAttribute('href'), 'https://example.com/a_(b)');
  assert.equal(a.textContent, 'Docs');
  assert.equal(a.getAttribute('target'), '_blank');
  assert.equal(a.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(b.getAttribute('href'), 'mailto:hi@example.com');
});

test('javascript:, data:, vbscript: and relative links are rendered as text', () => {
  const d = md('[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html,<b>) [w](vbscript:x) [r](/relative) [s]( javascript:alert(1))');
  assert.equal(d.querySelectorAll('a').length, 0);
  assert.ok(d.textContent.includes('x'));
  assert.ok(!d.textContent.includes('javascript'));
});

test('safeUrl allows only http, https and mailto', () => {
  assert.equal(safeUrl(' https://a.b/c '), 'https://a.b/c');
  assert.equal(safeUrl('http://a.b'), 'http://a.b');
  assert.equal(safeUrl('mailto:x@y.z'), 'mailto:x@y.z');
  for (const bad of ['javascript:alert(1)', 'java\nscript:x', '//evil.com', 'ftp://a', 'data:x', '', null, undefined, 'https://a b']) {
    assert.equal(safeUrl(bad), null, String(bad));
  }
});

test('bare URLs are linked without trailing punctuation', () => {
  const d = md('See https://example.com/docs. Or (https://example.com/x).');
  const links = [...d.querySelectorAll('a')].map((a) => a.getAttribute('href'));
  assert.deepEqual(links, ['https://example.com/docs', 'https://example.com/x']);
});

test('images are never loaded: ![alt](src) becomes a link', () => {
  const d = md('![cat](https://img.example/cat.png)');
  assert.equal(d.querySelector('img'), null);
  assert.equal(d.querySelector('a').getAttribute('href'), 'https://img.example/cat.png');
});

test('fenced code blocks keep their text verbatim, with a language class', () => {
  const d = md('```js\nconst a = "<b>";\n  **not bold**\n```\nafter');
  const code = d.querySelector('pre > code');
  assert.equal(code.className, 'language-js');
  assert.equal(code.textContent, 'const a = "<b>";\n  **not bold**');
  assert.equal(d.querySelector('strong'), null);
  assert.equal(d.querySelector('p').textContent, 'after');
});

test('an unclosed fence (mid-stream) renders as code up to the end', () => {
  const d = md('text\n```python\nprint(1)');
  assert.equal(d.querySelector('pre code').textContent, 'print(1)');
});

test('unordered and ordered lists, with start number and nesting', () => {
  const d = md('- a\n- b\n  - b1\n  - b2\n- c\n\n3. three\n4. four');
  const ul = d.querySelector('ul');
  assert.equal(ul.children.length, 3);
  assert.equal(ul.querySelector('li ul').children.length, 2);
  const ol = d.querySelector('ol');
  assert.equal(ol.getAttribute('start'), '3');
  assert.equal(ol.children.length, 2);
  assert.equal(ol.children[0].textContent, 'three');
  assert.equal(ul.children[0].querySelector('p'), null, 'tight list items have no <p>');
});

test('loose lists keep paragraphs; a list can follow a paragraph line', () => {
  const d = md('Steps:\n1. first\n\n2. second\n\n   more about second');
  assert.equal(d.querySelector('p').textContent, 'Steps:');
  const items = d.querySelectorAll('ol > li');
  assert.equal(items.length, 2);
  assert.equal(items[1].querySelectorAll('p').length, 2);
});

test('headings h1-h6 with inline formatting', () => {
  const d = md('# Title\n### Sub *it*\n#hashtag');
  assert.equal(d.querySelector('h1').textContent, 'Title');
  assert.equal(d.querySelector('h3 em').textContent, 'it');
  assert.equal(d.querySelector('p').textContent, '#hashtag');
});

test('GFM pipe tables with alignment and escaped pipes', () => {
  const d = md('| Plan | Price | Note |\n|:-----|------:|:----:|\n| Basic | $5 | a \\| b |\n| **Pro** | $10 |\n\nafter');
  const table = d.querySelector('table');
  assert.deepEqual([...table.querySelectorAll('th')].map((t) => t.textContent), ['Plan', 'Price', 'Note']);
  const rows = table.querySelectorAll('tbody tr');
  assert.equal(rows.length, 2);
  assert.equal(rows[0].children[2].textContent, 'a | b');
  assert.equal(rows[1].children.length, 3, 'short rows are padded');
  assert.equal(rows[1].querySelector('strong').textContent, 'Pro');
  assert.equal(table.querySelectorAll('th')[1].style.textAlign, 'right');
  assert.equal(table.querySelectorAll('th')[2].style.textAlign, 'center');
  assert.equal(d.querySelector('p').textContent, 'after');
});

test('partial markdown while streaming stays literal until it closes', () => {
  assert.equal(md('some **bol').textContent, 'some **bol');
  assert.ok(![...md('see [docs](https://exa').querySelectorAll('a')].some((a) => a.textContent === 'docs'));
  assert.equal(md('`cod').textContent, '`cod');
  assert.equal(md('| a | b |').querySelector('table'), null);
  assert.equal(md('| a | b |\n|---|---|').querySelectorAll('th').length, 2);
});

test('horizontal rules', () => {
  assert.ok(md('a\n\n---\n\nb').querySelector('hr'));
});

test('pathological input renders quickly', () => {
  setupDom();
  const src = '*'.repeat(20000) + '_a'.repeat(5000) + '['.repeat(5000) + '`'.repeat(3000) + '\n- '.repeat(2000);
  const t = Date.now();
  renderMarkdown(src);
  assert.ok(Date.now() - t < 1500, 'took ' + (Date.now() - t) + ' ms');
});

test('deep nesting is capped instead of overflowing the stack', () => {
  setupDom();
  let src = '';
  for (let i = 0; i < 200; i++) src += '  '.repeat(i) + '- x\n';
  assert.doesNotThrow(() => renderMarkdown(src));
  assert.doesNotThrow(() => renderMarkdown('**a '.repeat(3000) + 'b' + '**'.repeat(3000)));
});
