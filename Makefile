# passerelle: the two commands a new user needs.
#
#   make demo   install what the build needs, then run the whole system on this machine
#   make test   install what is missing (and start Redis), then fmt, clippy and every test
#
# Helpers: make setup, make bench, make certs, make check-config, make fuzz (not part of test),
# make screenshots (the images of docs/, from the page test).

export PASSERELLE_TEST_REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: demo test setup bench certs check-config fuzz screenshots

setup:
	@bash scripts/setup.sh

# The demo needs only what the build needs: no Redis, no test peers.
demo:
	@bash scripts/setup.sh build
	cargo run --release -- demo

test: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --all-targets

bench: setup
	cargo bench --bench sso
	cargo bench --bench sso_http
	cargo bench --bench audience
	cargo bench --bench counting
	cargo bench --bench listing

certs:
	bash certs-example/generate.sh

check-config:
	cargo run -- check-config --config config/passerelle.toml

# Fuzz targets (fuzz/), 10 million inputs each by default: make fuzz FUZZ_TARGET=xml_guard FUZZ_RUNS=1000000
FUZZ_TARGET ?= all
FUZZ_RUNS ?= 10000000
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_TARGET) $(FUZZ_RUNS)

# The screenshots the guides show (docs/images/), taken by tests/it/pages_browser.rs.
screenshots: setup
	bash scripts/screenshots.sh
