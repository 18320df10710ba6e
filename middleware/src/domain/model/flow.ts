import { z } from 'zod';
import { timestamp } from './common.js';

/** Why no ask of the Inventory may go now. */
export const holdReasons = ['paused', 'throttled', 'breakerOpen'] as const;
export type HoldReason = (typeof holdReasons)[number];

/** A pause an operator asked for: by whom (the API key's name), why, since when, and until when. */
export const pauseSchema = z
  .object({
    by: z.string().nullable().meta({ description: 'The name of the API key that paused, or null without keys.' }),
    reason: z.string().nullable(),
    since: timestamp,
    until: timestamp.nullable().meta({ description: 'When delivery resumes by itself; null until resumed.' }),
  })
  .meta({ description: 'While paused, no request reaches the Inventory; customers wait, the cursor holds.' });
export type Pause = z.infer<typeof pauseSchema>;

/** The Inventory's last Retry-After, while it runs. */
export const throttleSchema = z
  .object({ status: z.int().meta({ description: '429 or 503.' }), until: timestamp })
  .meta({ description: 'The Inventory asked to be left alone until `until`: no request is sent to it before.' });
export type Throttle = z.infer<typeof throttleSchema>;

/** The circuit breaker in front of the Inventory. */
export const breakerSchema = z
  .object({
    state: z.enum(['closed', 'open', 'halfOpen']),
    since: timestamp.nullable().meta({ description: 'When it opened; null while closed.' }),
    reason: z.string().nullable().meta({ description: 'The failure that opened it; null while closed.' }),
    nextProbeAt: timestamp.nullable().meta({ description: 'When one ask is let through to try again.' }),
  })
  .meta({
    description:
      'Opens after a run of failures without Retry-After (5xx, timeouts, refused connections); ' +
      'while open, one probe at a time decides when to close. No customer is dead-lettered meanwhile.',
  });
export type Breaker = z.infer<typeof breakerSchema>;

/** Flow control toward the Inventory, as every replica sees it. */
export interface FlowState {
  paused: Pause | null;
  throttle: Throttle | null;
  breaker: Breaker;
}

/**
 * Whether this ask may go: now or after `waitMs` (the rate limit's slot); as the open breaker's
 * probe (then `probeMs` is the breaker's probe interval) or not; or why not, and for how long.
 */
export type Turn =
  | { verdict: 'go'; waitMs: number; probeMs: number | null }
  | { verdict: 'held'; reason: HoldReason; untilMs: number | null };
