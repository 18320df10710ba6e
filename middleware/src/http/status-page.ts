/**
 * The middleware's status page: plain HTML, a style sheet and a small script (separate files, so
 * the Content-Security-Policy needs no inline code), no build step. It reads /status and
 * /dead-letters every two seconds, and a customer's journey when asked. Every value from the CRM
 * or the store is set as text, never as HTML.
 * When the middleware has API keys, the page asks for one and sends it as a bearer token.
 */
export const statusPage = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Welcome packages: middleware status</title>
  <link rel="stylesheet" href="/assets/status-page.css">
  <script src="/assets/status-page.js" defer></script>
</head>
<body>
  <h1>Welcome packages: middleware</h1>
  <div class="muted">Every customer the CRM acknowledges gets exactly one welcome package. <span id="updated">Loading…</span></div>
  <div class="muted">Replicas seen in the last minute: <span id="replica-count">–</span> <span id="replica-list"></span></div>
  <div id="banner" role="alert"></div>
  <form id="key-form" hidden>
    <label for="key">This middleware needs an API key (one of its <code>API_KEYS</code>):</label>
    <input id="key" type="password" autocomplete="off" required>
    <button type="submit">Use this key</button>
    <span class="muted">Kept in this tab only (sessionStorage).</span>
  </form>

  <div class="cards">
    <div class="card"><div class="label">Cursor</div><div class="value" id="cursor">–</div></div>
    <div class="card"><div class="label">Lag (ids behind the CRM)</div><div class="value" id="lag">–</div></div>
    <div class="card"><div class="label">Last poll</div><div class="value small" id="lastPollAt">–</div></div>
    <div class="card"><div class="label">Last success</div><div class="value small" id="lastSuccessAt">–</div></div>
    <div class="card"><div class="label">Packages created</div><div class="value" id="synced">–</div></div>
    <div class="card"><div class="label">Already there</div><div class="value" id="alreadyThere">–</div></div>
    <div class="card"><div class="label">Failed cycles</div><div class="value" id="failedCycles">–</div></div>
    <div class="card"><div class="label">Dead letters</div><div class="value" id="deadLetters">–</div></div>
  </div>

  <h2>How customers arrive</h2>
  <div class="cards">
    <div class="card"><div class="label">By webhook (push)</div><div class="value" id="viaWebhook">–</div></div>
    <div class="card"><div class="label">By long poll</div><div class="value" id="viaLongPoll">–</div></div>
    <div class="card"><div class="label">By poll</div><div class="value" id="viaPoll">–</div></div>
    <div class="card"><div class="label">Last webhook</div><div class="value small" id="lastWebhookAt">–</div></div>
  </div>

  <h2>Latest packages</h2>
  <table id="deliveries">
    <thead><tr><th>Customer</th><th>Name</th><th>Package</th><th>Outcome</th><th>When</th></tr></thead>
    <tbody></tbody>
  </table>

  <h2>Dead letters <button class="secondary" id="replay-all" type="button">Replay all</button></h2>
  <div id="replay-result" aria-live="polite"></div>
  <table id="dead-letters">
    <thead><tr><th>#</th><th>Customer</th><th>Refusal</th><th>Attempts</th><th>Last failed</th><th></th></tr></thead>
    <tbody></tbody>
  </table>

  <h2>Reconciliation <button class="secondary" id="reconcile" type="button">Reconcile now</button></h2>
  <div class="muted">Compares every customer up to the cursor with the Inventory's packages and makes the missing ones again.</div>
  <div id="reconcile-result" aria-live="polite"></div>
  <div id="reconciliation">No reconciliation has run yet.</div>
  <table id="findings" hidden>
    <thead><tr><th>Finding</th><th>Customer</th><th>CRM name</th><th>Package</th><th>Package name</th><th>Repair</th></tr></thead>
    <tbody></tbody>
  </table>

  <h2>What happened to customer…</h2>
  <form id="journey-form" class="search">
    <label for="journey-id">Customer id</label>
    <input id="journey-id" inputmode="numeric" autocomplete="off" placeholder="4711" required>
    <button type="submit">Show the journey</button>
  </form>
  <div id="journey-result" aria-live="polite"></div>
  <a id="journey-trace" target="_blank" rel="noopener noreferrer" hidden>Open the trace</a>
  <table id="journey" hidden>
    <thead><tr><th>When</th><th>Step</th><th>Details</th><th>Trace</th></tr></thead>
    <tbody></tbody>
  </table>

  <footer class="muted">JSON: <a href="/status">/status</a> · <a href="/dead-letters">/dead-letters</a> · <a href="/reconciliations/latest">/reconciliations/latest</a> · <a href="/metrics">/metrics</a> · API docs: <a href="/docs">/docs</a></footer>

