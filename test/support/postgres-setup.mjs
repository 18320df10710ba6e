// Jest's global setup: the PostgreSQL server every PostgreSQL test uses, named to the test
// workers by TEST_DATABASE_URL. When it is set already, that server is used as it is; otherwise
// a throwaway server is started for this run and stopped after it. A server that cannot be
// started is said on stderr and told to every PostgreSQL test (TEST_DATABASE_ERROR), which then
// fails: never skips.
import { startThrowawayPostgres } from './postgres-server.mjs';

export default async function setup() {
  if (process.env.TEST_DATABASE_URL) return;
  try {
    const server = await startThrowawayPostgres();
    globalThis.__welcomePostgres = server;
    process.env.TEST_DATABASE_URL = server.url;
  } catch (error) {
    const reason = String(error?.message ?? error);
    process.env.TEST_DATABASE_ERROR = reason;
    // Said at once, before the PostgreSQL tests fail one by one with it.
    process.stderr.write(`\n${reason}\nEvery PostgreSQL test of this run fails for it.\n`);
  }
}
