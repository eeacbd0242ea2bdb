// All widget CSS, injected into the shadow root. The build (build.mjs)
// minifies this template literal; keep it a plain string without ${}.
// Theme: --p / --op (primary and text on primary) are set from the config on
// .root, so a host page's own custom properties can never leak in.

export default `
:host { all: initial !important; }
[hidden] { display: none !important; }
*, *::before, *::after { box-sizing: border-box; }

.root {
  --p: #4f46e5; --op: #fff; --lnk: var(--p);
  --bg: #fff; --fg: #1d2129; --mut: #667085; --bot: #f2f4f7; --bd: #e4e7ec; --in: #fff;
  --sh: 0 16px 48px rgba(16, 24, 40, .18), 0 4px 12px rgba(16, 24, 40, .08);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); text-align: left; -webkit-font-smoothing: antialiased;
}
.dark {
  --bg: #16181d; --fg: #e9ebf0; --mut: #9aa3b2; --bot: #23262e; --bd: #2e323b; --in: #1c1f26; --lnk: #9db5ff;
  --sh: 0 16px 48px rgba(0, 0, 0, .5), 0 4px 12px rgba(0, 0, 0, .3);
  color-scheme: dark;
}
button { font: inherit; color: inherit; border: 0; padding: 0; background: none; cursor: pointer; }
.launcher, .ib, .send { flex: none; display: flex; align-items: center; justify-content: center; }
:focus-visible { outline: 2px solid var(--p); outline-offset: 2px; }
.dark :focus-visible { outline-color: var(--lnk); }

.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 56px; height: 56px; border-radius: 50%;
  background: var(--p); color: var(--op);
  box-shadow: 0 6px 20px rgba(16, 24, 40, .22), 0 2px 6px rgba(16, 24, 40, .12);
  transition: transform .2s ease, box-shadow .2s ease;
}
.launcher:hover { transform: scale(1.06); }
.launcher svg { position: absolute; width: 28px; height: 28px; transition: transform .25s ease, opacity .2s ease; }
.launcher .i2 { opacity: 0; transform: rotate(-90deg) scale(.5); }
.open .launcher .i1 { opacity: 0; transform: rotate(90deg) scale(.5); }
.open .launcher .i2 { opacity: 1; transform: none; }
.left .launcher { right: auto; left: 20px; }

svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }

.panel {
  position: fixed; right: 20px; bottom: 88px; z-index: 2147483000;
  width: 380px; height: 600px; max-height: calc(100vh - 108px);
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--bg); border-radius: 18px; box-shadow: var(--sh);
  opacity: 0; visibility: hidden; transform: translateY(16px) scale(.97); transform-origin: 100% 100%;
  transition: opacity .18s ease, transform .18s ease, visibility 0s linear .18s;
}
.open .panel {
  opacity: 1; visibility: visible; transform: none;
  transition: opacity .22s ease, transform .28s cubic-bezier(.2, .8, .2, 1), visibility 0s;
}
.left .panel { right: auto; left: 20px; transform-origin: 0 100%; }
.panel:focus { outline: none; }

.head {
  flex: none; display: flex; align-items: center; gap: 10px; padding: 14px 10px 14px 16px;
  background: var(--p); color: var(--op);
}
.head :focus-visible { outline-color: var(--op); }
.logo { width: 34px; height: 34px; border-radius: 10px; object-fit: cover; background: rgba(255, 255, 255, .2); flex: none; }
.title { flex: 1; min-width: 0; margin: 0; font-size: 16px; font-weight: 600; line-height: 1.3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ib {
  width: 34px; height: 34px; border-radius: 10px; transition: background .15s;
}
.ib:hover { background: rgba(255, 255, 255, .18); }
.ib svg { width: 20px; height: 20px; }

.banner { flex: none; padding: 8px 16px; font-size: 13px; background: rgba(247, 144, 9, .14); border-bottom: 1px solid var(--bd); }

.log {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 18px 16px 8px; display: flex; flex-direction: column; gap: 12px;
}
.msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 86%; animation: rise .25s ease; }
.user { align-self: flex-end; align-items: flex-end; }
@keyframes rise { from { opacity: 0; transform: translateY(6px); } }
.bubble { padding: 10px 14px; border-radius: 18px; overflow-wrap: anywhere; max-width: 100%; }
.user .bubble { background: var(--p); color: var(--op); border-bottom-right-radius: 6px; white-space: pre-wrap; }
.bot .bubble, .typing { background: var(--bot); border-bottom-left-radius: 6px; }
.err { margin-top: 4px; font-size: 12px; color: #e5484d; }
.note { margin-top: 4px; font-size: 12px; color: var(--mut); font-style: italic; }
.tool { display: flex; align-items: center; gap: 6px; margin-bottom: 6px; font-size: 12px; color: var(--mut); }
.tool::before { content: ""; width: 6px; height: 6px; border-radius: 50%; background: #12b76a; flex: none; }

.intro { display: flex; flex-direction: column; align-items: flex-start; gap: 12px; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; }
.chip {
  border: 1px solid var(--bd); background: var(--bg); border-radius: 999px; padding: 7px 13px;
  font-size: 13px; line-height: 1.35; text-align: left; transition: border-color .15s, color .15s;
}
.chip:hover { border-color: var(--p); color: var(--lnk); }

.typing { display: flex; gap: 4px; padding: 14px 16px; border-radius: 18px; border-bottom-left-radius: 6px; align-self: flex-start; }
.typing i { width: 7px; height: 7px; border-radius: 50%; background: var(--mut); animation: dot 1.2s infinite ease-in-out; }
.typing i:nth-child(2) { animation-delay: .15s; }
.typing i:nth-child(3) { animation-delay: .3s; }
@keyframes dot { 0%, 60%, 100% { transform: none; opacity: .45; } 30% { transform: translateY(-4px); opacity: 1; } }

.md > * { margin: 0 0 8px; }
.md > :last-child { margin-bottom: 0; }
.md h1, .md h2, .md h3, .md h4, .md h5, .md h6 { font-size: 15px; line-height: 1.35; font-weight: 650; }
.md ul, .md ol { padding-left: 20px; }
.md li + li { margin-top: 3px; }
.md a { color: var(--lnk); text-decoration: underline; text-underline-offset: 2px; }
.md code { font: 12.5px/1.5 ui-monospace, Menlo, Consolas, monospace; background: rgba(127, 127, 127, .15); padding: 1px 5px; border-radius: 5px; }
.md pre { background: #1b1e24; color: #e6e8ec; padding: 10px 12px; border-radius: 10px; overflow-x: auto; }
.md pre code { background: none; padding: 0; color: inherit; white-space: pre; }
.md hr { border: 0; border-top: 1px solid var(--bd); margin: 10px 0; }
.tw { overflow-x: auto; max-width: 100%; }
.md table { border-collapse: collapse; font-size: 13px; }
.md th, .md td { border: 1px solid var(--bd); padding: 5px 9px; text-align: left; vertical-align: top; }
.md th { background: rgba(127, 127, 127, .08); font-weight: 600; }

.src { margin-top: 8px; font-size: 12.5px; color: var(--mut); width: 100%; }
.src b { display: block; margin-bottom: 4px; font-size: 11px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; }
.src ol { margin: 0; padding-left: 18px; }
.src li + li { margin-top: 2px; }
.src a { color: var(--fg); text-decoration: none; border-bottom: 1px solid var(--bd); }

.fb { display: flex; flex-wrap: wrap; align-items: center; gap: 2px; margin-top: 4px; font-size: 12px; color: var(--mut); }
.fb > span { margin-right: 4px; }
.fb .ib { width: 28px; height: 28px; border-radius: 8px; color: var(--mut); }
.fb .ib:hover { background: var(--bot); color: var(--fg); }
.fb .ib[aria-pressed="true"] { color: var(--lnk); background: var(--bot); }
.fb svg { width: 16px; height: 16px; }
.fb .dn svg { transform: rotate(180deg); }
.fbc { width: 100%; margin-top: 6px; }

.comp { flex: none; padding: 10px 12px 12px; background: var(--bg); }
.box {
  display: flex; align-items: flex-end; gap: 8px; padding: 5px 5px 5px 14px;
  background: var(--in); border: 1px solid var(--bd); border-radius: 22px; transition: border-color .15s, box-shadow .15s;
}
.box:focus-within { border-color: var(--p); box-shadow: 0 0 0 1px var(--p); }
.box textarea {
  flex: 1; min-width: 0; height: 36px; max-height: 120px; margin: 0; padding: 8px 0; border: 0; outline: 0; resize: none;
  background: transparent; color: var(--fg); font: inherit; font-size: 14px; line-height: 20px;
}
.box textarea::placeholder { color: var(--mut); opacity: 1; }
.send {
  width: 36px; height: 36px; border-radius: 50%; background: var(--p); color: var(--op); transition: opacity .15s;
}
.send:disabled { opacity: .35; cursor: default; }
.send svg { width: 18px; height: 18px; }
.send.stop svg { fill: currentColor; }

.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

@media (max-width: 639.98px) {
  .panel, .left .panel {
    top: 0; right: 0; bottom: 0; left: 0; width: auto; height: auto; max-height: none; border-radius: 0;
    transform: translateY(24px);
  }
  .open .panel { transform: none; }
  .open .launcher { display: none; }
  .head { padding-top: max(14px, env(safe-area-inset-top)); }
  .comp { padding-bottom: max(12px, env(safe-area-inset-bottom)); }
  .box textarea { font-size: 16px; }
  .msg { max-width: 90%; }
}
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
}
`;
