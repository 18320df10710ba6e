import type { Db } from '@welcome/common';

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
  lastError: string | null;
  deadLetters: number;
}

export interface DeadLetter {
  customerId: number;
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

export interface SyncStore {
  cursor(): number;
  status(): SyncStatus;
  markPollStarted(at: Date): void;
  markCycleSucceeded(at: Date): void;
  markCycleFailed(error: string): void;
  /** The customer's package is confirmed: count it and move the cursor past it, in one commit. */
  recordDelivered(customerId: number, outcome: 'created' | 'alreadyThere'): void;
  /** The customer cannot be delivered: keep it with the reason and move the cursor past it, in one commit. */
  recordDeadLetter(letter: { customerId: number; customer: unknown; status: number | null; reason: unknown }, at: Date): void;
  findDeadLetter(customerId: number): DeadLetter | undefined;
  listDeadLetters(after: number, limit: number): DeadLetter[];
  /** A replay delivered it: it leaves the list and counts as delivered. */
  resolveDeadLetter(customerId: number, outcome: 'created' | 'alreadyThere'): void;
}

interface StateRow {
  cursor: number;
  last_poll_at: string | null;
  last_success_at: string | null;
  synced: number;
  already_there: number;
  failed_cycles: number;
  last_error: string | null;
}

interface DeadLetterRow {
  customer_id: number;
  customer: string;
  status: number | null;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
}

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  customerId: row.customer_id,
  customer: JSON.parse(row.customer) as unknown,
  status: row.status,
  reason: JSON.parse(row.reason) as unknown,
  attempts: row.attempts,
  firstFailedAt: row.first_failed_at,
  lastFailedAt: row.last_failed_at,
});

export function createSyncStore(db: Db): SyncStore {
  db.exec(`
    CREATE TABLE IF NOT EXISTS sync_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      cursor INTEGER NOT NULL DEFAULT 0,
      last_poll_at TEXT,
      last_success_at TEXT,
      synced INTEGER NOT NULL DEFAULT 0,
      already_there INTEGER NOT NULL DEFAULT 0,
      failed_cycles INTEGER NOT NULL DEFAULT 0,
      last_error TEXT
    ) STRICT;
    INSERT OR IGNORE INTO sync_state (id) VALUES (1);
    CREATE TABLE IF NOT EXISTS dead_letters (
      customer_id INTEGER PRIMARY KEY,
      customer TEXT NOT NULL,
      status INTEGER,
      reason TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 1,
      first_failed_at TEXT NOT NULL,
      last_failed_at TEXT NOT NULL
    ) STRICT;
  `);

  const state = db.prepare<[], StateRow>('SELECT * FROM sync_state WHERE id = 1');
  const deadLetterCount = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
  const pollStarted = db.prepare<[string]>('UPDATE sync_state SET last_poll_at = ? WHERE id = 1');
  const cycleSucceeded = db.prepare<[string]>('UPDATE sync_state SET last_success_at = ?, last_error = NULL WHERE id = 1');
  const cycleFailed = db.prepare<[string]>(
    'UPDATE sync_state SET failed_cycles = failed_cycles + 1, last_error = ? WHERE id = 1',
  );
  // MAX(): the cursor never moves back, whatever order replays and cycles finish in.
  const advance = db.prepare<[number]>('UPDATE sync_state SET cursor = MAX(cursor, ?) WHERE id = 1');
  const countCreated = db.prepare('UPDATE sync_state SET synced = synced + 1 WHERE id = 1');
  const countAlreadyThere = db.prepare('UPDATE sync_state SET already_there = already_there + 1 WHERE id = 1');
  const upsertDeadLetter = db.prepare<[number, string, number | null, string, string, string]>(`
    INSERT INTO dead_letters (customer_id, customer, status, reason, first_failed_at, last_failed_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (customer_id) DO UPDATE SET
      customer = excluded.customer, status = excluded.status, reason = excluded.reason,
      attempts = attempts + 1, last_failed_at = excluded.last_failed_at
  `);
  const deadLetterById = db.prepare<[number], DeadLetterRow>('SELECT * FROM dead_letters WHERE customer_id = ?');
  const deadLettersAfter = db.prepare<[number, number], DeadLetterRow>(
    'SELECT * FROM dead_letters WHERE customer_id > ? ORDER BY customer_id LIMIT ?',
  );
  const deleteDeadLetter = db.prepare<[number]>('DELETE FROM dead_letters WHERE customer_id = ?');

  const count = (outcome: 'created' | 'alreadyThere') =>
    (outcome === 'created' ? countCreated : countAlreadyThere).run();

  const recordDelivered = db.transaction((customerId: number, outcome: 'created' | 'alreadyThere') => {
    count(outcome);
    advance.run(customerId);
  });
  const recordDeadLetter = db.transaction(
    (letter: { customerId: number; customer: unknown; status: number | null; reason: unknown }, at: string) => {
      upsertDeadLetter.run(
        letter.customerId,
        JSON.stringify(letter.customer) ?? 'null',
        letter.status,
        JSON.stringify(letter.reason) ?? 'null',
        at,
        at,
      );
      advance.run(letter.customerId);
    },
  );
  const resolveDeadLetter = db.transaction((customerId: number, outcome: 'created' | 'alreadyThere') => {
    deleteDeadLetter.run(customerId);
    count(outcome);
  });

  return {
    cursor: () => state.get()!.cursor,
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
        deadLetters: deadLetterCount.get()!.n,
      };
    },
    markPollStarted: (at) => void pollStarted.run(at.toISOString()),
    markCycleSucceeded: (at) => void cycleSucceeded.run(at.toISOString()),
    markCycleFailed: (error) => void cycleFailed.run(error),
    recordDelivered: (customerId, outcome) => recordDelivered.immediate(customerId, outcome),
    recordDeadLetter: (letter, at) => recordDeadLetter.immediate(letter, at.toISOString()),
    findDeadLetter(customerId) {
      const row = deadLetterById.get(customerId);
      return row && toDeadLetter(row);
    },
    listDeadLetters: (after, limit) => deadLettersAfter.all(after, limit).map(toDeadLetter),
    resolveDeadLetter: (customerId, outcome) => resolveDeadLetter.immediate(customerId, outcome),
  };
}
