// The middleware's answers as the status page's script reads them. A declaration file, global like
// the script: it keeps the types apart from the code and adds no file for the middleware to serve.

/** A problem+json answer, as far as the page shows it. */
interface Problem {
  title?: string;
  detail?: string;
}

// The answers' shapes, as the middleware declares them (its zod schemas): the build checks the page against them.
type Status = import('../src/domain/model/status.js').Status;
type DeadLetter = import('../src/domain/model/dead-letter.js').DeadLetter;
type Journey = import('../src/domain/model/journey.js').JourneyView;
type Step = import('../src/domain/model/journey.js').RecordedStep;
type Reconciliation = import('../src/domain/model/reconciliation.js').ReconciliationView;

/** POST /dead-letters/replay's report, POST /dead-letters/{id}/replay's result, or the problem of either. */
interface ReplayAnswer extends Problem {
  results?: unknown[];
  delivered?: number;
  stillRefused?: number;
  notTried?: number;
  customerId?: number | null;
  outcome?: 'created' | 'alreadyThere' | 'stillRefused';
  packageId?: number;
}

type OutcomeStep = Extract<Step, { kind: 'outcome' }>;
