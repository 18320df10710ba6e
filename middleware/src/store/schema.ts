import { loadMigrations, type ServiceSchema } from '@welcome/common';

/**
 * The middleware's tables on either backend, one numbered SQL file a step
 * (middleware/migrations/sqlite and middleware/migrations/postgres), applied once each, in order,
 * when the service opens its database.
 *
 * Neither backend waits for the disk at each commit. Everything here is rebuilt by sending again
 * what the cursor has not passed, and the Inventory answers a resend 200. In WAL mode a SQLite
 * commit without its own sync survives the process being killed at any instant (it is in the
 * operating system's hands); only a crash of the machine itself can take back the last commits,
 * and then the cursor is earlier than it was, never later. So the middleware does not sync the
 * disk at every commit, which would hold its event loop for each; the CRM and the Inventory, whose
 * answers promise a stored row, do. On PostgreSQL, for the same reason, a crash of the server
 * itself can take back its last commits (the cursor is then earlier, never later; a claim lost
 * lets another replica ask once more); a crash of a replica takes back nothing it committed.
 */
export const middlewareSchema: ServiceSchema = {
  sqlite: {
    applicationId: 0x776d6964, // "wmid"
    ownTable: 'sync_state',
    migrations: loadMigrations(new URL('../../migrations/sqlite/', import.meta.url)),
    pragmas: { synchronous: 'NORMAL' },
  },
  postgres: {
    migrations: loadMigrations(new URL('../../migrations/postgres/', import.meta.url)),
    settings: { synchronous_commit: 'off' },
  },
};
