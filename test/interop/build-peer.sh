#!/usr/bin/env bash
# Builds the upstream test peer (test/interop/peer, networkservicemesh/sdk v1.13.2 from the Go
# module proxy) into test/interop/.bin/peer-<hash of go.mod, go.sum, main.go>. Idempotent: an
# existing binary for the same sources is kept. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v go >/dev/null || { echo "go is not installed: the interop tests will skip" >&2; exit 3; }
hash="$(cat "$here/peer/go.mod" "$here/peer/go.sum" "$here/peer/main.go" | sha256sum | cut -c1-16)"
bin="$here/.bin/peer-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$here/.bin"
  (cd "$here/peer" && GOFLAGS=-mod=readonly go build -o "$bin.tmp.$$" .) && mv -f "$bin.tmp.$$" "$bin"
fi
echo "$bin"
