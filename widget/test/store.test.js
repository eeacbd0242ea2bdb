import test from 'node:test';
import assert from 'node:assert/strict';
import { createStore, isStreamFrame } from '../src/store.js';

const delta = (seq, text, id = 'r1') => ({ type: 'aichat.delta', message_id: id, seq, text });

function asked() {
  const s = createStore();
  s.addUser('c1', 'Hello?');
  s.accepted('c1', 'u1', 'r1');
  return s;
}

test('a sent message is pending until accepted, then its reply streams', () => {
  const s = createStore();
  s.addUser('c1', 'Hello?');
  assert.equal(s.pending().length, 1);
  assert.ok(s.busy() && s.waiting());
  s.accepted('c1', 'u1', 'r1');
  assert.equal(s.list()[0].id, 'u1');
  assert.equal(s.list()[0].status, 'complete');
  assert.equal(s.find('r1').status, 'streaming');
  assert.ok(s.busy() && s.waiting(), 'typing dots until the first text');
  s.apply(delta(1, 'Hi'));
  assert.ok(s.busy() && !s.waiting());
});

test('frames apply in seq order; a repeated seq is ignored (no duplicated text)', () => {
  const s = asked();
  assert.equal(s.apply(delta(1, 'Hel')), 'ok');
  assert.equal(s.apply(delta(2, 'lo')), 'ok');
  assert.equal(s.apply(delta(2, 'lo')), 'dup');
  assert.equal(s.apply(delta(1, 'Hel')), 'dup');
  assert.equal(s.find('r1').content, 'Hello');
  assert.equal(s.find('r1').seq, 2);
});

test('a skipped seq is reported as a gap and not applied (no lost text)', () => {
  const s = asked();
  s.apply(delta(1, 'a'));
  assert.equal(s.apply(delta(3, 'c')), 'gap');
  assert.equal(s.find('r1').content, 'a');
  assert.equal(s.apply(delta(2, 'b')), 'ok');
  assert.equal(s.apply(delta(3, 'c')), 'ok');
  assert.equal(s.find('r1').content, 'abc');
});

test('sources, tool and done frames share the sequence; done sets status and notice', () => {
  const s = asked();
  s.apply(delta(1, 'x'));
  s.apply({ type: 'aichat.tool', message_id: 'r1', seq: 2, summary: 'Looked up order 1234' });
  s.apply({ type: 'aichat.sources', message_id: 'r1', seq: 3, sources: [{ title: 'FAQ', url: 'https://a', page: 2 }] });
  s.apply({ type: 'aichat.done', message_id: 'r1', seq: 4, status: 'incomplete', notice: 'offline mode' });
  const m = s.find('r1');
  assert.deepEqual(m.tools, ['Looked up order 1234']);
  assert.equal(m.sources[0].title, 'FAQ');
  assert.equal(m.status, 'incomplete');
  assert.equal(m.notice, 'offline mode');
  assert.equal(s.busy(), false);
  assert.equal(s.apply(delta(5, 'late')), 'dup', 'a finished message takes no more text');
  assert.equal(s.snapshot(m), null);
});

test('frames for an unknown message create it; one starting past seq 1 is a gap', () => {
  const s = createStore();
  assert.equal(s.apply(delta(1, 'x', 'other')), 'ok');
  assert.equal(s.find('other').content, 'x');
  assert.equal(s.apply(delta(4, 'y', 'third')), 'gap');
  assert.equal(s.find('third').seq, 0);
});

test('history replaces the list and keeps user messages the server has not seen', () => {
  const s = createStore();
  s.addUser('c9', 'typed while offline');
  s.history([
    { id: 'u1', role: 'user', content: 'Hi', status: 'complete' },
    { id: 'a1', role: 'assistant', content: 'Hello', status: 'complete', feedback: 'up', seq: 3 },
  ]);
  assert.deepEqual(s.list().map((m) => m.id || m.cid), ['u1', 'a1', 'c9']);
  assert.equal(s.find('a1').feedback, 'up');
  assert.equal(s.pending()[0].cid, 'c9');
});

test('history drops a pending message the server already has (matched by client_id)', () => {
  const s = createStore();
  s.addUser('c1', 'Hi');
  s.history([{ id: 'u1', role: 'user', content: 'Hi', status: 'complete', client_id: 'c1' }]);
  assert.equal(s.list().length, 1);
  assert.equal(s.pending().length, 0);
});

test('history keeps local progress of a streaming answer that is ahead of the server copy', () => {
  const s = asked();
  s.apply(delta(1, 'one '));
  s.apply(delta(2, 'two '));
  s.history([
    { id: 'u1', role: 'user', content: 'Hello?' },
    { id: 'r1', role: 'assistant', content: 'one ', status: 'streaming', seq: 1 },
  ]);
  assert.equal(s.find('r1').content, 'one two ');
  assert.equal(s.find('r1').seq, 2);
});

test('history takes the server copy when it is ahead', () => {
  const s = asked();
  s.apply(delta(1, 'one '));
  s.history([{ id: 'r1', role: 'assistant', content: 'one two three', status: 'streaming', seq: 3 }]);
  assert.equal(s.find('r1').content, 'one two three');
  assert.equal(s.find('r1').seq, 3);
});

test('after a reload a saved snapshot that is ahead of the history is used', () => {
  const s = createStore();
  const snaps = { r1: { seq: 5, content: 'saved text', sources: [{ title: 'S' }], tools: [] } };
  s.history([{ id: 'r1', role: 'assistant', content: 'saved', status: 'streaming', seq: 2 }], snaps);
  assert.equal(s.find('r1').content, 'saved text');
  assert.equal(s.find('r1').seq, 5);
  assert.equal(s.find('r1').sources[0].title, 'S');
  const t = createStore();
  t.history([{ id: 'r1', role: 'assistant', content: 'newer on server', status: 'streaming', seq: 9 }], snaps);
  assert.equal(t.find('r1').content, 'newer on server');
});

test('a refused message is marked failed; feedback and status can be set', () => {
  const s = asked();
  s.addUser('c2', 'again');
  assert.equal(s.fail('c2').status, 'failed');
  assert.equal(s.fail('nope'), null);
  s.setFeedback('r1', 'down');
  assert.equal(s.find('r1').feedback, 'down');
  s.setStatus('r1', 'incomplete');
  assert.equal(s.streaming().length, 0);
});

test('every change bumps the message version and notifies subscribers', () => {
  const s = asked();
  let calls = 0;
  s.subscribe(() => calls++);
  const v = s.find('r1').v;
  s.apply(delta(1, 'x'));
  assert.equal(s.find('r1').v, v + 1);
  assert.equal(calls, 1);
  s.clear();
  assert.equal(s.list().length, 0);
  assert.equal(calls, 2);
});

test('isStreamFrame recognises delta, sources, tool and done', () => {
  for (const t of ['delta', 'sources', 'tool', 'done']) assert.ok(isStreamFrame({ type: 'aichat.' + t }));
  assert.ok(!isStreamFrame({ type: 'aichat.welcome' }));
  assert.ok(!isStreamFrame(null));
});