</body>
</html>
`;

/** The status page's style sheet (GET /assets/status-page.css). */
export const statusPageCss = `:root { font-family: system-ui, sans-serif; color: #1d2733; background: #f5f7fa; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.muted { color: #66758a; font-size: 13px; }
#banner { display: none; margin: 16px 0; padding: 12px 16px; border-radius: 8px; background: #fde8e8; color: #8a1c1c; border: 1px solid #f3b4b4; font-weight: 600; }
#banner.on { display: block; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-top: 16px; }
.card { background: #fff; border-radius: 8px; padding: 12px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card .label { font-size: 12px; color: #66758a; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 600; margin-top: 4px; overflow-wrap: anywhere; }
.card .value.small { font-size: 14px; font-weight: 500; }
table { width: 100%; border-collapse: collapse; background: #fff; border-radius: 8px; overflow: hidden; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid #eef1f5; font-size: 14px; vertical-align: top; }
th { background: #eef1f5; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #4a5768; }
td.empty { color: #66758a; font-style: italic; }
button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid #2f6fde; background: #2f6fde; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #2f6fde; }
#replay-result, #reconcile-result { margin-top: 8px; min-height: 1.2em; font-size: 14px; }
#reconciliation { margin: 8px 0; font-size: 14px; }
footer { margin-top: 28px; font-size: 13px; }
footer a { color: #2f6fde; }
form.search input { font: inherit; padding: 4px 8px; margin: 0 8px; width: 10em; }
#journey-result { margin: 8px 0; min-height: 1.2em; font-size: 14px; }
#journey-trace { display: inline-block; margin-bottom: 8px; color: #2f6fde; font-size: 14px; }
#journey-trace[hidden] { display: none; }
#journey td.trace { font-family: ui-monospace, monospace; font-size: 12px; color: #66758a; }
#key-form { margin: 16px 0; padding: 12px 16px; border-radius: 8px; background: #fff8e1; border: 1px solid #f0d58a; }
#key-form input { font: inherit; padding: 4px 8px; margin: 0 8px; }
`;

/** The status page's script (GET /assets/status-page.js). */
export const statusPageScript = `const $ = (id) => document.getElementById(id);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');
const text = (value) => (value === null || value === undefined ? '' : String(value));
const reasonOf = (letter) => {
  const reason = letter.reason;
  const detail = reason && typeof reason === 'object' ? reason.detail || reason.title || JSON.stringify(reason) : reason;
  return (letter.status ? letter.status + ': ' : '') + text(detail);
};

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell); else td.textContent = text(cell);
    tr.append(td);
  }
  return tr;
}

function fill(tableId, rows, empty, columns) {
  const body = $(tableId).querySelector('tbody');
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = document.createElement('td');
    td.colSpan = columns;
    td.className = 'empty';
    td.textContent = empty;
    const tr = document.createElement('tr');
    tr.append(td);
    body.append(tr);
  }
}

const KEY = 'middleware-api-key';
/** fetch with the API key the user gave, if any; a 401 asks for one. */
async function api(path, init = {}) {
  const key = sessionStorage.getItem(KEY);
  const response = await fetch(path, { ...init, headers: key ? { Authorization: 'Bearer ' + key } : {} });
  if (response.status === 401) {
    $('key-form').hidden = false;
    throw new Error('an API key is needed');
  }
  return response;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  $('key-form').hidden = true;
  refresh();
});

function showBanner(message) {
  $('banner').textContent = message;
  $('banner').classList.toggle('on', Boolean(message));
}

async function replay(path) {
  $('replay-result').textContent = 'Replaying…';
  try {
    const response = await api(path, { method: 'POST' });
    const body = await response.json();
    if (!response.ok) $('replay-result').textContent = 'Replay failed: ' + text(body.detail);
    else if (body.results) $('replay-result').textContent = 'Replayed: ' + body.delivered + ' delivered, ' + body.stillRefused + ' still refused, ' + body.notTried + ' not tried.';
    else if (body.outcome === 'stillRefused') $('replay-result').textContent = 'Customer ' + text(body.customerId) + ' was refused again.';
    else $('replay-result').textContent = 'Customer ' + text(body.customerId) + ' delivered: package ' + body.packageId + '.';
  } catch (error) {
    $('replay-result').textContent = 'Replay failed: ' + error.message;
  }
  await refresh();
}

async function reconcileNow() {
  $('reconcile-result').textContent = 'Starting…';
  try {
    const response = await api('/reconciliations', { method: 'POST' });
    const body = await response.json();
    if (response.status === 202) $('reconcile-result').textContent = 'Reconciliation ' + body.id + ' started.';
    else $('reconcile-result').textContent = 'Not started: ' + text(body.detail);
  } catch (error) {
    $('reconcile-result').textContent = 'Not started: ' + error.message;
  }
  await refresh();
}

function showReconciliation(run) {
  if (!run) return;
  const c = run.counts;
  const p = run.progress;
  $('reconciliation').textContent = 'Reconciliation ' + run.id + ' (customers ' + run.fromId + ' to ' + run.toId + ', repair ' + (run.repair ? 'on' : 'off') + '): ' +
    run.status + (run.error ? ' (' + run.error + ')' : '') + ', ' + p.checked + ' of ' + p.total + ' ids checked; ' +
    c.missing + ' missing (' + c.repaired + ' repaired), ' + c.mismatched + ' mismatched, ' + c.orphaned + ' orphaned. Started ' +
    when(run.startedAt) + (run.finishedAt ? ', ended ' + when(run.finishedAt) : '') + '.';
  $('findings').hidden = run.findings.length === 0;
  fill('findings', run.findings.map((f) => row([f.kind, f.customerId, f.customerName, f.packageId, f.packageCustomerName, f.repair])), '', 6);
}

async function refresh() {
  try {
    const [status, letters] = await Promise.all([
      api('/status').then((r) => r.json()),
      api('/dead-letters?limit=100').then((r) => r.json()),
    ]);
    for (const key of ['cursor', 'lag', 'synced', 'alreadyThere', 'failedCycles', 'deadLetters']) $(key).textContent = text(status[key]);
    $('lastPollAt').textContent = when(status.lastPollAt);
    $('lastSuccessAt').textContent = when(status.lastSuccessAt);
    $('viaWebhook').textContent = text(status.deliveriesByPath.webhook);
    $('viaLongPoll').textContent = text(status.deliveriesByPath.longPoll);
    $('viaPoll').textContent = text(status.deliveriesByPath.poll);
    $('lastWebhookAt').textContent = when(status.lastWebhookAt);
    $('replica-count').textContent = text(status.replicas.length);
    const replicas = status.replicas.map((r) => r.id + ', up since ' + when(r.startedAt));
    $('replica-list').textContent = replicas.length > 0 ? '(' + replicas.join('; ') + ')' : '';
    showBanner(status.outage ? status.outage.upstream + ' unreachable since ' + when(status.outage.since) + ': ' + status.outage.lastError : '');
    fill('deliveries', status.recentDeliveries.map((d) => row([d.customerId, d.customerName, d.packageId, d.outcome === 'created' ? 'created' : 'already there', when(d.at)])), 'No packages yet.', 5);
    fill('dead-letters', letters.map((letter) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Replay';
      button.dataset.replay = letter.id;
      button.addEventListener('click', () => replay('/dead-letters/' + letter.id + '/replay'));
      return row([letter.id, letter.customerId === null ? 'no usable id' : letter.customerId, reasonOf(letter), letter.attempts, when(letter.lastFailedAt), button]);
    }), 'No dead letters.', 6);
    showReconciliation(status.lastReconciliation);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  } catch (error) {
    showBanner($('key-form').hidden ? 'The middleware does not answer: ' + error.message : '');
  }
}

