import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { createSilentLogger } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { loadConfig as loadCrmConfig } from '../crm/src/config.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { loadConfig as loadInventoryConfig } from '../inventory/src/config.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { loadConfig as loadMiddlewareConfig } from '../middleware/src/config.js';
import { statusPageFiles } from '../middleware/src/http/status-page.js';
import { middlewareSchema } from '../middleware/src/store/schema.js';
import { wireMiddleware } from '../middleware/src/wiring.js';
import { sqliteAt } from './support/databases.js';
import { buildStages } from './support/dockerfile.js';
import {
  contextProblems,
  holdingProblems,
  runHealthcheck,
  runtimeProblems,
  stageProblems,
  startProblems,
  type ImageService,
} from './support/image-checks.js';
import { buildContext } from './support/image-origin.js';
import { serveApp, type RunningServer } from './support/servers.js';
import { closedPort } from './support/switchable-path.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const context = buildContext(ROOT);
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<Name, { build: { args: Record<string, string> } }>;
};

const loaders = { crm: loadCrmConfig, inventory: loadInventoryConfig, middleware: loadMiddlewareConfig };
type Name = keyof typeof loaders;
const names = Object.keys(loaders) as Name[];
const service = (name: Name): ImageService => ({
  name,
  port: loaders[name]({}, false).port,
  databasePath(env) {
    const database = loaders[name](env, false).database;
    return database.kind === 'sqlite' ? database.path : undefined;
  },
  // The status page's files, where the middleware reads them.
  extraFiles:
    name === 'middleware' ? Object.values(statusPageFiles).map((file) => relative(ROOT, fileURLToPath(file))) : [],
});

/** The Dockerfile `text` built for `name` with the build arguments docker-compose.yml gives it. */
const stagesOf = (text: string, name: Name) => buildStages(text, compose.services[name].build.args);

/** Every problem the checks find in `text` built for `name`, healthcheck aside. */
function problemsOf(text: string, name: Name): string[] {
  const stages = stagesOf(text, name);
  return [
    ...stageProblems(stages),
    ...contextProblems(stages, context),
    ...holdingProblems(stages, service(name), ROOT, context),
    ...startProblems(stages, service(name), ROOT),
    ...runtimeProblems(stages, service(name)),
  ];
}

/** The three services, ready: the middleware's upstreams are the other two. */
let running: Record<Name, RunningServer>;
beforeAll(async () => {
  const crm = await serveApp(createCrm({ database: sqliteAt(crmSchema), logger: createSilentLogger() }));
  const inventory = await serveApp(
    createInventory({ database: sqliteAt(inventorySchema), logger: createSilentLogger() }),
  );
  const middlewareApp = createMiddleware(
    wireMiddleware({
      database: sqliteAt(middlewareSchema),
      logger: createSilentLogger(),
      crmUrl: crm.url,
      inventoryUrl: inventory.url,
      timeoutMs: 2000,
      retryDelayMs: 0,
    }),
  );
  running = { crm, inventory, middleware: await serveApp(middlewareApp) };
});
afterAll(async () => {
  await Promise.all(Object.values(running ?? {}).map((server) => server.close()));
});

describe.each(names)('the Dockerfile built for %s', (name) => {
  const stages = stagesOf(DOCKERFILE, name);

  test('is multi-stage: each stage it copies from is an earlier one, and the runtime starts from a clean image', () => {
    expect(stageProblems(stages)).toEqual([]);
  });

  test('copies from the build context only files it has', () => {
    expect(contextProblems(stages, context)).toEqual([]);
  });

  test(
    'holds the files the service runs from, each the context’s own or the output of its workspace build, ' +
      'and production dependencies only',
    () => {
      expect(holdingProblems(stages, service(name), ROOT, context)).toEqual([]);
    },
  );

  test('starts node itself on the service’s main file, so that SIGTERM reaches node', () => {
    expect(startProblems(stages, service(name), ROOT)).toEqual([]);
  });

  test('runs as node, exposes its port, and keeps its database in a volume node owns', () => {
    expect(runtimeProblems(stages, service(name))).toEqual([]);
  });

  test('its HEALTHCHECK passes while the service is ready, and fails when nothing answers', async () => {
    expect(await runHealthcheck(stages, running[name].port)).toBe(0);
    expect(await runHealthcheck(stages, await closedPort())).toBe(1);
  });
});

