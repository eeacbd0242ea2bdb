// Defensive wrappers around localStorage / sessionStorage.
// Reading `window.localStorage` itself can throw (sandboxed iframes, blocked
// third-party storage, Safari private mode quotas), so every access is guarded
// and falls back to an in-memory map for the life of the page.

function wrap(win, name) {
  let area = null;
  try {
    area = win[name];
    const probe = '__aichat__';
    area.setItem(probe, '1');
    area.removeItem(probe);
  } catch (e) {
    area = null;
  }
  // What this page wrote (null = removed) wins over what the storage returns:
  // a write that threw (quota, private mode) must still be readable.
  const mem = new Map();
  return {
    get(k) {
      if (mem.has(k)) return mem.get(k);
      try {
        return area ? area.getItem(k) : null;
      } catch (e) {
        return null;
      }
    },
    set(k, v) {
      mem.set(k, String(v));
      try {
        if (area) area.setItem(k, String(v));
      } catch (e) { /* quota or blocked: the memory copy is kept */ }
    },
    remove(k) {
      mem.set(k, null);
      try {
        if (area) area.removeItem(k);
      } catch (e) { /* ignore */ }
    },
    getJSON(k, dflt) {
      try {
        const v = JSON.parse(this.get(k));
        return v == null ? dflt : v;
      } catch (e) {
        return dflt;
      }
    },
    setJSON(k, v) {
      this.set(k, JSON.stringify(v));
    },
  };
}

/** {local, session} storages for `win`, each with get/set/remove/getJSON/setJSON. */
export function createStorage(win) {
  return { local: wrap(win, 'localStorage'), session: wrap(win, 'sessionStorage') };
}
