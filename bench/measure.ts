import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../test/support/servers.js';
import { getJson, ROOT, type Platform } from '../test/e2e/platform.js';

// What the benchmarks measure with: the load generator (bench/load.mjs), the CPU from /proc, and a backlog's delivery.

/** What bench/load.mjs tells of one load. */
export interface Load {
  perSecond: number;
  /** Unix ms of the first request and of the last answer. */
  firstAt: number;
  lastAt: number;
  /** The CPU the load generator's own process spent on the load. */
  cpuMs: number;
  /** With `acks`: each customer's id and the Unix ms of its 201. */
  acks?: Array<[number, number]>;
}

/** POSTs `count` customers or packages from `clients` concurrent clients in a process of their own. */
export async function runLoad(
  url: string,
  count: number,
  kind: 'customers' | 'packages',
  tag: string,
  options: { clients?: number; acks?: boolean } = {},
): Promise<Load> {
  const args = [join(ROOT, 'bench/load.mjs'), url, String(count), String(options.clients ?? 32), kind, tag];
  const { stdout } = await promisify(execFile)(process.execPath, options.acks ? [...args, 'acks'] : args, {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Load;
}

/** CPU seconds a process has used so far (user + system), from /proc. */
export function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Seconds of all cores so far, busy and idle (idle counts I/O wait too), from /proc/stat. */
export function machineSeconds(): { busy: number; idle: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: (user! + nice! + system! + irq! + softirq! + steal!) / 100, idle: (idle! + iowait!) / 100 };
}

/**
 * Starts the middleware on a CRM that already holds its customers, and times the backlog from the
 * moment it listens (its first cycle starts then) to its cursor passing the last customer: the
 * delivery, not Node's start-up.
 */
export async function deliverBacklog(
  platform: Platform,
  count: number,
  timeoutMs = 1_800_000,
): Promise<{ seconds: number; rate: number }> {
  await platform.middleware.start();
  const started = performance.now();
  await waitFor(
    'the backlog',
    async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= count,
    timeoutMs,
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, rate: count / seconds };
}
