import { createHash } from 'node:crypto';
import { groupCommit, migrate, type Db, type Schema, type StorageGuard } from '@welcome/common';
import type { UpstreamName } from '../clients/upstream.js';

export interface Outage {
  upstream: UpstreamName;
  since: string;
  lastError: string;
}

export interface SyncStatus {
  /** The id of the last customer handled (delivered or dead-lettered); 0 before the first. */
  cursor: number;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  /** Packages this middleware created. */
  synced: number;
  /** Customers whose package the Inventory already had (a resend after a crash, say). */
  alreadyThere: number;
  failedCycles: number;
  /** The error of the last failed cycle; cleared by a successful one. */
  lastError: string | null;
  /** Set while cycles fail: which upstream, since when, and its latest error. */
  outage: Outage | null;
  deadLetters: number;
  /** The highest customer id the CRM has shown. */
  crmHighestId: number;
  /** How far the cursor is behind it, in ids. */
  lag: number;
  /** The latest packages confirmed, newest first. */
  recentDeliveries: Delivery[];
  /** Packages confirmed (made or already there) by the path that carried the customer. */
  deliveriesByPath: Record<DeliveryPath, number>;
  /** When the last signed CRM webhook arrived; null before the first. */
  lastWebhookAt: string | null;
}

/** How a customer reached the middleware: a CRM webhook, a long poll, or a plain poll. */
export type DeliveryPath = 'webhook' | 'longPoll' | 'poll';

/** What the middleware already knows of a customer, so that nobody asks the Inventory twice. */
export type KnownCustomer =
  | { state: 'behindCursor' }
  | { state: 'confirmed'; packageId: number; outcome: Delivered }
  | { state: 'deadLettered'; deadLetterId: number };

export interface Delivery {
  customerId: number;
  customerName: string;
  packageId: number;
  outcome: Delivered;
  at: string;
}

export interface DeadLetter {
  id: number;
  /** Null for a CRM record without a usable id. */
  customerId: number | null;
  /** The customer as the CRM sent it. */
  customer: unknown;
  /** The Inventory's status code, or null when the CRM record itself was unusable. */
  status: number | null;
  /** The Inventory's answer, or what was wrong with the record. */
  reason: unknown;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
}

export interface NewDeadLetter {
  customerId: number | null;
  customer: unknown;
  status: number | null;
  reason: unknown;
}

export type Delivered = 'created' | 'alreadyThere';

export interface SyncStore {
  cursor(): number;
  status(): SyncStatus;
  markPollStarted(at: Date): void;
  /** Returns the outage this success ended, if one was going on. */
  markCycleSucceeded(at: Date): Outage | undefined;
  /** Returns true when this failure starts an outage (the previous cycle succeeded). */
  markCycleFailed(upstream: UpstreamName, error: string, at: Date): boolean;
  /**
   * Group commit: the confirmations asked for together (within CONFIRM_SPACING_MS under load) are
   * written in one transaction, each promise settling once it is committed. The
   * cursor moves over the run of confirmed customers right after it.
   */
  confirm(delivery: Omit<Delivery, 'at'>, at: Date, path: DeliveryPath): Promise<void>;
  /** Moves the cursor past a customer handled before (by a webhook, say): never backwards. */
  advanceCursor(customerId: number): void;
  /** Whether the customer is behind the cursor, confirmed or dead-lettered; undefined when none of these. */
  known(customerId: number): KnownCustomer | undefined;
  /**
   * A signed CRM webhook arrived, about this customer (whose id the CRM has thus shown). Noted
   * within CONFIRM_SPACING_MS, the webhooks of that time in one write.
   */
  markWebhookReceived(at: Date, customerId?: number): void;
  /** The highest customer id a walk of the CRM has shown; it only grows. */
  recordCrmHighest(id: number): void;
  /**
   * Keeps a record that cannot be delivered, with the reason, and (unless `moveCursor` is false)
   * moves the cursor past its customer in the same commit. The same customer or the same unidentified record again adds
   * an attempt to its letter instead of a second letter.
   */
  recordDeadLetter(letter: NewDeadLetter, at: Date, options?: { moveCursor?: boolean }): DeadLetter;
  findDeadLetter(id: number): DeadLetter | undefined;
  listDeadLetters(after: number, limit: number): DeadLetter[];
  /** A replay delivered it: it leaves the list and counts as delivered. */
  resolveDeadLetter(id: number, delivery: Omit<Delivery, 'at'>, at: Date): void;
}

/** How many of the latest deliveries are kept for /status and the status page. */
export const RECENT_DELIVERIES = 20;

/**
 * The least time between two commits of confirmations. Each commit holds the event loop while
 * SQLite writes it; under load the confirmations of this long share one, and a lone one after a
 * quiet spell is still committed at once.
 */
