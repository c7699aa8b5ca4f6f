/**
 * The inspector's one page: plain HTML and a small script (no framework, nothing fetched from
 * elsewhere). Everything from a delivery is shown with textContent, never parsed as HTML: bodies
 * and headers are whatever the sender chose.
 */
export const INSPECTOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Replicate webhooks: local inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; }
  header { padding: 10px 16px; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header .hint { color: var(--muted); }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); height: calc(100vh - 45px); }
  #list { overflow: auto; border-right: 1px solid var(--line); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { position: sticky; top: 0; background: #f6f8fa; font-weight: 600; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #f6f8fa; }
  tbody tr.selected { background: #ddf4ff; }
  .verdict { font-weight: 600; }
  .v-accepted { color: var(--ok); }
  .v-duplicate, .v-stale, .v-after_terminal { color: var(--warn); }
  .v-error { color: var(--bad); }
  #detail { overflow: auto; padding: 12px 16px; }
  #detail h2 { font-size: 15px; margin: 16px 0 6px; }
  pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 320px; margin: 0; font-size: 12px; }
  .empty { color: var(--muted); }
  button { margin-right: 8px; }
  #replay-result { margin-left: 8px; }
  .mono { font-family: ui-monospace, monospace; }
  td.id { max-width: 110px; overflow: hidden; text-overflow: ellipsis; }
</style>
</head>
<body>
<header>
  <h1>Replicate webhooks · local inspector</h1>
  <span class="hint">Deliveries to this webhook, newest first. Kept in memory only.</span>
  <span id="connection" class="hint"></span>
</header>
<main>
  <section id="list">
    <table>
      <thead><tr><th>#</th><th>time</th><th>webhook id</th><th>prediction</th><th>status</th><th>verdict</th><th>ms</th></tr></thead>
      <tbody id="deliveries"></tbody>
    </table>
    <p id="no-deliveries" class="empty" style="padding: 8px 16px">Nothing yet. Send one: <span class="mono">npx replicate-webhooks send --url … --secret …</span></p>
  </section>
  <section id="detail"><p class="empty">Select a delivery.</p></section>