const FOUND_VIA = { webhook: 'by a CRM webhook', longPoll: 'by a long poll', poll: 'by a poll', reconciliation: 'by a reconciliation (its package was missing)', replay: 'by a replay of its dead letter' };
const exactly = (iso) => new Date(iso).toLocaleString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3 });

function outcomeOf(step) {
  const pkg = 'package ' + text(step.packageId);
  const letter = step.deadLetterId !== undefined ? 'dead letter ' + step.deadLetterId : 'a dead letter';
  if (step.outcome === 'created') return pkg + ' created';
  if (step.outcome === 'alreadyThere') return 'the Inventory had ' + pkg + ' already';
  if (step.outcome === 'deadLettered') return 'refused' + (step.status !== undefined ? ' with ' + step.status : '') + ': ' + letter;
  if (step.outcome === 'replayed') return letter + ' replayed: ' + pkg;
  if (step.outcome === 'repaired') return 'its lost package made again by a reconciliation: ' + pkg;
  return text(step.outcome);
}

/** What one step of a journey says, as [step, details]. */
function describeStep(step) {
  if (step.kind === 'created') return ['Created at the CRM', ''];
  if (step.kind === 'found') return ['Found', FOUND_VIA[step.via] || text(step.via)];
  if (step.kind === 'asked') {
    return ['Asked the Inventory', step.status === null ? 'no answer: ' + text(step.error) : 'answered ' + step.status];
  }
  return ['Outcome', outcomeOf(step)];
}

