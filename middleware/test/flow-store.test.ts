import { describe, expect, test } from '@jest/globals';
import { middlewareSchema } from '../src/store/schema.js';
import { createMiddlewareStores } from '../src/store/stores.js';
import type { FlowStore } from '../src/store/flow/flow-store.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';
import { waitFor } from '../../test/support/servers.js';

const databases = testDatabases('middleware', middlewareSchema);
const flowOn = async (backend: Backend, schema?: string): Promise<FlowStore> =>
  createMiddlewareStores(await databases.open(backend, schema ? { schema } : {})).flow;

describe.each(BACKENDS)('the flow-control store on %s', (backend) => {
  test('starts delivering: not paused, not throttled, the breaker closed; a turn goes at once', async () => {
    const flow = await flowOn(backend);
    expect(await flow.read()).toEqual({
      paused: null,
      throttle: null,
      breaker: { state: 'closed', since: null, reason: null, nextProbeAt: null },
    });
    expect(await flow.takeTurn(undefined)).toEqual({ verdict: 'go', waitMs: 0, probeMs: null });
    expect(await flow.check()).toBeUndefined();
  });

  test('hands out the slots of a rate limit one interval apart', async () => {
    const flow = await flowOn(backend);
    const turns = [];
    for (let n = 0; n < 5; n++) turns.push(await flow.takeTurn(10));
    const waits = turns.map((turn) => (turn.verdict === 'go' ? turn.waitMs : Number.NaN));
    // 100 ms apart, less the time the turns themselves took.
    for (let n = 1; n < waits.length; n++) expect(waits[n]! - waits[n - 1]!).toBeGreaterThan(50);
    expect(waits[4]).toBeGreaterThan(300);
    expect(waits[4]).toBeLessThanOrEqual(400);
  });

  test('a Retry-After holds every turn until it ends; a shorter one later does not shorten it', async () => {
    const flow = await flowOn(backend);
    await flow.throttle(429, 400);
    await flow.throttle(503, 100);
    const held = await flow.takeTurn(10);
    expect(held).toMatchObject({ verdict: 'held', reason: 'throttled' });
    expect(held.verdict === 'held' && held.untilMs).toBeGreaterThan(250);
    expect((await flow.read()).throttle).toMatchObject({ status: 429, until: expect.any(String) });
    await waitFor('the Retry-After to end', async () => (await flow.takeTurn(undefined)).verdict === 'go');
    expect((await flow.read()).throttle).toBeNull();
  });

  test('a pause holds every turn, with who, why and until when; resumed (or at its end) it does not', async () => {
    const flow = await flowOn(backend);
    await flow.pause({ by: 'key-0a1b2c3d', reason: 'maintenance', until: null });
    expect(await flow.takeTurn(undefined)).toEqual({ verdict: 'held', reason: 'paused', untilMs: null });
    expect((await flow.read()).paused).toEqual({
      by: 'key-0a1b2c3d',
      reason: 'maintenance',
      since: expect.any(String),
      until: null,
    });
    await flow.resume();
    expect(await flow.takeTurn(undefined)).toMatchObject({ verdict: 'go' });
    await flow.pause({ by: null, reason: null, until: new Date(Date.now() + 200).toISOString() });
    expect(await flow.check()).toMatchObject({ reason: 'paused' });
    await waitFor('the pause to end', async () => (await flow.check()) === undefined);
    expect((await flow.read()).paused).toBeNull();
  });

  test('an open breaker holds every turn until its probe is due; then one turn probes, the rest are held', async () => {
    const flow = await flowOn(backend);
    await flow.openBreaker('Inventory unavailable: answered 500', 200);
    expect((await flow.read()).breaker).toMatchObject({ state: 'open', reason: 'Inventory unavailable: answered 500' });
    expect(await flow.takeTurn(undefined)).toMatchObject({ verdict: 'held', reason: 'breakerOpen' });
    await waitFor('the probe to be due', async () => (await flow.check())?.untilMs === 0, 2000);
    const turns = await Promise.all([flow.takeTurn(undefined), flow.takeTurn(undefined), flow.takeTurn(undefined)]);
    expect(turns.filter((turn) => turn.verdict === 'go')).toEqual([{ verdict: 'go', waitMs: 0, probeMs: 200 }]);
    expect((await flow.read()).breaker.state).toBe('halfOpen');
    // A failed probe opens it again, since when it first opened kept; a good answer closes it.
    const since = (await flow.read()).breaker.since;
    await flow.openBreaker('Inventory unavailable: answered 502', 400);
    expect((await flow.read()).breaker).toMatchObject({
      state: 'open',
      since,
      reason: 'Inventory unavailable: answered 502',
    });
    await flow.closeBreaker();
    expect((await flow.read()).breaker).toEqual({ state: 'closed', since: null, reason: null, nextProbeAt: null });
  });
});

describe('the flow-control store on PostgreSQL, shared by replicas', () => {
  test('two replicas share one rate limit and one breaker probe', async () => {
    const schema = databases.newSchema();
    const [one, two] = [await flowOn('postgres', schema), await flowOn('postgres', schema)];
    // When each would be sent: its wait from the moment its answer came.
    const planned = await Promise.all(
      Array.from({ length: 6 }, async (_, n) => {
        const turn = await (n % 2 ? one : two).takeTurn(10);
        return performance.now() + (turn.verdict === 'go' ? turn.waitMs : Number.NaN);
      }),
    );
    planned.sort((a, b) => a - b);
    for (let n = 1; n < planned.length; n++) expect(planned[n]! - planned[n - 1]!).toBeGreaterThan(50);
    await one.pause({ by: null, reason: 'both', until: null });
    expect(await two.takeTurn(10)).toMatchObject({ verdict: 'held', reason: 'paused' });
    await two.resume();
    await one.openBreaker('down', 300);
    await waitFor('the probe to be due', async () => (await two.check())?.untilMs === 0, 2000);
    const probes = await Promise.all([one.takeTurn(undefined), two.takeTurn(undefined)]);
    expect(probes.filter((turn) => turn.verdict === 'go')).toHaveLength(1);
  });
});
