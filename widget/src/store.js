// Conversation state: the ordered message list, merging of the server's
// history with what this page already has, and per-message sequence numbers
// so that a streamed frame is applied exactly once.
//
// A message: {id, cid, role, content, status, sources, tools, feedback, notice, seq, v}
//   id      server id (null for a user message not yet accepted)
//   cid     client_id of a user message sent from this page
//   status  user: "pending" (not accepted yet) | "failed" | "complete"
//           assistant: "streaming" | "complete" | "incomplete" | "stopped"
//   seq     last sequence number applied to `content` (assistant messages)
//   v       bumped on every change, so the UI repaints only what changed

const STREAM_TYPES = { 'aichat.delta': 1, 'aichat.sources': 1, 'aichat.tool': 1, 'aichat.done': 1 };

export const isStreamFrame = (f) => !!(f && STREAM_TYPES[f.type]);

function make(m) {
  return {
    id: m.id || null,
    cid: m.client_id || m.cid || null,
    role: m.role === 'user' ? 'user' : 'assistant',
    content: typeof m.content === 'string' ? m.content : '',
    status: m.status || 'complete',
    sources: Array.isArray(m.sources) ? m.sources : [],
    tools: Array.isArray(m.tools) ? m.tools : [],
    feedback: m.feedback === 'up' || m.feedback === 'down' ? m.feedback : null,
    notice: m.notice || null,
    seq: +m.seq || 0,
    v: 0,
  };
}

export function createStore() {
  let list = [];
  const listeners = [];
  const changed = (m) => {
    if (m) m.v++;
    listeners.forEach((fn) => fn());
  };
  const find = (id) => {
    for (let i = list.length - 1; i >= 0; i--) if (id && list[i].id === id) return list[i];
    return null;
  };
  const byCid = (cid) => list.find((m) => cid && m.cid === cid) || null;

  return {
    list: () => list,
    find,
    byCid,
    subscribe(fn) {
      listeners.push(fn);
    },
    clear() {
      list = [];
      changed();
    },

    /**
     * Replace the list with the server's history (welcome frame), keeping what
     * this page knows better: a streaming answer this page has seen further
     * than the history (in memory, or in a `snapshots[id] = {seq, content,
     * sources, tools}` saved before a reload) keeps that progress, and user
     * messages the server has not acknowledged stay at the end.
     */
    history(messages, snapshots) {
      const old = list;
      const snaps = snapshots || {};
      const known = {};
      list = (Array.isArray(messages) ? messages : []).map((raw) => {
        const m = make(raw);
        if (m.cid) known[m.cid] = 1;
        const mine = old.find((o) => o.id && o.id === m.id);
        if (m.role === 'assistant' && m.status === 'streaming') {
          if (mine && mine.seq >= m.seq) return mine;
          const s = snaps[m.id];
          if (s && +s.seq > m.seq && typeof s.content === 'string') {
            m.seq = +s.seq;
            m.content = s.content;
            m.sources = s.sources || m.sources;
            m.tools = s.tools || m.tools;
          }
        }
        return m;
      });
      old.forEach((o) => {
        if (o.role === 'user' && !o.id && !known[o.cid]) list.push(o);
      });
      changed();
    },

    /** A message typed on this page, waiting for the server's `accepted`. */
    addUser(cid, text) {
      const m = make({ role: 'user', cid, content: text, status: 'pending' });
      list.push(m);
      changed(m);
      return m;
    },

    /** `accepted`: name the user message and open the assistant reply. */
    accepted(cid, messageId, replyId) {
      const u = byCid(cid);
      if (u) {
        u.id = messageId || u.id;
        u.status = 'complete';
        changed(u);
      }
      if (replyId && !find(replyId)) {
        const r = make({ id: replyId, role: 'assistant', status: 'streaming' });
        const at = u ? list.indexOf(u) + 1 : list.length;
        list.splice(at, 0, r);
        changed(r);
      }
    },

    /**
     * Apply a delta/sources/tool/done frame. Returns "ok" when applied, "dup"
     * when already seen (seq <= last) or the message is no longer streaming,
     * "gap" when frames are missing (caller should resume from `m.seq`).
     */
    apply(f) {
      let m = find(f.message_id);
      if (!m) {
        if (!f.message_id) return 'dup';
        m = make({ id: f.message_id, role: 'assistant', status: 'streaming' });
        list.push(m);
      }
      const seq = +f.seq;
      if (m.status !== 'streaming' || !(seq > m.seq)) return 'dup';
      if (seq > m.seq + 1) return 'gap';
      m.seq = seq;
      if (f.type === 'aichat.delta') m.content += f.text || '';
      else if (f.type === 'aichat.sources') m.sources = Array.isArray(f.sources) ? f.sources : [];
      else if (f.type === 'aichat.tool') m.tools = m.tools.concat(String(f.summary || ''));
      else if (f.type === 'aichat.done') {
        m.status = ['complete', 'incomplete', 'stopped'].indexOf(f.status) >= 0 ? f.status : 'complete';
        m.notice = f.notice || null;
      }
      changed(m);
      return 'ok';
    },

    /** A user message the server refused (error frame carrying its client_id). */
    fail(cid) {
      const m = byCid(cid);
      if (m && m.status === 'pending') {
        m.status = 'failed';
        changed(m);
      }
      return m;
    },

    /** Force a status (e.g. a resume answered not_found: stop waiting). */
    setStatus(id, status) {
      const m = find(id);
      if (m) {
        m.status = status;
        changed(m);
      }
    },

    setFeedback(id, rating) {
      const m = find(id);
      if (m) {
        m.feedback = rating;
        changed(m);
      }
    },

    pending: () => list.filter((m) => m.status === 'pending'),
    streaming: () => list.filter((m) => m.role === 'assistant' && m.status === 'streaming'),
    /** True while a question is waiting for, or receiving, its answer. */
    busy: () => list.some((m) => m.status === 'pending' || m.status === 'streaming'),
    /** True while nothing of the answer is visible yet (show the typing dots). */
    waiting() {
      const last = list[list.length - 1];
      return !!last && (last.status === 'pending' || (last.status === 'streaming' && !last.content));
    },
    /** The state to persist for a streaming message (null once finished). */
    snapshot(m) {
      return m && m.status === 'streaming'
        ? { seq: m.seq, content: m.content, sources: m.sources, tools: m.tools }
        : null;
    },
  };
}
