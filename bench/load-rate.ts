import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../test/e2e/platform.js';

/**
 * POSTs `count` customers or packages from `clients` concurrent clients in a process of their own
 * (bench/load.mjs): the rate.
 */
export async function loadRate(
  url: string,
  count: number,
  kind: 'customers' | 'packages',
  tag: string,
  clients = 32,
): Promise<number> {
  const script = join(ROOT, 'bench/load.mjs');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [script, url, String(count), String(clients), kind, tag],
    {
      maxBuffer: 1024 * 1024,
    },
  );
  return (JSON.parse(stdout) as { perSecond: number }).perSecond;
}
