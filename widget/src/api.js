// The one global the widget defines: window.AIChat, and the `aichat:*`
// CustomEvents it dispatches on window.

export const VERSION = '1';

/** Dispatch `aichat:<name>` on `win` with `detail`. Never throws. */
export function emit(win, name, detail) {
  try {
    win.dispatchEvent(new win.CustomEvent('aichat:' + name, { detail: detail || {} }));
  } catch (e) { /* a host page with a broken CustomEvent must not break us */ }
}

/**
 * Normalise what a host passes to identify(): {userId, signature} or {token}.
 * Returns the protocol's identity object, or null when unusable.
 */
export function normalizeIdentity(arg) {
  if (!arg || typeof arg !== 'object') return null;
  if (typeof arg.token === 'string' && arg.token) return { token: arg.token };
  const uid = arg.userId != null ? arg.userId : arg.user_id;
  if (uid != null && uid !== '' && typeof arg.signature === 'string' && arg.signature) {
    return { user_id: String(uid), signature: arg.signature };
  }
  return null;
}

/**
 * Install window.AIChat. `actions` = {open, close, toggle, identify, reset}.
 * Returns the API object. A host may have queued calls before the script
 * loaded with `window.AIChat = window.AIChat || {q: []}; AIChat.q.push(['open'])`;
 * they are replayed in order.
 */
export function installApi(win, actions) {
  const queued = win.AIChat && Array.isArray(win.AIChat.q) ? win.AIChat.q : [];
  const api = {
    __aichat: VERSION,
    open: () => actions.open(),
    close: () => actions.close(),
    toggle: () => actions.toggle(),
    identify: (arg) => actions.identify(arg),
    reset: () => actions.reset(),
    /** on('message', fn) -> fn(detail); returns a function that unsubscribes. */
    on(event, fn) {
      if (typeof fn !== 'function') return () => {};
      const name = 'aichat:' + String(event).replace(/^aichat:/, '');
      const listener = (e) => fn(e.detail);
      win.addEventListener(name, listener);
      return () => win.removeEventListener(name, listener);
    },
  };
  win.AIChat = api;
  // Calls queued before the script loaded: window.AIChat = {q: [['open'], ...]}
  queued.forEach((call) => {
    try {
      api[call[0]](...call.slice(1));
    } catch (e) { /* one bad queued call must not stop the rest */ }
  });
  return api;
}
