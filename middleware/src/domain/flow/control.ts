import { AppError, type Logger } from '@welcome/common';
import type { FlowStore } from '../../store/flow/flow-store.js';
import type { FlowState } from '../model/flow.js';

/** What pausing and resuming take: where the pause is kept (shared by every replica), a log and a clock. */
export interface DeliveryControl {
  flow: Pick<FlowStore, 'pause' | 'resume' | 'read'>;
  logger: Logger;
  now: () => Date;
}

/** What POST /delivery/pause asks for. */
export interface PauseRequest {
  reason?: string | undefined;
  /** When delivery resumes by itself; never, unless resumed, when not given. */
  until?: string | undefined;
}

/**
 * Pauses delivery to the Inventory, on every replica, until resumed (or until `until`): no request
 * reaches it meanwhile; webhooks are still taken, and the customers wait with the cursor. A pause
 * asked for again replaces the one before.
 */
export async function pauseDelivery(
  control: DeliveryControl,
  request: PauseRequest,
  by: string | null,
): Promise<FlowState> {
  const until = request.until === undefined ? null : new Date(request.until);
  if (until !== null && until.getTime() <= control.now().getTime()) {
    throw new AppError(400, 'validation-failed', 'The request is not valid: until: must be in the future', {
      errors: [{ field: 'until', message: 'must be in the future' }],
    });
  }
  const reason = request.reason ?? null;
  await control.flow.pause({ by, reason, until: until?.toISOString() ?? null });
  control.logger.warn(
    `Delivery to the Inventory paused${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}` +
      (until ? `, until ${until.toISOString()}` : ', until resumed'),
    { by, reason, until: until?.toISOString() ?? null },
  );
  return control.flow.read();
}

/** Resumes delivery on every replica: the customers that waited are delivered by the next poll. */
export async function resumeDelivery(control: DeliveryControl, by: string | null): Promise<FlowState> {
  const before = await control.flow.read();
  await control.flow.resume();
  if (before.paused !== null)
    control.logger.info(`Delivery to the Inventory resumed${by ? ` by ${by}` : ''}`, {
      by,
      pausedBy: before.paused.by,
    });
  return control.flow.read();
}
