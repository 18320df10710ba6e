/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  moduleNameMapper: {
    '^@welcome/common$': '<rootDir>/packages/common/src/index.ts',
    '^@welcome/common/(errors|logger|config|agents|telemetry|tracing|retry-after)$':
      '<rootDir>/packages/common/src/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }],
  },
  testTimeout: 30_000,
  // The PostgreSQL server of the run: TEST_DATABASE_URL's, or a throwaway one (test/support/postgres-server.mjs).
  globalSetup: '<rootDir>/test/support/postgres-setup.mjs',
  globalTeardown: '<rootDir>/test/support/postgres-teardown.mjs',
};
