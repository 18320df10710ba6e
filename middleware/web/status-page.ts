/**
 * The status page's script, served as /assets/status-page.js beside middleware/public/status-page.html
 * (separate files, so that the Content-Security-Policy needs no inline code). A plain browser
 * script, not a module: no import or export, so that the compiled file runs as it is. It reads
 * /status and /dead-letters every two seconds, and a customer's journey when asked. Every value
 * from the CRM or the store is set as text, never as HTML.
 * When the middleware has API keys, the page asks for one and sends it as a bearer token.
 * The answers' types are declared in answers.d.ts.
 */

// The page's elements are all in status-page.html; the type says which kind the caller expects.
const $ = <E extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as E;
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : 'never');
const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));
const reasonOf = (letter: DeadLetter) => {
  const reason = letter.reason as Problem | string | null;
  const detail =
    reason && typeof reason === 'object' ? reason.detail || reason.title || JSON.stringify(reason) : reason;
  return (letter.status ? letter.status + ': ' : '') + text(detail);
};

function row(cells: unknown[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = text(cell);
    tr.append(td);
  }
  return tr;
}

function fill(tableId: string, rows: HTMLTableRowElement[], empty: string, columns: number) {
  const body = $(tableId).querySelector('tbody') as HTMLTableSectionElement;
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
async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const key = sessionStorage.getItem(KEY);
  const headers = {
    ...(init.headers as Record<string, string> | undefined),
    ...(key ? { Authorization: 'Bearer ' + key } : {}),
  };
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    $('key-form').hidden = false;
    throw new Error('an API key is needed');
  }
  return response;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $<HTMLInputElement>('key').value);
  $<HTMLInputElement>('key').value = '';
  $('key-form').hidden = true;
  refresh();
});

function showBanner(message: string) {
  $('banner').textContent = message;
  $('banner').classList.toggle('on', Boolean(message));
}

async function replay(path: string) {
  $('replay-result').textContent = 'Replaying…';
  try {
    const response = await api(path, { method: 'POST' });
    const body: ReplayAnswer = await response.json();
    if (!response.ok) $('replay-result').textContent = 'Replay failed: ' + text(body.detail);
    else if (body.results)
      $('replay-result').textContent =
        `Replayed: ${body.delivered} delivered, ${body.stillRefused} still refused, ${body.notTried} not tried.`;
    else if (body.outcome === 'stillRefused')
      $('replay-result').textContent = `Customer ${text(body.customerId)} was refused again.`;
    else $('replay-result').textContent = `Customer ${text(body.customerId)} delivered: package ${body.packageId}.`;
  } catch (error) {
    $('replay-result').textContent = 'Replay failed: ' + (error as Error).message;
  }
  await refresh();
}

async function reconcileNow() {
  $('reconcile-result').textContent = 'Starting…';
  try {
    const response = await api('/reconciliations', { method: 'POST' });
    const body: Partial<Reconciliation> & Problem = await response.json();
    if (response.status === 202) $('reconcile-result').textContent = 'Reconciliation ' + body.id + ' started.';
    else $('reconcile-result').textContent = 'Not started: ' + text(body.detail);
  } catch (error) {
    $('reconcile-result').textContent = 'Not started: ' + (error as Error).message;
  }
  await refresh();
}

function showReconciliation(run: Reconciliation | null) {
  if (!run) return;
  const { counts: c, progress: p } = run;
  const error = run.error ? ` (${run.error})` : '';
  const ended = run.finishedAt ? `, ended ${when(run.finishedAt)}` : '';
  $('reconciliation').textContent =
    `Reconciliation ${run.id} (customers ${run.fromId} to ${run.toId}, repair ${run.repair ? 'on' : 'off'}): ` +
    `${run.status}${error}, ${p.checked} of ${p.total} ids checked; ` +
    `${c.missing} missing (${c.repaired} repaired), ${c.mismatched} mismatched, ${c.orphaned} orphaned. ` +
    `Started ${when(run.startedAt)}${ended}.`;
  $('findings').hidden = run.findings.length === 0;
  fill(
    'findings',
    run.findings.map((f) => row([f.kind, f.customerId, f.customerName, f.packageId, f.packageCustomerName, f.repair])),
    '',
    6,
  );
}