</main>
<script>
"use strict";
const rows = document.getElementById('deliveries');
const detail = document.getElementById('detail');
let selected = null;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function verdictClass(verdict) {
  return ['accepted', 'duplicate', 'stale', 'after_terminal'].includes(verdict) ? 'v-' + verdict : 'v-error';
}
function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}
function addRow(summary) {
  document.getElementById('no-deliveries').hidden = true;
  if (rows.querySelector('tr[data-seq="' + summary.seq + '"]')) return;
  const time = new Date(summary.receivedAt).toLocaleTimeString([], { hour12: false });
  const row = el('tr', { 'data-seq': summary.seq, 'data-verdict': summary.verdict },
    el('td', {}, summary.seq + (summary.replay ? ' ↺' + summary.replay.of : '')),
    el('td', {}, time),
    el('td', { class: 'mono id', title: summary.webhookId || '' }, summary.webhookId || '—'),
    el('td', { class: 'mono id', title: summary.predictionId || '' }, summary.predictionId || '—'),
    el('td', { class: 'kind-' + (summary.kind || 'none') }, (summary.kind === 'training' ? 'training · ' : '') + (summary.predictionStatus || '—')),
    el('td', { class: 'verdict ' + verdictClass(summary.verdict) }, summary.status + ' ' + summary.verdict),
    el('td', {}, summary.latencyMs));
  row.addEventListener('click', () => select(summary.seq));
  rows.prepend(row);
}
async function select(seq) {
  selected = seq;
  for (const row of rows.querySelectorAll('tr')) row.classList.toggle('selected', row.dataset.seq === String(seq));
  const response = await fetch('/_inspector/api/deliveries/' + seq);
  const data = await response.json();
  if (selected !== seq) return;
  detail.replaceChildren();
  if (!response.ok) { detail.append(el('p', { class: 'empty' }, data.error)); return; }
  const s = data.summary;
  detail.append(
    el('h2', {}, 'Delivery #' + s.seq + (s.replay ? ' (replay of #' + s.replay.of + ', ' + s.replay.mode + ')' : '')),
    el('p', {}, 'Verdict: ', el('span', { id: 'verdict', class: 'verdict ' + verdictClass(s.verdict) }, s.status + ' ' + s.verdict),
      ' · ' + s.bytes + ' bytes · ' + s.latencyMs + ' ms · ' + s.receivedAt),
    el('p', {},
      el('button', { id: 'replay-as-sent', title: 'Send the same headers and body again' }, 'Replay as sent'),
      el('button', { id: 'replay-re-signed', title: 'Same webhook id and body, a fresh timestamp and signature' }, 'Replay re-signed'),
      el('span', { id: 'replay-result' })),
    el('h2', {}, 'Signature'),
    el('p', { id: 'signature', class: data.signature.valid ? 'v-accepted' : 'v-error' }, data.signature.explanation),
    el('h2', {}, 'Headers'),
    el('table', { id: 'headers' }, ...data.headers.map(([name, value]) => el('tr', {}, el('td', { class: 'mono' }, name), el('td', { class: 'mono' }, value)))),
    el('h2', {}, 'Body'),
    el('pre', { id: 'body' }, data.body.text !== undefined ? pretty(data.body.text) : '(binary, base64) ' + data.body.base64),
    el('h2', {}, 'Prediction record'),
    el('pre', { id: 'record' }, data.record ? JSON.stringify(data.record, null, 2) : 'No record for this prediction.'),
    el('h2', {}, 'Archived files'),
    files(data.manifest, data.manifestKey),
    el('h2', {}, 'Completion message'),
    el('pre', { id: 'completion' }, data.completion ? JSON.stringify(data.completion, null, 2) : 'Not announced (yet).'));
  for (const mode of ['as-sent', 're-signed']) {
    document.getElementById('replay-' + mode).addEventListener('click', () => replay(seq, mode));
  }
}
function files(manifest, manifestKey) {
  if (!manifest) return el('p', { id: 'files', class: 'empty' }, 'Not archived (yet).');
  const link = (label, key) => el('a', { href: '/_inspector/files?key=' + encodeURIComponent(key), download: '' }, label);
  return el('ul', { id: 'files' },
    el('li', {}, link('manifest.json', manifestKey), ' · the terminal payload and every file'),
    ...(manifest.prediction ? [el('li', {}, link(manifest.prediction.key.split('/').pop(), manifest.prediction.key))] : []),
    ...manifest.files.map((file) => el('li', {}, link(file.key.split('/').pop(), file.key), ' · ' + file.bytes + ' bytes · ' + file.contentType)),
    ...manifest.failures.map((failure) => el('li', { class: 'v-error' }, failure.source + ': ' + failure.reason)));
}
async function replay(seq, mode) {
  const result = document.getElementById('replay-result');
  result.textContent = 'sending…';
  const response = await fetch('/_inspector/api/deliveries/' + seq + '/replay?mode=' + mode, { method: 'POST', headers: { 'x-inspector': '1' } });
  const summary = await response.json();
  if (!response.ok) { result.textContent = summary.error; return; }
  addRow(summary);
  result.replaceChildren('→ #' + summary.seq + ': ', el('span', { class: 'verdict ' + verdictClass(summary.verdict), 'data-replay-verdict': summary.verdict }, summary.status + ' ' + summary.verdict));
}
async function start() {
  const response = await fetch('/_inspector/api/deliveries');
  for (const summary of (await response.json()).deliveries) addRow(summary);
  const events = new EventSource('/_inspector/api/stream');
  const connection = document.getElementById('connection');
  events.onopen = () => { connection.textContent = '● live'; };
  events.onerror = () => { connection.textContent = '○ reconnecting'; };
  events.addEventListener('delivery', (event) => addRow(JSON.parse(event.data)));
}
start();
</script>
</body>
</html>
`;
