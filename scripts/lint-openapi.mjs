// make lint: the three OpenAPI documents as the built services serve them, with API_KEYS set (the
// documents carry their security scheme, 401s and all) and without (every route open), linted with Spectral
// (spectral:oas, .spectral.yaml) and Redocly (recommended-strict, redocly.yaml). Any error fails,
// and so does any warning: fix it, or turn the rule off in the ruleset with a line saying why.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const services = ['crm', 'inventory', 'middleware'];
const dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });

/** Starts the built service, reads its /openapi.json, stops it; returns the file written. */
async function served(name, keyed) {
  const port = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DB_PATH: join(dir, `${name}.db`),
    LOG_LEVEL: 'warn',
  };
  if (keyed) env.API_KEYS = 'openapi-lint-key-0123456789';
  else delete env.API_KEYS;
  if (name === 'middleware')
    Object.assign(env, { CRM_URL: 'http://127.0.0.1:9', INVENTORY_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'error' });
  const child = spawn(process.execPath, [join(root, name, 'dist/index.js')], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (let tries = 0; ; tries++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/openapi.json`);
        const file = join(dir, `${name}${keyed ? '' : '.open'}.openapi.json`);
        writeFileSync(file, JSON.stringify(await response.json(), null, 2));
        return file;
      } catch (error) {
        if (tries > 100) throw new Error(`${name} did not serve /openapi.json: ${error.message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
}

const run = (command, args) => {
  console.log(`$ ${command} ${args.map((arg) => arg.replace(dir, '$DOCS')).join(' ')}`);
  return spawnSync(join(root, 'node_modules/.bin', command), args, { cwd: root, stdio: 'inherit' }).status === 0;
};

let ok = false;
try {
  const files = [];
  for (const name of services) for (const keyed of [true, false]) files.push(await served(name, keyed));
  const spectral = run('spectral', [
    'lint',
    '--ruleset',
    join(root, '.spectral.yaml'),
    '--fail-severity',
    'warn',
    ...files,
  ]);
  const redocly = run('redocly', ['lint', '--config', join(root, 'redocly.yaml'), '--format', 'stylish', ...files]);
  ok = spectral && redocly;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(ok ? 'openapi lint: OK' : 'openapi lint: FAILED');
process.exit(ok ? 0 : 1);
