import { hostname } from 'node:os';
import type { Logger } from '@welcome/common';
import type { StatusStore } from '../store/status/status-store.js';

/** How often a replica tells the store it is alive: well within the minute /status looks back. */
export const HEARTBEAT_MS = 15_000;

/** This process as a replica: its claims and its heartbeat carry the id. */
export interface ReplicaIdentity {
  id: string;
  startedAt: string;
}

/** The id of this process among the replicas: the host (a container's own name) and the pid. */
export const processReplicaId = (): string => `${hostname()}-${process.pid}`;

/** What a heartbeat takes: where it is written, and who this replica is. */
export interface Heartbeating {
  status: Pick<StatusStore, 'heartbeat'>;
  logger: Logger;
  now: () => Date;
  replica: ReplicaIdentity;
}

/**
 * Writes this replica's heartbeat now and every `everyMs`, so that /status lists it on every
 * replica. A heartbeat that cannot be written is said once, and again once one gets through;
 * the next one simply tries again.
 */
export function startHeartbeat(deps: Heartbeating, everyMs = HEARTBEAT_MS): { stop(): Promise<void> } {
  let failing = false;
  let stopped = false;
  let beating: Promise<void> = Promise.resolve();
  const beat = async () => {
    try {
      await deps.status.heartbeat(deps.replica, deps.now());
      if (failing) deps.logger.info('The heartbeat of this replica is written again', { replica: deps.replica.id });
      failing = false;
    } catch (error) {
      if (!failing) {
        deps.logger.warn('The heartbeat of this replica could not be written; /status may leave it out until it can', {
          replica: deps.replica.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      failing = true;
    }
  };
  const tick = () => {
    if (!stopped) beating = beat();
  };
  tick();
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await beating;
    },
  };
}
