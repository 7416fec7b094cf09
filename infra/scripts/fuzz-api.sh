#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis: starts the local stack (the `make dev` demo) on free
# ports, runs every check against /openapi.json as an org admin with a fixed seed and a bounded
# number of examples, stops the stack, and fails on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

SEED=${FUZZ_SEED:-20261201}
EXAMPLES=${FUZZ_EXAMPLES:-25}
binary=./target/debug/grantdesk-local
[ -x "$binary" ] || cargo build -q -p grantdesk-local

port=$(python3 -c 'import socket
for _ in range(50):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
print(p)')
log=$(mktemp)
export GRANTDESK_LOCAL_JWT_SECRET=${GRANTDESK_LOCAL_JWT_SECRET:-grantdesk-fuzz-secret-value}
export GRANTDESK_BOOTSTRAP_ADMINS=alice@example.com
"$binary" dev --port "$port" >"$log" 2>&1 &
stack=$!
trap 'kill "$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 120); do
	grep -q "grantdesk is running" "$log" && break
	kill -0 "$stack" 2>/dev/null || { cat "$log" >&2; echo "fuzz-api: the local stack did not start" >&2; exit 1; }
	sleep 0.5
done
grep -q "grantdesk is running" "$log" || { cat "$log" >&2; echo "fuzz-api: the local stack did not start in 60 s" >&2; exit 1; }

token=$("$binary" token --email alice@example.com --ttl-minutes 30)
.venv/bin/schemathesis --config-file infra/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
	--checks all --seed "$SEED" --max-examples "$EXAMPLES" --no-color \
	--header "Authorization: Bearer $token"
