// make lint (npm run lint:cycles): no import circles in the services' and the packages' source.
// A circle of type-only imports counts too: it costs a reader the same untangling, and a later
// value import along it would make it a circle at run time.
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other, directly or not, read as one: move what they share to a third.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // Read by TypeScript's own parser before compilation, so `import type` and `import('…')` types
    // are edges of the graph, as they are to a reader; compiled JavaScript would have lost them.
    tsPreCompilationDeps: true,
    // Code outside our sources cannot close a circle in them: npm packages import none of ours, and
    // packages/common, cruised from its source rather than its build, imports none of the services.
    exclude: { path: '(^|/)(node_modules|dist)/' },
  },
};
