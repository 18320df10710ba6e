import { groupCommit, type Db, type StorageGuard } from '@welcome/common';
import {
  countsOf,
  type Confirmation,
  letterKey,
  RECENT_DELIVERIES,
  REPLICA_FORGOTTEN_AFTER_MS,
  REPLICA_SEEN_WITHIN_MS,
  toDeadLetter,
  toKnown,
  toOutage,
  toStatus,
  type Claim,
  type DeadLetterRow,
  type Delivery,
  keptFindings,
  toReconciliation,
  type ReconciliationProgress,
  type ReconciliationRange,
  type ReconciliationRow,
  type DeliveryRow,
  journeyRow,
  type JourneyStepRow,
  toRecordedStep,
  type KnowledgeRow,
  type NewDeadLetter,
  type ReplicaRow,
  type StateRow,
  type SyncStore,
  type UpstreamName,
} from './sync-store.js';

/**
 * The least time between two commits of confirmations. Each commit holds the event loop while
 * SQLite writes it; under load the confirmations of this long share one, and a lone one after a
 * quiet spell is still committed at once.
 */
const CONFIRM_SPACING_MS = 10;

type FindingCountColumns = 'missing' | 'mismatched' | 'orphaned' | 'repaired';

/**
 * The sync state in a SQLite file, which one process owns. Its claims are kept in memory: there
 * is no other replica to share them with, and a restart starts with none held.
 */