/** What the page says of flow control: paused (by whom, why), throttled, or delivering; and the breaker. */
function showDelivery(status: Status) {
  const { paused, throttle, breaker } = status;
  let state = 'Delivering';
  if (paused) {
    const by = paused.by ? ` by ${paused.by}` : '';
    const reason = paused.reason ? `: ${paused.reason}` : '';
    const until = paused.until ? ` (until ${when(paused.until)})` : '';
    state = `Paused${by} since ${when(paused.since)}${reason}${until}`;
  } else if (throttle)
    state = `Throttled: the Inventory answered ${throttle.status}; waiting until ${when(throttle.until)}`;
  $('delivery-state').textContent = state;
  const probe = breaker.state === 'open' ? `; next probe ${when(breaker.nextProbeAt)}` : '';
  const since = `since ${when(breaker.since)}: ${text(breaker.reason)}${probe}`;
  $('breaker').textContent =
    breaker.state === 'closed' ? 'closed' : `${breaker.state === 'open' ? 'open' : 'half-open (probing)'} ${since}`;
  $('pause').hidden = paused !== null;
  $('pause-reason').hidden = paused !== null;
  $('resume').hidden = paused === null;
}

async function pauseOrResume(path: string, body?: object) {
  try {
    const response = await api(path, {
      method: 'POST',
      ...(body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    $('pause-result').textContent = response.ok ? '' : 'Failed: ' + text(((await response.json()) as Problem).detail);
  } catch (error) {
    $('pause-result').textContent = 'Failed: ' + (error as Error).message;
  }
  await refresh();
}

async function refresh() {
  try {
    const [status, letters] = await Promise.all([
      api('/status').then((r): Promise<Status> => r.json()),
      api('/dead-letters?limit=100').then((r): Promise<DeadLetter[]> => r.json()),
    ]);
    for (const key of ['cursor', 'lag', 'created', 'alreadyThere', 'failedCycles', 'deadLetters'] as const)
      $(key).textContent = text(status[key]);
    $('lastPollAt').textContent = when(status.lastPollAt);
    $('lastSuccessAt').textContent = when(status.lastSuccessAt);
    $('viaWebhook').textContent = text(status.deliveriesByPath.webhook);
    $('viaLongPoll').textContent = text(status.deliveriesByPath.longPoll);
    $('viaPoll').textContent = text(status.deliveriesByPath.poll);
    $('lastWebhookAt').textContent = when(status.lastWebhookAt);
    showDelivery(status);
    $('replica-count').textContent = text(status.replicas.length);
    const replicas = status.replicas.map((r) => r.id + ', up since ' + when(r.startedAt));
    $('replica-list').textContent = replicas.length > 0 ? '(' + replicas.join('; ') + ')' : '';
    const { outage } = status;
    showBanner(outage ? `${outage.upstream} unreachable since ${when(outage.since)}: ${outage.lastError}` : '');
    fill(
      'deliveries',
      status.recentDeliveries.map((d) =>
        row([
          d.customerId,
          d.customerName,
          d.packageId,
          d.outcome === 'created' ? 'created' : 'already there',
          when(d.at),
        ]),
      ),
      'No packages yet.',
      5,
    );
    fill(
      'dead-letters',
      letters.map((letter) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = 'Replay';
        button.dataset.replay = String(letter.id);
        button.addEventListener('click', () => replay('/dead-letters/' + letter.id + '/replay'));
        return row([
          letter.id,
          letter.customerId === null ? 'no usable id' : letter.customerId,
          reasonOf(letter),
          letter.attempts,
          when(letter.lastFailedAt),
          button,
        ]);
      }),
      'No dead letters.',
      6,
    );
    showReconciliation(status.lastReconciliation);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  } catch (error) {
    showBanner($('key-form').hidden ? 'The middleware does not answer: ' + (error as Error).message : '');
  }
}

const FOUND_VIA: Record<string, string> = {
  webhook: 'by a CRM webhook',
  longPoll: 'by a long poll',
  poll: 'by a poll',
  reconciliation: 'by a reconciliation (its package was missing)',
  replay: 'by a replay of its dead letter',
};
const exactly = (iso: string) =>
  new Date(iso).toLocaleString(undefined, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
  });

function outcomeOf(step: OutcomeStep) {
  const pkg = 'package ' + text(step.packageId);
  const letter = step.deadLetterId !== undefined ? 'dead letter ' + step.deadLetterId : 'a dead letter';
  if (step.outcome === 'created') return pkg + ' created';
  if (step.outcome === 'alreadyThere') return 'the Inventory had ' + pkg + ' already';
  if (step.outcome === 'deadLettered')
    return 'refused' + (step.status !== undefined ? ' with ' + step.status : '') + ': ' + letter;
  if (step.outcome === 'replayed') return letter + ' replayed: ' + pkg;
  if (step.outcome === 'repaired') return 'its lost package made again by a reconciliation: ' + pkg;
  return text(step.outcome);
}

/** What one step of a journey says, as [step, details]. */
function describeStep(step: Step): [string, string] {
  if (step.kind === 'created') return ['Created at the CRM', ''];
  if (step.kind === 'found') return ['Found', FOUND_VIA[step.via] || text(step.via)];
  if (step.kind === 'asked') {
    return ['Asked the Inventory', step.status === null ? 'no answer: ' + text(step.error) : 'answered ' + step.status];
  }
  return ['Outcome', outcomeOf(step)];
}

function clearJourney(message: string) {
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
async function showJourney(raw: string) {
  const id = raw.trim();
  if (!/^[1-9][0-9]*$/.test(id) || !Number.isSafeInteger(Number(id))) {
    clearJourney('A customer id is a whole number from 1, such as 4711.');
    return;
  }
  clearJourney('Looking up customer ' + id + '…');
  try {
    const response = await api('/journeys?customerId=' + id);
    const body: unknown = await response.json();
    if (!response.ok) {
      clearJourney('Customer ' + id + ' could not be looked up: ' + text((body as Problem).detail));
      return;
    }
    const journey = (body as Journey[])[0];
    if (!journey) {
      clearJourney('The middleware has not seen customer ' + id + ' (or not within the days it keeps journeys).');
      return;
    }
    const steps = `${journey.steps.length} ${journey.steps.length === 1 ? 'step' : 'steps'}`;
    const trace = journey.traceId ? `, trace ${journey.traceId}` : '';
    $('journey-result').textContent = `Customer ${journey.customerId}: ${steps}${trace}.`;
    const link = $<HTMLAnchorElement>('journey-trace');
    // TRACE_UI_URL is checked at start; this keeps any other scheme out of the link all the same.
    const { traceUrl } = journey;
    const linkable = typeof traceUrl === 'string' && /^https?:$/.test(new URL(traceUrl, location.href).protocol);
    link.hidden = !linkable;
    if (linkable) link.href = traceUrl;
    else link.removeAttribute('href');
    fill(
      'journey',
      journey.steps.map((step) => {
        const [label, details] = describeStep(step);
        const tr = row([exactly(step.at), label, details, step.traceId ? step.traceId.slice(0, 8) + '…' : '']);
        (tr.lastChild as HTMLTableCellElement).className = 'trace';
        if (step.traceId) (tr.lastChild as HTMLTableCellElement).title = step.traceId;
        tr.dataset.kind = step.kind;
        return tr;
      }),
      '',
      4,
    );
    $('journey').hidden = false;
  } catch (error) {
    clearJourney('Customer ' + id + ' could not be looked up: ' + (error as Error).message);
  }
}

$('journey-form').addEventListener('submit', (event) => {
  event.preventDefault();
  showJourney($<HTMLInputElement>('journey-id').value);
});

$('replay-all').addEventListener('click', () => replay('/dead-letters/replay'));
$('reconcile').addEventListener('click', reconcileNow);
$('pause-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const reason = $<HTMLInputElement>('pause-reason').value.trim();
  void pauseOrResume('/delivery/pause', reason ? { reason } : {});
});
$('resume').addEventListener('click', () => void pauseOrResume('/delivery/resume'));
refresh();
setInterval(refresh, 2000);
