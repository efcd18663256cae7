/**
 * The console's HTML page, served at /console. Everything it shows is built
 * by /console/app.js (src/console/app.ts); the page itself has no inline
 * script, so the Content-Security-Policy can forbid them.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Tokensmith console</title>
<link rel="icon" href="data:,">
<style>
:root {
  --fg: #1d2430; --muted: #5d6778; --line: #d9dee7; --bg: #f5f7fa; --card: #fff;
  --accent: #2f5bd3; --accent-fg: #fff; --danger: #b42318; --danger-bg: #fef0ee;
  --ok: #1f7a44; --ok-bg: #ebf7ef; --warn-bg: #fff7e0; --warn-line: #e9c46a;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 16px; margin: 0; }
button {
  font: inherit; border: 1px solid var(--line); background: var(--card); color: var(--fg);
  border-radius: 6px; padding: 5px 12px; cursor: pointer;
}
button:hover { border-color: #aab3c2; }
button:disabled { opacity: .55; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-fg); }
button.danger { color: var(--danger); border-color: #f0c4bf; }
button.danger.primary { background: var(--danger); border-color: var(--danger); color: #fff; }
input[type=text], input[type=password], input[type=number], input:not([type]) {
  font: inherit; width: 100%; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff;
}
input:focus-visible, button:focus-visible, select:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
label { display: block; font-weight: 600; margin: 10px 0 4px; }
[hidden] { display: none !important; }
label .hint, .hint { font-weight: 400; color: var(--muted); }
.topbar {
  display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #16213a; color: #fff;
}
.topbar h1 { white-space: nowrap; }
.topbar .who { margin-left: auto; color: #c9d3e6; }
.topbar button { background: transparent; color: #fff; border-color: #4a5a7d; }
.topbar .tenant-picker { display: flex; align-items: center; gap: 8px; margin: 0; color: #c9d3e6; }
.topbar select { font: inherit; max-width: 320px; padding: 4px 8px; border: 1px solid #4a5a7d; border-radius: 6px; background: #fff; color: var(--fg); }
.badge.platform { margin-left: 6px; background: #f3ecff; color: #6b3fb8; }
.tenant-bar { margin: 0; padding: 6px 20px; background: #eef2fc; border-bottom: 1px solid var(--line); }
.tenant-bar.elsewhere { background: var(--warn-bg); border-bottom-color: var(--warn-line); }
nav.tabs { display: flex; gap: 4px; padding: 0 20px; background: #fff; border-bottom: 1px solid var(--line); }
nav.tabs button { border: 0; border-bottom: 2px solid transparent; border-radius: 0; padding: 10px 14px; background: none; }
nav.tabs button[aria-selected=true] { border-bottom-color: var(--accent); color: var(--accent); font-weight: 600; }
main.panel { padding: 16px 20px 40px; max-width: 1200px; }
.toolbar { display: flex; align-items: center; gap: 8px; margin-bottom: 12px; }
.toolbar h2 { margin-right: auto; }
.banner { margin: 12px 20px 0; padding: 8px 12px; border-radius: 6px; border: 1px solid; }
.banner.error { background: var(--danger-bg); border-color: #f0c4bf; color: var(--danger); }
.banner.notice { background: var(--ok-bg); border-color: #b7e0c4; color: var(--ok); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 14px; }
.card h3 { margin: 0 0 4px; font-size: 15px; }
.form-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 0 16px; }
.form-actions { display: flex; gap: 8px; margin-top: 14px; }
.form-error { color: var(--danger); margin: 10px 0 0; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0 0; padding: 6px 10px 10px; }
legend { font-weight: 600; padding: 0 4px; }
.scope-options { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 8px; }
.scope-option { display: inline-flex; align-items: center; gap: 5px; margin: 0; font-weight: 400; border: 1px solid var(--line); border-radius: 14px; padding: 2px 10px 2px 6px; background: #fafbfd; cursor: pointer; }
.scope-option:has(input:checked) { border-color: var(--accent); background: #eef2fc; }
.scope-add { display: flex; gap: 6px; }
.scope-add input { flex: 1; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { white-space: nowrap; background: #f0f3f8; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
td:first-child > code { white-space: nowrap; }
td.actions { white-space: nowrap; text-align: right; }
td.actions > * + * { margin-left: 6px; }
.chip { display: inline-block; margin: 0 4px 3px 0; padding: 0 7px; border-radius: 10px; background: #eef1f6; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef1f6; color: var(--muted); }
.badge.config { background: #f3ecff; color: #6b3fb8; }
.badge.store { background: #e8f1ff; color: #2456b8; }
.badge.active { background: var(--ok-bg); color: var(--ok); }
.badge.published { background: #e8f1ff; color: #2456b8; }
.badge.retiring { background: var(--warn-bg); color: #8a5a00; }
.muted { color: var(--muted); }
.empty { color: var(--muted); padding: 12px 0; }
.more { margin-top: 10px; }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; max-width: 640px; width: calc(100% - 40px); box-shadow: 0 12px 40px rgba(20, 30, 60, .25); }
dialog::backdrop { background: rgba(15, 23, 42, .45); }
dialog h2 { margin-bottom: 8px; }
dialog .actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 16px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.once { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 6px; padding: 8px 10px; margin: 10px 0; }
.secret { display: flex; gap: 8px; align-items: stretch; margin: 10px 0 4px; }
.secret code { flex: 1; padding: 8px 10px; background: #0f172a; color: #e2e8f0; border-radius: 6px; word-break: break-all; user-select: all; }
.copy-status { min-height: 1.4em; color: var(--ok); font-size: 13px; }
.signin { max-width: 420px; margin: 8vh auto; }
.signin .card { padding: 22px 24px; }
.signin h1 { margin-bottom: 6px; }
.signin .message { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 6px; padding: 6px 10px; }
.signin button[type=submit] { margin-top: 16px; width: 100%; }
textarea { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; width: 100%; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
select { font: inherit; max-width: 100%; }
.form-grid label > select { display: block; width: 100%; padding: 5px 6px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.badge.privileged { margin-left: 2px; background: var(--danger-bg); color: var(--danger); }
.scope-option.privileged:has(input:checked) { border-color: var(--danger); background: var(--danger-bg); }
.scope-option .mono { overflow-wrap: anywhere; }
.scope-add input { min-width: 0; }
.mapping-row { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1.3fr) minmax(0, 2fr) auto; gap: 0 10px; align-items: end; }
.mapping-row > button { margin-bottom: 5px; }
.mapping-rows + button { margin-top: 10px; }
.subject-mapping + .subject-mapping { margin-top: 4px; }
.subject-mapping code, td.issuer > code { overflow-wrap: anywhere; white-space: normal; }
td.issuer { min-width: 15em; }
/* Wide tables scroll inside their own box, never the page. */
.table-scroll { max-width: 100%; overflow-x: auto; }
.topbar { flex-wrap: wrap; }
.topbar .who { flex: 1 1 300px; text-align: right; }
nav.tabs { flex-wrap: wrap; }
@media (max-width: 640px) {
  .topbar { gap: 6px 12px; padding: 10px 12px; }
  .topbar .who { margin-left: 0; flex: 1 1 100%; order: 2; font-size: 13px; text-align: left; }
  .topbar .tenant-picker { flex: 1 1 100%; order: 3; }
  .topbar .tenant-picker select { flex: 1; min-width: 0; }
  .topbar button { margin-left: auto; }
  nav.tabs { padding: 0 6px; gap: 0; }
  nav.tabs button { padding: 9px 10px; }
  .tenant-bar { padding: 6px 12px; }
  main.panel { padding: 12px 12px 32px; }
  .banner { margin: 10px 12px 0; }
  .toolbar { flex-wrap: wrap; }
  .card { padding: 12px; }
  .form-grid { grid-template-columns: minmax(0, 1fr); }
  .mapping-row { grid-template-columns: minmax(0, 1fr); padding-bottom: 10px; border-bottom: 1px solid var(--line); }
  .mapping-row > button { justify-self: start; margin-top: 8px; }
  .form-actions { flex-wrap: wrap; }
  dialog { width: calc(100% - 20px); padding: 14px; }
  dl.facts { grid-template-columns: minmax(0, 1fr); }
  dl.facts dd { overflow-wrap: anywhere; }
  .secret { flex-direction: column; }
  .signin { margin: 4vh 10px; }
  /* Rows as cards: each value under its column's heading. */
  .table-scroll table, .table-scroll tbody, .table-scroll tr, .table-scroll td { display: block; }
  .table-scroll thead { display: none; }
  .table-scroll tr { padding: 8px 12px; border-bottom: 1px solid var(--line); }
  .table-scroll tr:last-child { border-bottom: 0; }
  .table-scroll td { padding: 3px 0; border: 0; overflow-wrap: anywhere; }
  .table-scroll td:first-child > code { white-space: normal; font-weight: 600; }
  .table-scroll td[data-label]:not([data-label=""]):not(:first-child) { display: flex; flex-wrap: wrap; gap: 2px 6px; align-items: baseline; }
  .table-scroll td[data-label]:not([data-label=""]):not(:first-child) > * { min-width: 0; }
  .table-scroll td[data-label]:not([data-label=""]):not(:first-child)::before { content: attr(data-label); flex: 0 0 8.5em; font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
  .table-scroll td.actions { display: flex; flex-wrap: wrap; gap: 6px; justify-content: flex-start; align-items: center; padding-top: 8px; white-space: normal; text-align: left; }
  .table-scroll td.actions > * + * { margin-left: 0; }
}
</style>
<script type="module" src="/console/app.js"></script>
</head>
<body>
<noscript>The Tokensmith console needs JavaScript.</noscript>
<div id="app" data-testid="app"><p class="muted" style="padding:20px">Loading the console…</p></div>
</body>
</html>
`;
