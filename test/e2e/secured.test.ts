import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { waitFor } from '../support/servers.js';
import { Platform, ServiceProcess } from './platform.js';

let platform: Platform | undefined;
const processes: ServiceProcess[] = [];
afterEach(async () => {
  await platform?.close();
  platform = undefined;
  await Promise.all(processes.splice(0).map((service) => service.kill()));
});

const secret = `whsec_${Buffer.alloc(24, 8).toString('base64')}`;
const keysOf = {
  crm: ['crm-old-key-0123456789', 'crm-new-key-0123456789'],
  inventory: ['inventory-key-0123456789'],
  middleware: ['middleware-key-0123456789'],
};

const withKey = (key: string) => ({ headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' } });
async function getWith<T>(url: string, key: string): Promise<T> {
  const response = await fetch(url, withKey(key));
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

describe('the built services with API keys', () => {
  test(
    'the middleware carries customers with its upstream keys; ' +
      'strangers get 401s; no key or secret is ever logged or shown',
    async () => {
      platform = new Platform({ webhookSecret: secret, pollIntervalMs: 200 });
      platform.crm.env.API_KEYS = keysOf.crm.join(',');
      platform.inventory.env.API_KEYS = keysOf.inventory.join(',');
      Object.assign(platform.middleware.env, {
        API_KEYS: keysOf.middleware.join(','),
        CRM_API_KEY: keysOf.crm[1]!,
        INVENTORY_API_KEY: keysOf.inventory[0]!,
      });
      await platform.start();
      const { crm, inventory, middleware } = platform;

      for (let i = 1; i <= 10; i++) {
        const response = await fetch(`${crm.url}/customers`, {
          method: 'POST',
          body: JSON.stringify({ name: `Keyed ${i}`, email: `keyed-${i}@example.com` }),
          ...withKey(keysOf.crm[0]!),
        });
        expect(response.status).toBe(201);
      }
      await waitFor(
        'ten packages',
        async () => (await getWith<unknown[]>(`${inventory.url}/packages`, keysOf.inventory[0]!)).length === 10,
      );
      await waitFor(
        'the cursor at 10',
        async () =>
          (await getWith<{ cursor: number }>(`${middleware.url}/status`, keysOf.middleware[0]!)).cursor === 10,
      );

      for (const url of [
        `${crm.url}/customers`,
        `${inventory.url}/packages`,
        `${middleware.url}/status`,
        `${middleware.url}/metrics`,
      ]) {
        const response = await fetch(url);
        expect([url, response.status, response.headers.get('www-authenticate')]).toEqual([
          url,
          401,
          expect.stringMatching(/^Bearer realm="/),
        ]);
      }
      expect(
        (
          await fetch(`${crm.url}/customers`, {
            method: 'POST',
            body: '{}',
            headers: { 'Content-Type': 'application/json' },
          })
        ).status,
      ).toBe(401);

      // Everything anyone can read: every log line of the three, and every answer of the middleware.
      const said = [
        ...[crm, inventory, middleware].flatMap((service) => [
          ...service.logs.map((line) => JSON.stringify(line)),
          ...service.stderr,
        ]),
        JSON.stringify(await getWith(`${middleware.url}/status`, keysOf.middleware[0]!)),
        JSON.stringify(await getWith(`${middleware.url}/dead-letters`, keysOf.middleware[0]!)),
        await (await fetch(`${middleware.url}/metrics`, withKey(keysOf.middleware[0]!))).text(),
        JSON.stringify(await getWith(`${crm.url}/webhook-endpoints`, keysOf.crm[0]!)),
      ].join('\n');
      for (const hidden of [...keysOf.crm, ...keysOf.inventory, ...keysOf.middleware, secret, secret.slice(6)])
        expect(said).not.toContain(hidden);
    },
    60_000,
  );

  test('a wrong INVENTORY_API_KEY is an outage that names the variable, never a dead letter', async () => {
    platform = new Platform({ pollIntervalMs: 200 });
    platform.inventory.env.API_KEYS = keysOf.inventory.join(',');
    platform.middleware.env.INVENTORY_API_KEY = 'not-the-inventory-key-0123';
    await platform.start();
    await fetch(`${platform.crm.url}/customers`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Alice', email: 'alice@example.com' }),
      headers: { 'Content-Type': 'application/json' },
    });
    const status = await waitFor('the outage', async () => {
      const body = (await (await fetch(`${platform!.middleware.url}/status`)).json()) as {
        outage: { upstream: string; lastError: string } | null;
        deadLetters: number;
        cursor: number;
      };
      return body.outage ? body : undefined;
    });
    expect(status).toMatchObject({
      outage: { upstream: 'Inventory', lastError: expect.stringMatching(/INVENTORY_API_KEY/) },
      deadLetters: 0,
      cursor: 0,
    });
  }, 30_000);

  test(
    'a service listening beyond loopback without API_KEYS warns once at start; ' +
      'with keys, or on loopback, it does not',
    async () => {
      const exposed = new ServiceProcess('inventory', { HOST: '0.0.0.0', DB_PATH: ':memory:' });
      const keyed = new ServiceProcess('inventory', {
        HOST: '0.0.0.0',
        DB_PATH: ':memory:',
        API_KEYS: keysOf.inventory[0]!,
      });
      const local = new ServiceProcess('inventory', { DB_PATH: ':memory:' });
      processes.push(exposed, keyed, local);
      await Promise.all([exposed.start(), keyed.start(), local.start()]);
      const warnings = (service: ServiceProcess) =>
        service.logs.filter((line) => line.level === 'warn').map((line) => line.message);
      // The warning follows the "Listening on" line that start() waits for, and may be read a moment after it.
      await waitFor('the warning', () => warnings(exposed).length > 0);
      expect(warnings(exposed)).toEqual([
        expect.stringMatching(/^Listening on 0\.0\.0\.0, beyond this machine, without API_KEYS/),
      ]);
      expect(warnings(keyed)).toEqual([]);
      expect(warnings(local)).toEqual([]);
    },
  );
});

describe('slow and silent clients', () => {
  test(
    'hundreds of them are cut off within seconds of the limits, ' +
      'a normal client is served meanwhile, and a held long poll is not cut',
    async () => {
      const crm = new ServiceProcess('crm', { DB_PATH: ':memory:', LOG_LEVEL: 'warn' });
      processes.push(crm);
      await crm.start();
      const started = Date.now();
      const closedAt: number[] = [];
      const open = (trickle: boolean): Socket => {
        const socket = connect(crm.port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('data', () => {});
        socket.on('close', () => closedAt.push(Date.now() - started));
        if (trickle) {
          socket.once('connect', () => socket.write('GET /customers HTTP/1.1\r\nHost: crm\r\n'));
          const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 1000);
          socket.once('close', () => clearInterval(timer));
        }
        return socket;
      };
      const sockets = [
        ...Array.from({ length: 200 }, () => open(true)),
        ...Array.from({ length: 100 }, () => open(false)),
      ];
      const longPoll = fetch(`${crm.url}/customers?wait=20`).then((response) => ({
        status: response.status,
        after: Date.now() - started,
      }));

      await new Promise((resolve) => setTimeout(resolve, 2000));
      const served = Date.now();
      const created = await fetch(`${crm.url}/customers`, {
        method: 'POST',
        body: JSON.stringify({ name: 'Patient', email: 'patient@example.com' }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(created.status).toBe(201);
      expect((await fetch(`${crm.url}/customers/1`)).status).toBe(200);
      // Served as soon as asked, not after the slow sockets are gone (that takes ten seconds).
      expect(Date.now() - served).toBeLessThan(3000);

      await waitFor('every slow and silent socket closed', () => closedAt.length === sockets.length, 20_000);
      // Headers must be complete within 10 s (Node checks every second here, not every 30 s, which
      // would leave them up to 40 s).
      expect(Math.max(...closedAt)).toBeLessThan(16_000);
      expect(Math.min(...closedAt)).toBeGreaterThanOrEqual(9_000);

      // The long poll found the customer at once (it was held before it came); one held on an
      // empty tail outlives the 15 s of silence that closes an idle connection.
      expect((await longPoll).status).toBe(200);
      const held = Date.now();
      const quiet = await fetch(`${crm.url}/customers?after=1&wait=20`);
      expect(quiet.status).toBe(200);
      expect(await quiet.json()).toEqual([]);
      expect(Date.now() - held).toBeGreaterThanOrEqual(19_000);
    },
    60_000,
  );
});
