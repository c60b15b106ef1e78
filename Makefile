# One entry point for people and CI. Every target sets up what it needs first (idempotent).
.PHONY: run test bench openapi

## Set up everything and run the platform on http://127.0.0.1:3000 (SQLite, in-process state).
run:
	.ci/setup
	cargo leptos serve

## Set up everything and run every test (set DATABASE_URL / REDIS_URL to include PostgreSQL / Redis).
test:
	.ci/test

## The issues' figures: API requests/s and latency, token verification, policy decisions over 1,000 rules,
## audit search over 1,000,000 records, gateway calls, workflow steps; SQLite, and PostgreSQL too when DATABASE_URL is set.
bench:
	cargo run --release --locked -p server --bin switchyard-bench

## Regenerate the committed OpenAPI document.
openapi:
	cargo run --locked -p server -- openapi > server/openapi.json
