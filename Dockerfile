# syntax=docker/dockerfile:1
# One image per service, from the repository root: docker compose builds each with its SERVICE and
# PORT; by hand: docker build --build-arg SERVICE=crm --build-arg PORT=3001 -t crm .
# (inventory: 3002, middleware: 3003).
ARG SERVICE
ARG PORT

FROM node:20-bookworm-slim AS base
WORKDIR /app
# better-sqlite3 compiles itself when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY packages/common/package.json packages/common/
COPY crm/package.json crm/
COPY inventory/package.json inventory/
COPY middleware/package.json middleware/

FROM base AS build
# The dependencies first, the same for every service: one layer, built once for the three images.
RUN npm ci
ARG SERVICE
RUN test -n "$SERVICE" || (echo 'build with --build-arg SERVICE=crm, inventory or middleware' >&2 && exit 1)
COPY tsconfig.base.json tsconfig.json ./
COPY packages/common packages/common
COPY ${SERVICE} ${SERVICE}
RUN npm run build -w ${SERVICE}
# What the service reads at run time, in one place: its build, its migrations (SQLite and
# PostgreSQL), and its public files (the middleware's status page) where it has them.
RUN mkdir -p /runtime/${SERVICE} \
 && cp -r ${SERVICE}/package.json ${SERVICE}/dist ${SERVICE}/migrations /runtime/${SERVICE}/ \
 && if [ -d ${SERVICE}/public ]; then cp -r ${SERVICE}/public /runtime/${SERVICE}/; fi

FROM base AS production-deps
RUN npm ci --omit=dev

FROM node:20-bookworm-slim
ARG SERVICE
ARG PORT
ENV NODE_ENV=production SERVICE=${SERVICE} PORT=${PORT} DB_PATH=/data/${SERVICE}.db
WORKDIR /app
COPY --from=production-deps /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/packages/common/package.json packages/common/
COPY --from=build /app/packages/common/dist packages/common/dist
COPY --from=build /runtime/${SERVICE} ${SERVICE}
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The shell only names the file: exec replaces it with node, so SIGTERM reaches node itself, which
# shuts down cleanly (as npm start would not).
CMD ["/bin/sh", "-c", "exec node \"$SERVICE/dist/index.js\""]
