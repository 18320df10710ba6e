import { register } from 'node:module';
import { markTracing } from './tracing.js';

/**
 * OpenTelemetry traces, configured only by the standard OTEL_* variables. Nothing of the SDK is
 * loaded, and no module is hooked, unless they ask for traces: with no OTLP endpoint (and no other
 * exporter named), a service runs exactly as it did without it.
 *
 * This module is the first a service's index.js imports, before anything the instrumentations
 * patch (node:http, koa, pg): it must import none of those itself.
 */

let shutdown: () => Promise<void> = async () => undefined;

type Env = Record<string, string | undefined>;

/** Whether the environment asks for traces to be exported somewhere. */
export function tracesWanted(env: Env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (exporters.includes('none')) return false;
  if (exporters.some((name) => name !== 'otlp')) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/** Health checks and scrapes would be most of the spans, and say nothing. */
const UNTRACED_PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * Starts the OpenTelemetry Node SDK for `service` (its service.name unless OTEL_SERVICE_NAME says
 * otherwise) when the environment asks for traces, with the instrumentations of what the services
 * use: node:http (the servers and got's requests, W3C traceparent in and out), Koa and pg. The
 * ES module hook is registered for the modules those instrumentations patch, before any of them
 * is imported. Metrics and logs stay where they are (/metrics, stdout) unless OTEL_* asks.
 */
export async function startTelemetry(service: string, env: Env = process.env): Promise<void> {
  if (!tracesWanted(env)) return;
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const { createAddHookMessageChannel } = await import('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, registerOptions);

  const [{ NodeSDK }, { HttpInstrumentation }, { KoaInstrumentation, KoaLayerType }, { PgInstrumentation }] =
    await Promise.all([
      import('@opentelemetry/sdk-node'),
      import('@opentelemetry/instrumentation-http'),
      import('@opentelemetry/instrumentation-koa'),
      import('@opentelemetry/instrumentation-pg'),
    ]);
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: service }),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.has((request.url ?? '').split('?')[0]!),
      }),
      // The route, not each of the dozen middleware every request passes through.
      new KoaInstrumentation({ ignoreLayersType: [KoaLayerType.MIDDLEWARE] }),
      new PgInstrumentation(),
    ],
  });
  sdk.start();
  await waitForAllMessagesAcknowledged();
  markTracing(true);
  shutdown = async () => {
    markTracing(false);
    await sdk.shutdown();
  };
}

/** Sends the spans not exported yet and stops the SDK; nothing when traces are off. */
export const stopTelemetry = (): Promise<void> => shutdown();
