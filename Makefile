# Thin wrappers over the npm scripts; every target installs what it needs first.
.PHONY: install build run test chaos bench lint up down clean

INSTALLED := node_modules/.installed
MANIFESTS := package.json package-lock.json packages/common/package.json crm/package.json inventory/package.json middleware/package.json

$(INSTALLED): $(MANIFESTS)
	npm ci
	@touch $@

install: $(INSTALLED)

build: $(INSTALLED)
	npm run build

## make run: the three services as local processes on 3001/3002/3003; Ctrl-C stops them all.
run: build
	LOG_FORMAT=$${LOG_FORMAT:-pretty} npm start

## make test: builds first, because the end-to-end tests start the built services.
test: build
	npm test -- $(JEST_ARGS)

## make chaos: the fault-injection suite, long schedules on three fresh seeds (CHAOS_SEED=a,b,c replays).
chaos: build
	CHAOS_ROUNDS=$${CHAOS_ROUNDS:-30} CHAOS_RUNS=$${CHAOS_RUNS:-3} npm test -- test/chaos

## make bench: delivery speed and storage sizes of the built services (BENCH_CUSTOMERS, BENCH_POLL_INTERVAL_MS, BENCH_WAL_CUSTOMERS).
bench: build
	npm test -- --testMatch '<rootDir>/bench/**/*.bench.ts'

lint: $(INSTALLED)
	npm run lint

up:
	docker compose up --build --detach --wait

down:
	docker compose down

clean:
	npm run clean
	rm -rf node_modules */node_modules packages/*/node_modules
