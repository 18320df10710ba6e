import type { Db } from '@welcome/common';

/**
 * Makes every commit that adds a row to `table` fail at COMMIT, after the statement itself went
 * through: a deferred foreign key that no row satisfies is checked only then. This is what a
 * commit refused by the disk looks like to the code above it.
 */
export function failCommitsOn(db: Db, table: string): { heal(): void } {
  db.exec(
    `
    CREATE TABLE IF NOT EXISTS test_nothing (id INTEGER PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS test_commit_breaker ` +
      `(ref INTEGER REFERENCES test_nothing (id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TRIGGER test_break_commit_${table} AFTER INSERT ON ${table} ` +
      `BEGIN INSERT INTO test_commit_breaker VALUES (1); END;
  `,
  );
  return { heal: () => db.exec(`DROP TRIGGER test_break_commit_${table}`) };
}

/**
 * Lets the database file grow no more, as a full disk does: any write that needs a new page fails
 * with SQLITE_FULL, and every row added to `table` comes with a page of its own, so that the next
 * such write is sure to need one. `free()` gives the room back.
 */
export function fillDisk(db: Db, table: string): { free(): void } {
  db.exec(
    `
    CREATE TABLE IF NOT EXISTS test_ballast (data BLOB);
    CREATE TRIGGER test_ballast_${table} AFTER INSERT ON ${table} ` +
      `BEGIN INSERT INTO test_ballast VALUES (zeroblob(8192)); END;
  `,
  );
  const limit = db.pragma('max_page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  return {
    free() {
      db.pragma(`max_page_count = ${limit}`);
      db.exec(`DROP TRIGGER test_ballast_${table}`);
    },
  };
}
