import { test } from '@jest/globals';
import { deliverBacklog, runLoad } from './measure.js';
import { OtlpReceiver } from '../test/support/otlp-receiver.js';
import { Platform } from '../test/e2e/platform.js';

// make bench: what traces cost. The CRM's and the Inventory's write rates (32 clients) and a
// backlog's delivery, with traces off (no OTLP endpoint, as shipped) and on (every span exported
// to a receiver in this process), alternated so that both meet the same machine.
// BENCH_SCALE=small shrinks the counts.
const small = process.env.BENCH_SCALE === 'small';
const WRITES = small ? 1000 : 4000;
const BACKLOG = small ? 1000 : 4000;
const ROUNDS = 2;
const CLIENTS = 32;

const load = async (url: string, count: number, kind: 'customers' | 'packages', tag: string) =>
  (await runLoad(url, count, kind, tag, { clients: CLIENTS })).perSecond;

/** One round: the write rates, then a backlog the middleware finds waiting. */
async function round(
  tracing: OtlpReceiver | undefined,
  tag: string,
): Promise<{ crm: number; inventory: number; backlog: number }> {
  const platform = new Platform({ pollIntervalMs: 5000, logLevel: 'warn' });
  if (tracing)
    for (const service of [platform.crm, platform.inventory, platform.middleware])
      Object.assign(service.env, tracing.env);
  await platform.start({ middleware: false });
  try {
    const crm = await load(`${platform.crm.url}/customers`, WRITES, 'customers', `${tag}w`);
    const inventory = await load(`${platform.inventory.url}/packages`, WRITES, 'packages', `${tag}w`);
    const { rate } = await deliverBacklog(platform, WRITES, 600_000);
    return { crm, inventory, backlog: rate };
  } finally {
    await platform.close();
  }
}

test('what traces cost', async () => {
  const receiver = await new OtlpReceiver().listen();
  const runs: Record<'off' | 'on', Array<{ crm: number; inventory: number; backlog: number }>> = { off: [], on: [] };
  try {
    for (let n = 0; n < ROUNDS; n++) {
      runs.off.push(await round(undefined, `off${n}`));
      runs.on.push(await round(receiver, `on${n}`));
    }
  } finally {
    await receiver.close();
  }
  const mean = (mode: 'off' | 'on', key: 'crm' | 'inventory' | 'backlog') =>
    runs[mode].reduce((sum, run) => sum + run[key], 0) / ROUNDS;
  const rows = (['crm', 'inventory', 'backlog'] as const).map((key) => {
    const label = {
      crm: `CRM POST /customers, ${CLIENTS} clients`,
      inventory: `Inventory POST /packages, ${CLIENTS} clients`,
      backlog: `Backlog of ${BACKLOG}`,
    }[key];
    const [off, on] = [mean('off', key), mean('on', key)];
    return (
      `  ${label.padEnd(38)}  off ${off.toFixed(0).padStart(5)}/s   on ${on.toFixed(0).padStart(5)}/s ` +
      `(${(on / off).toFixed(2)} of off)`
    );
  });
  const spans = receiver.spans.length;
  process.stdout.write(
    `\nbench, traces (${new Date().toISOString()}, mean of ${ROUNDS} alternated rounds, ${spans} spans received):\n` +
      `${rows.join('\n')}\n`,
  );
}, 1_800_000);
