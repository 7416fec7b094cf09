#!/usr/bin/env bash
# make package: builds the six functions as `sam build` does for `BuildMethod: rust-cargolambda`
# (cargo-lambda, release profile), one zip each at target/lambda/<function>/bootstrap.zip, then
# checks that every zip holds an executable `bootstrap` for the architecture built.
set -euo pipefail
cd "$(dirname "$0")/../.."
# cargo-lambda and the zig it links with live in .venv/ (infra/package-requirements.txt).
export PATH="$PWD/.venv/bin:$PATH"

functions=(api console ticket-filer status-sync webhook-intake access-expiry)
packages=()
for f in "${functions[@]}"; do packages+=(-p "grantdesk-$f"); done

if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  arch=arm64
  flag=--arm64
else
  arch=x86_64
  flag=--x86-64
fi
echo "package: building for $arch"
if [ "$arch" = x86_64 ]; then
  echo "package: the aarch64-unknown-linux-gnu target is not installed, so these zips are x86_64;"
  echo "package: template.yaml deploys arm64 (Globals: Architectures), so set it to x86_64 to use them,"
  echo "package: or run 'rustup target add aarch64-unknown-linux-gnu' and package again."
fi

cargo lambda build --release "$flag" --output-format zip "${packages[@]}"
.venv/bin/python infra/scripts/check-packages.py target/lambda "$arch" "${functions[@]}"