const CONFIRM_SPACING_MS = 10;

interface StateRow {
  cursor: number;
  last_poll_at: string | null;
  last_success_at: string | null;
  synced: number;
  already_there: number;
  failed_cycles: number;
  last_error: string | null;
  outage_upstream: UpstreamName | null;
  outage_since: string | null;
  crm_highest_id: number;
  via_webhook: number;
  via_long_poll: number;
  via_poll: number;
  last_webhook_at: string | null;
}

interface DeliveryRow {
  customer_id: number;
  customer_name: string;
  package_id: number;
  outcome: Delivered;
  at: string;
}

interface DeadLetterRow {
  id: number;
  customer_id: number | null;
  customer: string;
  status: number | null;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
}

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  customerId: row.customer_id,
  customer: JSON.parse(row.customer) as unknown,
  status: row.status,
  reason: JSON.parse(row.reason) as unknown,
  attempts: row.attempts,
  firstFailedAt: row.first_failed_at,
  lastFailedAt: row.last_failed_at,
});

const toOutage = (row: StateRow): Outage | null =>
  row.outage_upstream && row.outage_since
    ? { upstream: row.outage_upstream, since: row.outage_since, lastError: row.last_error ?? '' }
    : null;

/** What makes two letters the same: the customer id, or for a record without one, its content. */
function letterKey(letter: NewDeadLetter): string {
  if (letter.customerId !== null) return `customer:${letter.customerId}`;
  return `record:${createHash('sha256').update(JSON.stringify(letter.customer) ?? 'undefined').digest('hex')}`;
}

/** The middleware's database; each step is applied once, in order, and recorded in the file. */
export const middlewareSchema: Schema = {
  applicationId: 0x776d6964, // "wmid"
  ownTable: 'sync_state',
  migrations: [
    `CREATE TABLE IF NOT EXISTS sync_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      cursor INTEGER NOT NULL DEFAULT 0,
      last_poll_at TEXT,
      last_success_at TEXT,
      synced INTEGER NOT NULL DEFAULT 0,
      already_there INTEGER NOT NULL DEFAULT 0,
      failed_cycles INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      outage_upstream TEXT,
      outage_since TEXT,
      crm_highest_id INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT OR IGNORE INTO sync_state (id) VALUES (1);
    CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      letter_key TEXT NOT NULL UNIQUE,
      customer_id INTEGER UNIQUE,
      customer TEXT NOT NULL,
      status INTEGER,
      reason TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 1,
      first_failed_at TEXT NOT NULL,
      last_failed_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS deliveries (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      customer_id INTEGER NOT NULL,
      customer_name TEXT NOT NULL,
      package_id INTEGER NOT NULL,
      outcome TEXT NOT NULL,
      at TEXT NOT NULL
    ) STRICT;`,
    // Push: customers confirmed ahead of the cursor (by a webhook), forgotten once the cursor
    // passes them; and what each path carried.
    `CREATE TABLE confirmed (
      customer_id INTEGER PRIMARY KEY,
      package_id INTEGER NOT NULL,
      outcome TEXT NOT NULL
    ) STRICT;
    ALTER TABLE sync_state ADD COLUMN via_webhook INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_long_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN last_webhook_at TEXT;`,
  ],
};

