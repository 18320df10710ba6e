import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
} from '@opentelemetry/api';

/**
 * Spans and W3C trace context for the services' own code, through @opentelemetry/api alone (the
 * SDK is telemetry.ts's): every helper here does nothing, or next to nothing, while traces are off.
 * The Lambda handler may load this file; it loads no SDK.
 */

let tracing = false;

/** Whether this process records traces: spans are made only then. */
export const isTracing = (): boolean => tracing;

/** Set by telemetry.ts once the SDK runs, and again when it stops. */
export function markTracing(on: boolean): void {
  tracing = on;
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The W3C traceparent of the span active now, when traces are on and one is. */
export function currentTraceparent(): string | undefined {
  if (!tracing) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** A W3C traceparent as received (from a record, an event), checked: undefined when it is not one. */
export function readTraceparent(value: unknown): string | undefined {
  return typeof value === 'string' && TRACEPARENT.test(value) ? value : undefined;
}

/** The context a traceparent names, to start a span in (its child) or link to. */
export function contextOf(traceparent: string | undefined): Context | undefined {
  if (traceparent === undefined) return undefined;
  const extracted = propagation.extract(ROOT_CONTEXT, { traceparent });
  return trace.getSpanContext(extracted) ? extracted : undefined;
}

/** A link to the span a traceparent names. */
export function linkTo(traceparent: string | undefined): Link[] {
  const spanContext = trace.getSpanContext(contextOf(traceparent) ?? ROOT_CONTEXT);
  return spanContext ? [{ context: spanContext }] : [];
}

/** The trace id of the span active now, when one records. */
export function currentTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span.spanContext().traceId : undefined;
}

/** Notes an event on the span active now (a retry, a dead letter), when one records. */
export function spanEvent(name: string, attributes: Record<string, string | number | boolean | undefined>): void {
  const span: Span | undefined = tracing ? trace.getActiveSpan() : undefined;
  if (!span) return;
  const defined = Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)) as Record<
    string,
    string | number | boolean
  >;
  span.addEvent(name, defined);
}

/**
 * Runs `work` in a span of its own (a child of `parent`, or of the span active now), ended when
 * it settles, its status an error when it throws; with traces off, runs `work` alone.
 */
export async function inSpan<T>(
  name: string,
  options: { kind: SpanKind; parent?: Context | undefined; links?: Link[]; attributes?: Attributes },
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracing) return work(undefined);
  const tracer = trace.getTracer('welcome-integration');
  const spanOptions = {
    kind: options.kind,
    ...(options.links ? { links: options.links } : {}),
    ...(options.attributes ? { attributes: options.attributes } : {}),
  };
  return tracer.startActiveSpan(name, spanOptions, options.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A link to the span active now (the request or the poll that brought a record), when one records. */
export function linkToActive(): Link[] {
  const span = tracing ? trace.getActiveSpan() : undefined;
  return span?.isRecording() ? [{ context: span.spanContext() }] : [];
}