/** The same image written otherwise: other stage order, flags and quoting, JSON forms, continuations. */
const REWRITTEN = `# syntax=docker/dockerfile:1
ARG SERVICE
ARG PORT
FROM node:20-bookworm-slim AS base
WORKDIR /app
RUN apt-get update && apt-get install --no-install-recommends -y python3 make g++ \\
 && rm -rf /var/lib/apt/lists/*
COPY ["package.json", "package-lock.json", "./"]
COPY packages/common/package.json packages/common/
COPY crm/package.json crm/
COPY inventory/package.json inventory/
COPY middleware/package.json middleware/

FROM base AS deps
RUN npm ci --omit dev

FROM base AS build
RUN npm ci
ARG SERVICE
COPY tsconfig.base.json tsconfig.json ./
COPY packages/common packages/common
COPY $SERVICE ./$SERVICE
RUN npm run build --workspace="$SERVICE" \\
 && mkdir -p "/runtime/$SERVICE" \\
 && cp -R "$SERVICE/package.json" "$SERVICE/dist" "$SERVICE/migrations" "/runtime/$SERVICE/" \\
 && if [ -d "$SERVICE/public" ]; then cp -R "$SERVICE/public" "/runtime/$SERVICE/"; fi

FROM node:20-bookworm-slim AS runtime
ARG PORT
ARG SERVICE
WORKDIR /app
ENV NODE_ENV=production \\
    SERVICE=$SERVICE \\
    PORT=$PORT \\
    DB_PATH="/data/$SERVICE.db"
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json /app/package.json
COPY --from=build /app/packages/common/package.json ./packages/common/package.json
COPY --from=build /app/packages/common/dist ./packages/common/dist
COPY --from=build /runtime/$SERVICE ./$SERVICE
RUN mkdir -p /data \\
 && chown -R node /data
VOLUME /data
USER node
EXPOSE $PORT/tcp
HEALTHCHECK --retries=3 --timeout=3s --interval=10s \\
  CMD ["node", "-e", "fetch(\`http://127.0.0.1:\${process.env.PORT}/ready\`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["sh", "-c", "exec node $SERVICE/dist/index.js"]
`;

/** The rewrite with `from` (which must be in it) replaced by `to`: an image broken on purpose. */
function broken(from: string, to: string): string {
  expect(REWRITTEN).toContain(from);
  return REWRITTEN.replace(from, to);
}

describe('the checks read what the Dockerfile does, not how it is written', () => {
  test.each(names)('a rewrite of the same image passes them all, built for %s', async (name) => {
    expect(problemsOf(REWRITTEN, name)).toEqual([]);
    expect(await runHealthcheck(stagesOf(REWRITTEN, name), running[name].port)).toBe(0);
  });

  test.each([
    [
      'the wrong folder copied',
      ['COPY --from=build /runtime/$SERVICE ./$SERVICE', 'COPY --from=build /app/$SERVICE/src ./$SERVICE'],
      "crm/dist/index.js would be the stage build's crm/src/dist/index.js",
    ],
    [
      'a missing stage',
      ['FROM base AS deps\nRUN npm ci --omit dev\n', ''],
      'COPY --from=deps: no earlier stage is named deps',
    ],
    [
      'npm start in shell form',
      ['CMD ["sh", "-c", "exec node $SERVICE/dist/index.js"]', 'CMD npm start -w $SERVICE'],
      'CMD is not in exec form (npm start -w $SERVICE): a shell would get SIGTERM',
    ],
    [
      'npm start in exec form',
      ['exec node $SERVICE/dist/index.js', 'exec npm start -w $SERVICE'],
      'CMD runs npm start -w crm, not node crm/dist/index.js',
    ],
    [
      'the runtime stage not declaring its SERVICE',
      ['ARG PORT\nARG SERVICE\nWORKDIR /app', 'ARG PORT\nWORKDIR /app'],
      'CMD starts /dist/index.js, not crm/dist/index.js',
    ],
    [
      'the build stage’s node_modules',
      ['COPY --from=deps /app/node_modules', 'COPY --from=build /app/node_modules'],
      'node_modules is not made by npm ci --omit=dev alone: dev dependencies would be in the image',
    ],
    ['no USER', ['USER node\n', ''], 'runs as root, not node'],
    [
      'a file .dockerignore leaves out',
      ['COPY tsconfig.base.json', 'COPY crm/dist/index.js tsconfig.base.json'],
      'COPY crm/dist/index.js: not in the build context',
    ],
    ['the database outside the volume', ['VOLUME /data', 'VOLUME /var/lib/data'], 'the database /data/crm.db'],
  ] as const)('%s fails them', (_, [from, to], problem) => {
    expect(problemsOf(broken(from, to), 'crm')).toContainEqual(expect.stringContaining(problem));
  });

  test('a HEALTHCHECK on another route fails while the service is ready', async () => {
    const stages = stagesOf(broken('/ready`', '/readyz`'), 'crm');
    expect(await runHealthcheck(stages, running.crm.port)).toBe(1);
  });
});
