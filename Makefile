# grantdesk: `make dev` runs the whole stack locally; `make test` runs every check.
# Everything these need beyond the Rust toolchain, Python 3, Java 17 and npm is installed here:
# Python packages into .venv/, Amazon DynamoDB Local into .dynamodb-local/.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
DYNAMODB_LOCAL := .dynamodb-local
DYNAMODB_LOCAL_STAMP := $(DYNAMODB_LOCAL)/.installed
PORT ?= 3000
# The dev token secret for `make dev` and `make token`; set your own in the environment.
GRANTDESK_LOCAL_JWT_SECRET ?= grantdesk-local-dev-secret
GRANTDESK_BOOTSTRAP_ADMINS ?= alice@example.com
export GRANTDESK_LOCAL_JWT_SECRET GRANTDESK_BOOTSTRAP_ADMINS

.PHONY: dev test venv emulators browser token lint fmt clean bench fuzz package

$(VENV_STAMP): infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $(VENV_STAMP)

venv: $(VENV_STAMP)

PACKAGE_STAMP := $(VENV)/.package-installed
$(PACKAGE_STAMP): $(VENV_STAMP) infra/package-requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/package-requirements.txt
	touch $(PACKAGE_STAMP)

$(DYNAMODB_LOCAL_STAMP): infra/scripts/install-dynamodb-local.sh
	infra/scripts/install-dynamodb-local.sh $(DYNAMODB_LOCAL)

# moto server (EventBridge, Scheduler, Secrets Manager) and DynamoDB Local (DynamoDB and its stream).
emulators: $(VENV_STAMP) $(DYNAMODB_LOCAL_STAMP)

dev: emulators
	cargo build -p grantdesk-local
	./target/debug/grantdesk-local dev --port $(PORT)

# Prints a dev token: make -s token EMAIL=josh@example.com
token:
	@cargo run -q -p grantdesk-local -- token --email "$(EMAIL)"

# The SAM CLI in its own environment under .venv/ (its boto3 pin differs from moto's).
SAM_VENV := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
$(SAM_STAMP): infra/sam-requirements.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/sam-requirements.txt
	touch $@

lint: venv $(SAM_STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint --include-checks I -- template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

# Debian's Chromium and ChromeDriver for the console's browser tests (installed when missing).
browser:
	infra/scripts/install-chromium.sh

test: lint emulators browser
	cargo test --workspace
	$(MAKE) fuzz

# schemathesis against /openapi.json of a running local stack (infra/scripts/fuzz-api.sh).
fuzz: emulators
	cargo build -q -p grantdesk-local
	infra/scripts/fuzz-api.sh

# Measures cold start, size, memory, DynamoDB round trips, sync at scale, webhook latency and
# API load; writes BENCHMARKS.md and benchmarks.json. Not part of `make test`.
bench: emulators
	cargo build --release -p grantdesk-api -p grantdesk-ticket-filer -p grantdesk-status-sync \
		-p grantdesk-webhook-intake -p grantdesk-access-expiry -p grantdesk-console -p grantdesk-local
	./target/release/grantdesk-local bench --out . --release-dir target/release

# The six functions as zips under target/lambda/, built as `sam build` does (cargo-lambda), then
# checked (infra/scripts/package.sh).
package: $(PACKAGE_STAMP)
	infra/scripts/package.sh

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) $(DYNAMODB_LOCAL) target
