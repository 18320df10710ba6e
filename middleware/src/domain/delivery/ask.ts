import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '@welcome/common';
import { contextOf, currentTraceId, inSpan, linkToActive, spanEvent } from '@welcome/common/tracing';
import type { CrmCustomer, RecordTrace } from '../../clients/crm-client.js';
import type { Attempt, InventoryClient, PackageOutcome } from '../../clients/inventory-client.js';
import type { InventoryGate } from '../flow/gate.js';
import type { FoundVia, JourneyStep } from '../model/journey.js';

/** A customer fit to deliver, as a CRM page or event brings it. */
export type Deliverable = { id: number; customer: CrmCustomer; trace?: RecordTrace | undefined };

/** Notes a customer's steps; never throws, never waits (see createJournal). */
export interface Journal {
  /** Notes a step of one customer's journey, with the trace it happened in. */
  record(customerId: number, step: JourneyStep, traceId?: string): void;
  /** Resolves once every step recorded so far is written (tests, shutdown). */
  flush(): Promise<void>;
}

/**
 * What asking the Inventory takes: the client, a log, a clock, and in a middleware process the
 * journal and the gate every ask goes through (flow control).
 */
export interface AskParts {
  inventory: Pick<InventoryClient, 'requestPackage'>;
  logger: Logger;
  now: () => Date;
  journal?: Journal | undefined;
  gate?: InventoryGate | undefined;
}

const until = (now: Date, ms: number) => new Date(now.getTime() + ms).toISOString();

/**
 * Runs the delivery of one customer in a span of its trace: a child of the context the CRM created
 * it in (the record tells it), so that the customer's spans in the three services share one trace
 * whichever path brought it, linked to the span of that path (the webhook request, the poll).
 */
export function inCustomerSpan<T>(
  customer: { id: number; trace?: RecordTrace | undefined },
  via: FoundVia,
  work: () => Promise<T>,
): Promise<T> {
  const options = {
    kind: SpanKind.CONSUMER,
    parent: contextOf(customer.trace?.traceparent),
    links: linkToActive(),
    attributes: {
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'customer.created',
      'welcome.customer.id': customer.id,
      'welcome.via': via,
    },
  };
  return inSpan('process customer.created', options, work);
}

/** The journal's pen for one customer in the trace of the moment: each step stamped with the time it happened. */
export function journeyOf(parts: AskParts, customerId: number) {
  const traceId = currentTraceId();
  return (step: JourneyStep) => parts.journal?.record(customerId, step, traceId);
}

/**
 * Asks the Inventory for one customer's package, noting in its journey how it was found (and, the
 * first time a record says, when the CRM created it) and each HTTP attempt. A refusal is an event
 * of the customer's span. Throws UpstreamUnavailableError when the Inventory gives no answer.
 */
export async function askInventory(
  parts: AskParts,
  customer: CrmCustomer,
  via: FoundVia,
  trace?: RecordTrace,
): Promise<PackageOutcome> {
  const note = journeyOf(parts, customer.id);
  const at = () => parts.now().toISOString();
  // A replay's customer was made long ago: its journey says so already.
  if (trace?.createdAt && via !== 'replay') note({ kind: 'created', at: trace.createdAt });
  note({ kind: 'found', at: at(), via });
  const onAttempt =
    parts.journal &&
    (({ retryAfterMs, ...attempt }: Attempt) => {
      const throttledUntil = retryAfterMs === undefined ? {} : { throttledUntil: until(parts.now(), retryAfterMs) };
      note({ kind: 'asked', at: at(), ...attempt, ...throttledUntil });
    });
  const request = { customerId: customer.id, customerName: customer.name };
  const outcome = await (parts.gate
    ? parts.gate.ask((hooks) => parts.inventory.requestPackage(request, { onAttempt, ...hooks }))
    : parts.inventory.requestPackage(request, { onAttempt }));
  if (outcome.kind === 'refused') {
    spanEvent(parts.journal ? 'dead-lettered' : 'refused', {
      'http.response.status_code': outcome.status,
      'welcome.customer.id': customer.id,
    });
  }
  return outcome;
}

/** Says in the log that a customer's package is confirmed, made now or there already. */
export function logConfirmed(
  logger: Logger,
  customer: CrmCustomer,
  via: FoundVia,
  outcome: Extract<PackageOutcome, { packageId: number }>,
): void {
  logger.info(
    outcome.kind === 'created'
      ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
      : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
    { customerId: customer.id, customerName: customer.name, via, packageId: outcome.packageId, outcome: outcome.kind },
  );
}
