import { expect, test } from '@jest/globals';
import { runChaos, summaryLine } from './chaos.js';
import { postgresSummaryLine, runPostgresChaos } from './chaos-postgres.js';

// `make test` runs a short schedule on a fresh seed; `make chaos` a long one on three seeds.
// CHAOS_SEED replays a schedule exactly.
const rounds = Number(process.env.CHAOS_ROUNDS ?? 8);
const seeds = process.env.CHAOS_SEED
  ? process.env.CHAOS_SEED.split(',').map(Number)
  : Array.from({ length: Number(process.env.CHAOS_RUNS ?? 1) }, () => Math.floor(Math.random() * 1_000_000));

test.each(seeds)(
  'under crashes, outages and dropped answers, no acknowledged customer is lost or doubled (seed %i)',
  async (seed) => {
    process.stdout.write(`chaos: seed ${seed}, ${rounds} rounds (replay with CHAOS_SEED=${seed})\n`);
    const summary = await runChaos({ seed, rounds, log: (line) => process.stdout.write(`chaos: ${line}\n`) });
    process.stdout.write(`${summaryLine(summary)}\n`);
    expect(summary).toMatchObject({
      lost: 0,
      duplicated: 0,
      misnamed: 0,
      phantom: 0,
      deadLetters: 0,
      cursor: summary.highestId,
    });
    expect(summary.faults).toBe(rounds);
    expect(summary.acknowledged).toBeGreaterThan(0);
  },
  30_000 + rounds * 6_000,
);

test.each(seeds)(
  'on PostgreSQL with replicas of every service, under SIGKILLs and a database restart, ' +
    'no acknowledged customer is lost or doubled (seed %i)',
  async (seed) => {
    process.stdout.write(`chaos (PostgreSQL): seed ${seed}, ${rounds} rounds (replay with CHAOS_SEED=${seed})\n`);
    const summary = await runPostgresChaos({
      seed,
      rounds,
      log: (line) => process.stdout.write(`chaos (PostgreSQL): ${line}\n`),
    });
    process.stdout.write(`${postgresSummaryLine(summary)}\n`);
    expect(summary).toMatchObject({
      lost: 0,
      duplicated: 0,
      misnamed: 0,
      phantom: 0,
      idsReused: 0,
      deadLetters: 0,
      outageFaults: [],
      cursor: summary.highestId,
    });
    expect(summary.faults).toBe(rounds);
    expect(summary.databaseRestarts).toBeGreaterThan(0);
    expect(summary.acknowledged).toBeGreaterThan(0);
    expect(summary.replicasSeen).toBeGreaterThanOrEqual(3);
  },
  60_000 + rounds * 10_000,
);
