# Thin wrappers over the npm scripts; every target installs what it needs first.
.PHONY: install build run lambda test chaos fuzz audit bench lint format up up-postgres down clean

INSTALLED := node_modules/.installed
MANIFESTS := package.json package-lock.json packages/common/package.json crm/package.json inventory/package.json middleware/package.json

$(INSTALLED): $(MANIFESTS)
	npm ci
	@touch $@

install: $(INSTALLED)

build: $(INSTALLED)
	npm run build

# The development webhook secret that make run and docker-compose.yml share: replace it anywhere but your machine.
DEV_WEBHOOK_SECRET := whsec_d2VsY29tZS1pbnRlZ3JhdGlvbi1kZXYh

## make run: the three services as local processes on 3001/3002/3003, the CRM pushing each new customer to
## the middleware by webhook (up to 100 due customers a request); Ctrl-C stops them all. API_KEYS=k turns keys on for all three (the middleware
## sends the first as CRM_API_KEY and INVENTORY_API_KEY unless those are set).
run: build
	LOG_FORMAT=$${LOG_FORMAT:-pretty} \
	WEBHOOK_URL=$${WEBHOOK_URL:-http://localhost:3003/webhooks/crm} \
	WEBHOOK_SECRET=$${WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	WEBHOOK_BATCH_SIZE=$${WEBHOOK_BATCH_SIZE:-100} \
	CRM_WEBHOOK_SECRET=$${CRM_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	CRM_API_KEY=$${CRM_API_KEY:-$${API_KEYS%%,*}} \
	INVENTORY_API_KEY=$${INVENTORY_API_KEY:-$${API_KEYS%%,*}} \
	npm start

## make lambda: the Lambda handler bundled for template.yaml (middleware/dist-lambda/lambda.mjs).
lambda: build
	npm run build:lambda

## make test: builds first, because the end-to-end tests start the built services.
test: build
	npm test -- $(JEST_ARGS)

## make chaos: the fault-injection suite, long schedules on three fresh seeds (CHAOS_SEED=a,b,c replays).
chaos: build
	CHAOS_ROUNDS=$${CHAOS_ROUNDS:-30} CHAOS_RUNS=$${CHAOS_RUNS:-3} npm test -- test/chaos

## make fuzz: the property-based fuzzing of the built services at length, on a fresh seed (FUZZ_SEED=n replays one).
fuzz: build
	FUZZ_RUNS=$${FUZZ_RUNS:-3000} FUZZ_SEED=$${FUZZ_SEED:-random} npm test -- test/fuzz

## make audit: the runtime dependencies against npm's advisory database; fails on a high or critical one
## (and says so, when the advisory endpoint cannot be reached, rather than passing).
audit: $(INSTALLED)
	bash scripts/audit.sh

## make bench: delivery speed and storage sizes of the built services (BENCH_CUSTOMERS, BENCH_POLL_INTERVAL_MS, BENCH_WAL_CUSTOMERS).
bench: build
	npm test -- --testMatch '<rootDir>/bench/**/*.bench.ts'

## make lint: type-checks everything, ESLint (with the layers of each service and the size of files and functions), no import circles (dependency-cruiser) and Prettier's check on the code, and the OpenAPI documents.
lint: build
	npm run lint

## make format: Prettier writes the code in its form (make lint checks it).
format: $(INSTALLED)
	npm run format

up:
	docker compose up --build --detach --wait

## make up-postgres: the same on PostgreSQL, with two middleware replicas (docker-compose.postgres.yml).
up-postgres:
	docker compose -f docker-compose.yml -f docker-compose.postgres.yml up --build --detach --wait

down:
	docker compose -f docker-compose.yml -f docker-compose.postgres.yml down --remove-orphans

clean:
	npm run clean
	rm -rf node_modules */node_modules packages/*/node_modules