function clearJourney(message) {
  $('journey-result').textContent = message;
  $('journey-trace').hidden = true;
  $('journey-trace').removeAttribute('href');
  $('journey').hidden = true;
}

/**
 * Looks the customer up in /journeys?customerId=, which answers 200 with an empty list for a
 * customer never seen: the browser would log a 404 from /customers/{id}/journey as an error.
 * An id that is not a positive whole number is not sent at all.
 */
async function showJourney(raw) {
  const id = raw.trim();
  if (!/^[1-9][0-9]*$/.test(id) || !Number.isSafeInteger(Number(id))) {
    clearJourney('A customer id is a whole number from 1, such as 4711.');
    return;
  }
  clearJourney('Looking up customer ' + id + '…');
  try {
    const response = await api('/journeys?customerId=' + id);
    const body = await response.json();
    if (!response.ok) {
      clearJourney('Customer ' + id + ' could not be looked up: ' + text(body.detail));
      return;
    }
    const journey = body[0];
    if (!journey) {
      clearJourney('The middleware has not seen customer ' + id + ' (or not within the days it keeps journeys).');
      return;
    }
    $('journey-result').textContent = 'Customer ' + journey.customerId + ': ' + journey.steps.length + (journey.steps.length === 1 ? ' step' : ' steps') +
      (journey.traceId ? ', trace ' + journey.traceId : '') + '.';
    const link = $('journey-trace');
    // TRACE_UI_URL is checked at start; this keeps any other scheme out of the link all the same.
    const linkable = typeof journey.traceUrl === 'string' && /^https?:$/.test(new URL(journey.traceUrl, location.href).protocol);
    link.hidden = !linkable;
    if (linkable) link.href = journey.traceUrl;
    else link.removeAttribute('href');
    fill('journey', journey.steps.map((step) => {
      const [label, details] = describeStep(step);
      const tr = row([exactly(step.at), label, details, step.traceId ? step.traceId.slice(0, 8) + '…' : '']);
      tr.lastChild.className = 'trace';
      if (step.traceId) tr.lastChild.title = step.traceId;
      tr.dataset.kind = step.kind;
      return tr;
    }), '', 4);
    $('journey').hidden = false;
  } catch (error) {
    clearJourney('Customer ' + id + ' could not be looked up: ' + error.message);
  }
}

$('journey-form').addEventListener('submit', (event) => {
  event.preventDefault();
  showJourney($('journey-id').value);
});

$('replay-all').addEventListener('click', () => replay('/dead-letters/replay'));
$('reconcile').addEventListener('click', reconcileNow);
refresh();
setInterval(refresh, 2000);
`;