export function createSqliteSyncStore(db: Db, storage: StorageGuard): SyncStore {
  const state = db.prepare<[], StateRow>('SELECT * FROM sync_state WHERE id = 1');
  const cursorNow = db.prepare<[], number>('SELECT cursor FROM sync_state WHERE id = 1').pluck();
  const deadLetterCount = db.prepare<[], number>('SELECT COUNT(*) FROM dead_letters').pluck();
  const pollStarted = db.prepare<[string]>('UPDATE sync_state SET last_poll_at = ? WHERE id = 1');
  const cycleSucceeded = db.prepare<[string]>(
    'UPDATE sync_state SET last_success_at = ?, last_error = NULL, outage_upstream = NULL, outage_since = NULL ' +
      'WHERE id = 1',
  );
  const cycleFailed = db.prepare<[string, string, string]>(`
    UPDATE sync_state SET failed_cycles = failed_cycles + 1, last_error = ?, outage_upstream = ?,
      outage_since = COALESCE(outage_since, ?)
    WHERE id = 1
  `);
  // MAX(): the cursor never moves back, whatever order replays and cycles finish in.
  const advance = db.prepare<[number]>('UPDATE sync_state SET cursor = MAX(cursor, ?) WHERE id = 1');
  const forgetBehindCursor = db.prepare(
    'DELETE FROM confirmed WHERE customer_id <= (SELECT cursor FROM sync_state WHERE id = 1)',
  );
  const confirm = db.prepare<[number, number, string]>(
    'INSERT OR REPLACE INTO confirmed (customer_id, package_id, outcome) VALUES (?, ?, ?)',
  );
  const handledNow = db
    .prepare<[{ customerId: number }], number>(
      'SELECT EXISTS (SELECT 1 FROM confirmed WHERE customer_id = @customerId) ' +
        'OR EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = @customerId)',
    )
    .pluck();
  const isHandled = (customerId: number) => handledNow.get({ customerId }) === 1;
  // What is known of one customer, in one read: asked for each customer before it is delivered.
  const knowledgeOf = db.prepare<[{ customerId: number }], KnowledgeRow>(`
    SELECT s.cursor, c.package_id, c.outcome, d.id AS dead_letter_id
    FROM sync_state s
    LEFT JOIN confirmed c ON c.customer_id = @customerId
    LEFT JOIN dead_letters d ON d.customer_id = @customerId
    WHERE s.id = 1
  `);
  const webhookReceived = db.prepare<[string, number]>(
    'UPDATE sync_state SET last_webhook_at = ?, crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1',
  );
  /**
   * Moves the cursor past `customerId`, then over the run of customers right after it that are
   * already handled (confirmed or dead-lettered ahead of it, by webhooks): everything up to the
   * cursor stays handled, whatever the order the outcomes came in.
   */
  const moveCursor = (customerId = 0) => {
    advance.run(customerId);
    const start = cursorNow.get()!;
    let cursor = start;
    while (isHandled(cursor + 1)) cursor += 1;
    if (cursor > start) advance.run(cursor);
    forgetBehindCursor.run();
  };
  const upsertDeadLetter = db.prepare<
    [string, number | null, string, number | null, string, string, string],
    DeadLetterRow
  >(`
    INSERT INTO dead_letters (letter_key, customer_id, customer, status, reason, first_failed_at, last_failed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (letter_key) DO UPDATE SET
      customer = excluded.customer, status = excluded.status, reason = excluded.reason,
      attempts = attempts + 1, last_failed_at = excluded.last_failed_at
    RETURNING *
  `);
  const deadLetterById = db.prepare<[number], DeadLetterRow>('SELECT * FROM dead_letters WHERE id = ?');
  const deadLettersAfter = db.prepare<[number, number], DeadLetterRow>(
    'SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?',
  );
  const deleteDeadLetter = db.prepare<[number]>('DELETE FROM dead_letters WHERE id = ?');

  const crmHighest = db.prepare<[number]>('UPDATE sync_state SET crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1');
  const insertDelivery = db.prepare<[number, string, number, string, string]>(
    'INSERT INTO deliveries (customer_id, customer_name, package_id, outcome, at) VALUES (?, ?, ?, ?, ?)',
  );
  const pruneDeliveries = db.prepare<[number]>(
    'DELETE FROM deliveries WHERE id <= (SELECT MAX(id) FROM deliveries) - ?',
  );
  const recentDeliveries = db.prepare<[number], DeliveryRow>('SELECT * FROM deliveries ORDER BY id DESC LIMIT ?');
  const upsertReplica = db.prepare<[string, string, string]>(`
    INSERT INTO replicas (id, started_at, last_seen_at) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, last_seen_at = excluded.last_seen_at
  `);
  const forgetReplicas = db.prepare<[string]>('DELETE FROM replicas WHERE last_seen_at < ?');
  const replicasSince = db.prepare<[string], ReplicaRow>('SELECT * FROM replicas WHERE last_seen_at >= ? ORDER BY id');

  const addCounts = db.prepare<[number, number, number, number, number]>(`
    UPDATE sync_state SET synced = synced + ?, already_there = already_there + ?,
      via_webhook = via_webhook + ?, via_long_poll = via_long_poll + ?, via_poll = via_poll + ?
    WHERE id = 1
  `);
  /**
   * Counts confirmed packages, remembers them, keeps the latest among the recent ones, and moves the cursor over them.
   */
  const recordConfirmed = (batch: readonly Confirmation[]) => {
    const counts = countsOf(batch);
    addCounts.run(counts.created, counts.alreadyThere, counts.webhook, counts.longPoll, counts.poll);
    for (const { delivery } of batch) confirm.run(delivery.customerId, delivery.packageId, delivery.outcome);
    for (const { delivery, at } of batch.slice(-RECENT_DELIVERIES)) {
      insertDelivery.run(delivery.customerId, delivery.customerName, delivery.packageId, delivery.outcome, at);
    }
    pruneDeliveries.run(RECENT_DELIVERIES);
    moveCursor();
  };
  const confirmAll = db.transaction(recordConfirmed);

  // Claims last as long as the process; the delivery claims the cursor has passed are dropped as it moves.
  const claims = {
    delivery: new Map<number, { owner: string; until: number }>(),
    replay: new Map<number, { owner: string; until: number }>(),
  };
  const forgetClaimsBehindCursor = () => {
    const cursor = cursorNow.get()!;
    for (const customerId of claims.delivery.keys()) if (customerId <= cursor) claims.delivery.delete(customerId);
  };
  const claim = (customerId: number, owner: string, at: Date, leaseMs: number, replay: boolean): Claim => {
    const known = replay ? undefined : toKnown(customerId, knowledgeOf.get({ customerId })!);
    if (known) return known;
    const held = claims[replay ? 'replay' : 'delivery'];
    const holder = held.get(customerId);
    if (holder && holder.owner !== owner && holder.until > at.getTime()) {
      return { state: 'claimedElsewhere', owner: holder.owner, until: new Date(holder.until).toISOString() };
    }
    held.set(customerId, { owner, until: at.getTime() + leaseMs });
    return { state: 'claimed' };
  };

  // Webhooks noted together share one write: the latest time and the highest id. A write that
  // fails is logged by the storage guard; the next webhook notes it again.
  const noteWebhooks = groupCommit<{ at: string; customerId: number }>(
    (batch) =>
      void storage.write('markWebhookReceived', () =>
        webhookReceived.run(batch.at(-1)!.at, Math.max(...batch.map((webhook) => webhook.customerId))),
      ),
    { spacingMs: CONFIRM_SPACING_MS },
  );
  const confirmTogether = groupCommit<Confirmation>(
    (batch) => {
      storage.write('confirm', () => confirmAll.immediate(batch));
      forgetClaimsBehindCursor();
    },
    { spacingMs: CONFIRM_SPACING_MS },
  );

  const recordDeadLetter = db.transaction((letter: NewDeadLetter, at: string, passCursor: boolean) => {
    const row = upsertDeadLetter.get(
      letterKey(letter),
      letter.customerId,
      JSON.stringify(letter.customer) ?? 'null',
      letter.status,
      JSON.stringify(letter.reason) ?? 'null',
      at,
      at,
    )!;
    if (letter.customerId !== null) moveCursor(passCursor ? letter.customerId : 0);
    return toDeadLetter(row);
  });
  // A replayed letter delivered ahead of the cursor counts as confirmed, so the cursor can pass it.
  const resolveDeadLetter = db.transaction((id: number, delivery: Omit<Delivery, 'at'>, at: string) => {
    deleteDeadLetter.run(id);
    recordConfirmed([{ delivery, at }]);
  });
  const markCycleSucceeded = db.transaction((at: string) => {
    const ended = toOutage(state.get()!);
    cycleSucceeded.run(at);
    return ended ?? undefined;
  });
  const markCycleFailed = db.transaction((upstream: UpstreamName, error: string, at: string) => {
    const started = toOutage(state.get()!) === null;
    cycleFailed.run(error, upstream, at);
    return started;
  });
  const heartbeat = db.transaction((id: string, startedAt: string, at: Date) => {
    upsertReplica.run(id, startedAt, at.toISOString());
    forgetReplicas.run(new Date(at.getTime() - REPLICA_FORGOTTEN_AFTER_MS).toISOString());
  });

  // One process owns the file: a walk still marked running was its previous process's, and is
  // free to be taken over at once.
  db.prepare("UPDATE reconciliations SET lease_until = '' WHERE status = 'running'").run();
  const reconciliationById = db.prepare<[number], ReconciliationRow>('SELECT * FROM reconciliations WHERE id = ?');
  const runningReconciliation = db.prepare<[], ReconciliationRow>(
    "SELECT * FROM reconciliations WHERE status = 'running'",
  );
  const latestReconciliation = db.prepare<[], ReconciliationRow>(
    'SELECT * FROM reconciliations ORDER BY id DESC LIMIT 1',
  );
  const reconciliationsAfter = db.prepare<[number, number], ReconciliationRow>(
    'SELECT * FROM reconciliations WHERE id > ? ORDER BY id LIMIT ?',
  );
  const insertReconciliation = db.prepare<
    [number, number, number, number, number, string, string, string, string],
    ReconciliationRow
  >(`
    INSERT INTO reconciliations
      (status, from_id, to_id, repair, open_ended, position, owner, lease_until, started_at, updated_at)
    VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *
  `);
  const updateReconciliation = db.prepare<
    Pick<
      ReconciliationRow,
      | 'id'
      | 'owner'
      | 'position'
      | FindingCountColumns
      | 'findings'
      | 'lease_until'
      | 'updated_at'
      | 'status'
      | 'error'
      | 'finished_at'
    >
  >(`
    UPDATE reconciliations SET position = @position, missing = @missing, mismatched = @mismatched, orphaned = @orphaned,
      repaired = @repaired, findings = @findings, lease_until = @lease_until, updated_at = @updated_at,
      status = @status, error = @error, finished_at = @finished_at
    WHERE id = @id AND owner = @owner AND status = 'running'
  `);
  const adoptReconciliation = db.prepare<[string, string, string], ReconciliationRow>(
    "UPDATE reconciliations SET owner = ?, lease_until = ? WHERE status = 'running' AND lease_until <= ? RETURNING *",
  );
  const leaveReconciliation = db.prepare<[number, string]>(
    "UPDATE reconciliations SET lease_until = '' WHERE id = ? AND owner = ? AND status = 'running'",
  );
  const deadLettered = db
    .prepare<[number], number>('SELECT EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = ?)')
    .pluck();

  const startReconciliation = db.transaction((range: ReconciliationRange, owner: string, at: Date, leaseMs: number) => {
    const running = runningReconciliation.get();
    if (running) return { started: false, run: toReconciliation(running) };
    const row = insertReconciliation.get(
      range.fromId,
      range.toId,
      range.repair ? 1 : 0,
      range.openEnded ? 1 : 0,
      range.fromId - 1,
      owner,
      new Date(at.getTime() + leaseMs).toISOString(),
      at.toISOString(),
      at.toISOString(),
    )!;
    return { started: true, run: toReconciliation(row) };
  });
  const saveReconciliation = db.transaction(
    (
      id: number,
      owner: string,
      progress: ReconciliationProgress,
      at: Date,
      leaseUntil: string,
      end: Pick<ReconciliationRow, 'status' | 'error' | 'finished_at'>,
    ) => {
      const row = reconciliationById.get(id);
      if (!row || row.owner !== owner || row.status !== 'running') return false;
      updateReconciliation.run({
        id,
        owner,
        position: progress.position,
        ...progress.counts,
        findings: keptFindings(row.findings, progress.findings),
        lease_until: leaseUntil,
        updated_at: at.toISOString(),
        ...end,
      });
      return true;
    },
  );
  const stillRunning = { status: 'running' as const, error: null, finished_at: null };

  // One statement for any number of steps, given as one JSON array of rows: no limit on bound
  // parameters to mind, and one prepared statement whatever the size of the group.
  const insertJourneySteps = db.prepare<[string]>(`
    INSERT INTO journey_steps (customer_id, at, kind, detail, trace_id)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) ORDER BY key
  `);
  const journeyStepsOf = db.prepare<[number], JourneyStepRow>(
    'SELECT kind, at, detail, trace_id FROM journey_steps WHERE customer_id = ? ORDER BY at, id',
  );
  const pruneJourneySteps = db.prepare<[string, number]>(
    'DELETE FROM journey_steps WHERE id IN (SELECT id FROM journey_steps WHERE at < ? ORDER BY at LIMIT ?)',
  );

  return {
    cursor: async () => cursorNow.get()!,
    async status(at = new Date()) {
      const seenSince = new Date(at.getTime() - REPLICA_SEEN_WITHIN_MS).toISOString();
      return toStatus(
        state.get()!,
        deadLetterCount.get()!,
        recentDeliveries.all(RECENT_DELIVERIES),
        replicasSince.all(seenSince),
      );
    },
    markPollStarted: async (at) => void storage.write('markPollStarted', () => pollStarted.run(at.toISOString())),
    markCycleSucceeded: async (at) =>
      storage.write('markCycleSucceeded', () => markCycleSucceeded.immediate(at.toISOString())),
    markCycleFailed: async (upstream, error, at) =>
      storage.write('markCycleFailed', () => markCycleFailed.immediate(upstream, error, at.toISOString())),
    confirm: (delivery, at, path) => confirmTogether({ delivery, at: at.toISOString(), path }),
    async advanceCursor(customerId) {
      storage.write('advanceCursor', () => db.transaction(moveCursor).immediate(customerId));
      forgetClaimsBehindCursor();
    },
    claim: async (customerId, owner, at, leaseMs, options = {}) =>
      claim(customerId, owner, at, leaseMs, options.replay ?? false),
    claimAll: async (customerIds, owner, at, leaseMs) =>
      customerIds.map((customerId) => claim(customerId, owner, at, leaseMs, false)),
    async release(customerId, owner, options = {}) {
      const held = claims[options.replay ? 'replay' : 'delivery'];
      if (held.get(customerId)?.owner === owner) held.delete(customerId);
    },
    async handledAmong(customerIds) {
      const cursor = cursorNow.get()!;
      return new Set(customerIds.filter((customerId) => customerId <= cursor || isHandled(customerId)));
    },
    markWebhookReceived: (at, customerId = 0) =>
      void noteWebhooks({ at: at.toISOString(), customerId }).catch(() => undefined),
    recordCrmHighest: async (id) => void storage.write('recordCrmHighest', () => crmHighest.run(id)),
    async recordDeadLetter(letter, at, options = {}) {
      const stored = storage.write('recordDeadLetter', () =>
        recordDeadLetter.immediate(letter, at.toISOString(), options.moveCursor ?? true),
      );
      forgetClaimsBehindCursor();
      return stored;
    },
    async findDeadLetter(id) {
      const row = deadLetterById.get(id);
      return row && toDeadLetter(row);
    },
    listDeadLetters: async (after, limit) => deadLettersAfter.all(after, limit).map(toDeadLetter),
    resolveDeadLetter: async (id, delivery, at) =>
      storage.write('resolveDeadLetter', () => resolveDeadLetter.immediate(id, delivery, at.toISOString())),
    heartbeat: async (replica, at) =>
      storage.write('heartbeat', () => heartbeat.immediate(replica.id, replica.startedAt, at)),
    deadLetteredAmong: async (customerIds) =>
      new Set(customerIds.filter((customerId) => deadLettered.get(customerId) === 1)),
    startReconciliation: async (range, owner, at, leaseMs) =>
      storage.write('startReconciliation', () => startReconciliation.immediate(range, owner, at, leaseMs)),
    saveReconciliation: async (id, owner, progress, at, leaseMs) =>
      storage.write('saveReconciliation', () =>
        saveReconciliation.immediate(
          id,
          owner,
          progress,
          at,
          new Date(at.getTime() + leaseMs).toISOString(),
          stillRunning,
        ),
      ),
    async finishReconciliation(id, owner, progress, end, at) {
      const ended = {
        status: end.status,
        error: end.status === 'failed' ? end.error : null,
        finished_at: at.toISOString(),
      };
      storage.write('finishReconciliation', () => saveReconciliation.immediate(id, owner, progress, at, '', ended));
    },
    leaveReconciliation: async (id, owner) =>
      void storage.write('leaveReconciliation', () => leaveReconciliation.run(id, owner)),
    async adoptReconciliation(owner, at, leaseMs) {
      const row = storage.write('adoptReconciliation', () =>
        adoptReconciliation.get(owner, new Date(at.getTime() + leaseMs).toISOString(), at.toISOString()),
      );
      return row && toReconciliation(row);
    },
    async findReconciliation(id) {
      const row = reconciliationById.get(id);
      return row && toReconciliation(row);
    },
    async latestReconciliation() {
      const row = latestReconciliation.get();
      return row && toReconciliation(row);
    },
    listReconciliations: async (after, limit) => reconciliationsAfter.all(after, limit).map(toReconciliation),
    async recordJourney(entries) {
      if (entries.length > 0)
        storage.write('recordJourney', () => insertJourneySteps.run(JSON.stringify(entries.map(journeyRow))));
    },
    journeyOf: async (customerId) => journeyStepsOf.all(customerId).map(toRecordedStep),
    pruneJourneys: async (before, limit) =>
      storage.write('pruneJourneys', () => pruneJourneySteps.run(before, limit).changes),
  };
}
