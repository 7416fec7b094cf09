# grantdesk: `make dev` runs the whole stack locally; `make test` runs every check.
# Everything these need beyond the Rust toolchain and Python 3 is installed here, into .venv/.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
PORT ?= 3000
# The dev token secret for `make dev` and `make token`; set your own in the environment.
GRANTDESK_LOCAL_JWT_SECRET ?= grantdesk-local-dev-secret
GRANTDESK_BOOTSTRAP_ADMINS ?= alice@example.com
export GRANTDESK_LOCAL_JWT_SECRET GRANTDESK_BOOTSTRAP_ADMINS

.PHONY: dev test venv token lint fmt clean bench

$(VENV_STAMP): infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $(VENV_STAMP)

venv: $(VENV_STAMP)

dev: venv
	cargo build -p grantdesk-local
	./target/debug/grantdesk-local dev --port $(PORT)

# Prints a dev token: make -s token EMAIL=josh@example.com
token:
	@cargo run -q -p grantdesk-local -- token --email "$(EMAIL)"

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml

test: lint
	cargo test --workspace

# Measures cold start, size, memory, DynamoDB round trips, sync at scale, webhook latency and
# API load; writes BENCHMARKS.md and benchmarks.json. Not part of `make test`.
bench: venv
	cargo build --release -p grantdesk-api -p grantdesk-ticket-filer -p grantdesk-status-sync \
		-p grantdesk-webhook-intake -p grantdesk-access-expiry -p grantdesk-local
	./target/release/grantdesk-local bench --out . --release-dir target/release

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) target