export function createSyncStore(db: Db, storage: StorageGuard): SyncStore {
  migrate(db, middlewareSchema);
  // Everything here is rebuilt by sending again what the cursor has not passed, and the Inventory
  // answers a resend 200. In WAL mode a commit without its own sync survives the process being
  // killed at any instant (it is in the operating system's hands); only a crash of the machine
  // itself can take back the last commits, and then the cursor is earlier than it was, never
  // later. So the middleware does not sync the disk at every commit, which would hold its event
  // loop for each; the CRM and the Inventory, whose answers promise a stored row, do.
  db.pragma('synchronous = NORMAL');

  const state = db.prepare<[], StateRow>('SELECT * FROM sync_state WHERE id = 1');
  const cursorNow = db.prepare<[], number>('SELECT cursor FROM sync_state WHERE id = 1').pluck();
  const deadLetterCount = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
  const pollStarted = db.prepare<[string]>('UPDATE sync_state SET last_poll_at = ? WHERE id = 1');
  const cycleSucceeded = db.prepare<[string]>(
    'UPDATE sync_state SET last_success_at = ?, last_error = NULL, outage_upstream = NULL, outage_since = NULL WHERE id = 1',
  );
  const cycleFailed = db.prepare<[string, string, string]>(`
    UPDATE sync_state SET failed_cycles = failed_cycles + 1, last_error = ?, outage_upstream = ?,
      outage_since = COALESCE(outage_since, ?)
    WHERE id = 1
  `);
  // MAX(): the cursor never moves back, whatever order replays and cycles finish in.
  const advance = db.prepare<[number]>('UPDATE sync_state SET cursor = MAX(cursor, ?) WHERE id = 1');
  const forgetBehindCursor = db.prepare('DELETE FROM confirmed WHERE customer_id <= (SELECT cursor FROM sync_state WHERE id = 1)');
  const confirm = db.prepare<[number, number, string]>('INSERT OR REPLACE INTO confirmed (customer_id, package_id, outcome) VALUES (?, ?, ?)');
  const confirmedOf = db.prepare<[number], { package_id: number; outcome: Delivered }>('SELECT package_id, outcome FROM confirmed WHERE customer_id = ?');
  const deadLetterOf = db.prepare<[number], { id: number }>('SELECT id FROM dead_letters WHERE customer_id = ?');
  // What is known of one customer, in one read: asked for each customer before it is delivered.
  const knowledgeOf = db.prepare<
    [{ customerId: number }],
    { cursor: number; package_id: number | null; outcome: Delivered | null; dead_letter_id: number | null }
  >(`
    SELECT s.cursor, c.package_id, c.outcome, d.id AS dead_letter_id
    FROM sync_state s
    LEFT JOIN confirmed c ON c.customer_id = @customerId
    LEFT JOIN dead_letters d ON d.customer_id = @customerId
    WHERE s.id = 1
  `);
  const webhookReceived = db.prepare<[string, number]>(
    'UPDATE sync_state SET last_webhook_at = ?, crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1',
  );
  /** Moves the cursor and forgets the confirmations it has passed. */
  const moveCursor = (customerId: number) => {
    advance.run(customerId);
    forgetBehindCursor.run();
  };
  /**
   * Moves the cursor over the run of customers right after it that are already handled
   * (confirmed or dead-lettered ahead of it, by webhooks): everything up to the cursor stays
   * handled, whatever the order the outcomes came in.
   */
  const catchUp = () => {
    const start = cursorNow.get()!;
    let cursor = start;
    while (confirmedOf.get(cursor + 1) ?? deadLetterOf.get(cursor + 1)) cursor += 1;
    if (cursor > start) moveCursor(cursor);
  };
  const countCreated = db.prepare('UPDATE sync_state SET synced = synced + 1 WHERE id = 1');
  const countAlreadyThere = db.prepare('UPDATE sync_state SET already_there = already_there + 1 WHERE id = 1');
  const upsertDeadLetter = db.prepare<[string, number | null, string, number | null, string, string, string], DeadLetterRow>(`
    INSERT INTO dead_letters (letter_key, customer_id, customer, status, reason, first_failed_at, last_failed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (letter_key) DO UPDATE SET
      customer = excluded.customer, status = excluded.status, reason = excluded.reason,
      attempts = attempts + 1, last_failed_at = excluded.last_failed_at
    RETURNING *
  `);
  const deadLetterById = db.prepare<[number], DeadLetterRow>('SELECT * FROM dead_letters WHERE id = ?');
  const deadLettersAfter = db.prepare<[number, number], DeadLetterRow>('SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?');
  const deleteDeadLetter = db.prepare<[number]>('DELETE FROM dead_letters WHERE id = ?');

  const crmHighest = db.prepare<[number]>('UPDATE sync_state SET crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1');
  const insertDelivery = db.prepare<[number, string, number, string, string]>(
    'INSERT INTO deliveries (customer_id, customer_name, package_id, outcome, at) VALUES (?, ?, ?, ?, ?)',
  );
  const pruneDeliveries = db.prepare<[number]>('DELETE FROM deliveries WHERE id <= (SELECT MAX(id) FROM deliveries) - ?');
  const recentDeliveries = db.prepare<[number], DeliveryRow>('SELECT * FROM deliveries ORDER BY id DESC LIMIT ?');

  /** Counts a confirmed package and keeps it among the recent ones. */
  const count = (delivery: Omit<Delivery, 'at'>, at: string) => {
    (delivery.outcome === 'created' ? countCreated : countAlreadyThere).run();
    insertDelivery.run(delivery.customerId, delivery.customerName, delivery.packageId, delivery.outcome, at);
    pruneDeliveries.run(RECENT_DELIVERIES);
  };

  type Confirmation = { delivery: Omit<Delivery, 'at'>; at: string; path: DeliveryPath };
  const addCounts = db.prepare<[number, number, number, number, number]>(`
    UPDATE sync_state SET synced = synced + ?, already_there = already_there + ?,
      via_webhook = via_webhook + ?, via_long_poll = via_long_poll + ?, via_poll = via_poll + ?
    WHERE id = 1
  `);
  const confirmAll = db.transaction((batch: Confirmation[]) => {
    const created = batch.filter(({ delivery }) => delivery.outcome === 'created').length;
    const byPath = (path: DeliveryPath) => batch.filter((confirmation) => confirmation.path === path).length;
    addCounts.run(created, batch.length - created, byPath('webhook'), byPath('longPoll'), byPath('poll'));
    for (const { delivery } of batch) confirm.run(delivery.customerId, delivery.packageId, delivery.outcome);
    for (const { delivery, at } of batch.slice(-RECENT_DELIVERIES)) {
      insertDelivery.run(delivery.customerId, delivery.customerName, delivery.packageId, delivery.outcome, at);
    }
    pruneDeliveries.run(RECENT_DELIVERIES);
    catchUp();
  });
  // Webhooks noted together share one write: the latest time and the highest id. A write that
  // fails is logged by the storage guard; the next webhook notes it again.
  const noteWebhooks = groupCommit<{ at: string; customerId: number }>(
    (batch) =>
      void storage.write('markWebhookReceived', () =>
        webhookReceived.run(batch.at(-1)!.at, Math.max(...batch.map((webhook) => webhook.customerId))),
      ),
    { spacingMs: CONFIRM_SPACING_MS },
  );
  const confirmTogether = groupCommit<Confirmation>((batch) => storage.write('confirm', () => confirmAll.immediate(batch)), {
    spacingMs: CONFIRM_SPACING_MS,
  });

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
    if (letter.customerId !== null) {
      if (passCursor) moveCursor(letter.customerId);
      else catchUp();
    }
    return toDeadLetter(row);
  });
  const resolveDeadLetter = db.transaction((id: number, delivery: Omit<Delivery, 'at'>, at: string) => {
    deleteDeadLetter.run(id);
    count(delivery, at);
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

  return {
    cursor: () => cursorNow.get()!,
    status() {
      const row = state.get()!;
      return {
        cursor: row.cursor,
        lastPollAt: row.last_poll_at,
        lastSuccessAt: row.last_success_at,
        synced: row.synced,
        alreadyThere: row.already_there,
        failedCycles: row.failed_cycles,
        lastError: row.last_error,
        outage: toOutage(row),
        deadLetters: deadLetterCount.get()!.n,
        crmHighestId: row.crm_highest_id,
        lag: Math.max(0, row.crm_highest_id - row.cursor),
        deliveriesByPath: { webhook: row.via_webhook, longPoll: row.via_long_poll, poll: row.via_poll },
        lastWebhookAt: row.last_webhook_at,
        recentDeliveries: recentDeliveries.all(RECENT_DELIVERIES).map((d) => ({
          customerId: d.customer_id,
          customerName: d.customer_name,
          packageId: d.package_id,
          outcome: d.outcome,
          at: d.at,
        })),
      };
    },
    markPollStarted: (at) => void storage.write('markPollStarted', () => pollStarted.run(at.toISOString())),
    markCycleSucceeded: (at) => storage.write('markCycleSucceeded', () => markCycleSucceeded.immediate(at.toISOString())),
    markCycleFailed: (upstream, error, at) => storage.write('markCycleFailed', () => markCycleFailed.immediate(upstream, error, at.toISOString())),
    confirm: (delivery, at, path) => confirmTogether({ delivery, at: at.toISOString(), path }),
    advanceCursor: (customerId) => storage.write('advanceCursor', () => db.transaction(moveCursor).immediate(customerId)),
    known(customerId) {
      const { cursor, package_id, outcome, dead_letter_id } = knowledgeOf.get({ customerId })!;
      if (customerId <= cursor) return { state: 'behindCursor' };
      if (package_id !== null && outcome !== null) return { state: 'confirmed', packageId: package_id, outcome };
      return dead_letter_id !== null ? { state: 'deadLettered', deadLetterId: dead_letter_id } : undefined;
    },
    markWebhookReceived: (at, customerId = 0) => void noteWebhooks({ at: at.toISOString(), customerId }).catch(() => undefined),
    recordCrmHighest: (id) => void storage.write('recordCrmHighest', () => crmHighest.run(id)),
    recordDeadLetter: (letter, at, options = {}) =>
      storage.write('recordDeadLetter', () => recordDeadLetter.immediate(letter, at.toISOString(), options.moveCursor ?? true)),
    findDeadLetter(id) {
      const row = deadLetterById.get(id);
      return row && toDeadLetter(row);
    },
    listDeadLetters: (after, limit) => deadLettersAfter.all(after, limit).map(toDeadLetter),
    resolveDeadLetter: (id, delivery, at) => storage.write('resolveDeadLetter', () => resolveDeadLetter.immediate(id, delivery, at.toISOString())),
  };
}
