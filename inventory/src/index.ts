// Traces first: when OTEL_* asks for them, the modules the instrumentations patch must be loaded after the SDK starts.
import { startTelemetry } from '@welcome/common/telemetry';

await startTelemetry('inventory');
await import('./main.js');
