#!/usr/bin/env bash
# One command from a fresh clone to a working tree: Debian packages (scripts/packages.txt),
# npm dependencies from the lockfile, the native addon, the compiled TypeScript (dist/).
# Idempotent; any failure stops it loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

step "Debian packages"
mapfile -t pkgs < <(grep -Ev '^\s*(#|$)' scripts/packages.txt | awk '{print $1}')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}): run setup as root or install them"
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"
  # the packages' init scripts may start daemons; the project starts its own private instances
  for svc in openvswitch-switch etcd dnsmasq; do
    command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1 || true
    service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "all ${#pkgs[@]} packages present"
fi

step "VPP 24.10 (from ../shared/vpp when present; else install FD.io's packages yourself, see docs/vpp.md)"
shared=${NSM_SHARED_DIR:-../shared}
if [ -f "$shared/vpp/install.sh" ]; then
  [ "$(id -u)" = 0 ] || die "installing VPP into /opt/vpp needs root"
  bash "$shared/vpp/install.sh" >/dev/null || die "VPP install from $shared/vpp failed"
  echo "VPP in /opt/vpp"
elif [ -x /opt/vpp/bin/vpp ] || command -v vpp >/dev/null; then
  echo "VPP already installed"
else
  echo "no VPP: the VPP tests will skip"
fi

step "node $(node --version), npm $(npm --version)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or newer is required (found $(node --version))"

step "npm dependencies (lockfile)"
npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"

# npm links a package's bins only where it is installed, not in its own checkout (npx would
# install the checkout into its cache as a link first): link ours so `npx nsm` runs this tree
ln -sfn ../../bin/nsm.mjs node_modules/.bin/nsm

step "native addon (cmake-js, offline headers from node-api-headers)"
npm run --silent build:native || die "native addon build failed"
node -e 'import("./src/native.ts").catch(()=>{})' 2>/dev/null || true
[ -f build/Release/nsm_native.node ] || die "build/Release/nsm_native.node was not produced"

step "Kubernetes API server for tests (from ../shared/k8s when present)"
# tests of the k8s components start throwaway API servers with this script (test/helpers/kube-apiserver.ts)
k8s_src=""
for d in ../shared/k8s /work/shared/k8s; do [ -f "$d/apiserver.sh" ] && { k8s_src=$d; break; }; done
if [ -n "$k8s_src" ]; then
  [ "$(id -u)" = 0 ] || die "installing the test API server into /usr/local/lib/nsm-test needs root"
  mkdir -p /usr/local/lib/nsm-test
  install -m 0755 "$k8s_src/apiserver.sh" /usr/local/lib/nsm-test/apiserver.sh
  bin=/usr/local/lib/nsm-test/kube-apiserver-v1.31.4
  if [ ! -x "$bin" ]; then
    gunzip -c "$k8s_src/kube-apiserver-v1.31.4-x86_64.gz" > "$bin.tmp" && chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin" ||
      die "unpacking $k8s_src/kube-apiserver-v1.31.4-x86_64.gz failed"
  fi
  # apiserver.sh finds the gzip beside itself when the binary is missing; keep a link there
  ln -sfn "$(cd "$k8s_src" && pwd)/kube-apiserver-v1.31.4-x86_64.gz" /usr/local/lib/nsm-test/kube-apiserver-v1.31.4-x86_64.gz
  echo "kube-apiserver v1.31.4: $bin"
else
  echo "no ../shared/k8s: the Kubernetes tests will skip"
fi

step "TypeScript build (dist/: the compiled JS + .d.ts that npm pack ships)"
npm run --silent build:ts || die "TypeScript build failed"
[ -f dist/src/index.js ] || die "dist/src/index.js was not produced"
step "interop test peer (Go, upstream sdk v1.13.2 from the module proxy; skipped without Go)"
if command -v go >/dev/null; then
  bash test/interop/build-peer.sh >/dev/null || die "building test/interop/peer failed"
else
  echo "go not found: test/interop will skip"
fi

# SPIRE (server + agent) and opa for the security tests, from ../shared when this machine has it;
# without them those tests skip and say why
step "SPIRE and opa for tests (/usr/local/lib/nsm-test)"
shared=""
for d in "${NSM_SHARED_DIR:-}" ../shared /work/shared; do [ -n "$d" ] && [ -d "$d/spire" -o -d "$d/opa" ] && { shared=$d; break; }; done
if [ -z "$shared" ]; then
  echo "no ../shared here: SPIRE/opa tests will skip"
elif [ "$(id -u)" != 0 ] && [ ! -w /usr/local/lib ]; then
  echo "not root: SPIRE/opa not installed, their tests will skip"
else
  lib=/usr/local/lib/nsm-test
  mkdir -p "$lib"
  if [ -x "$shared/spire/spire.sh" ]; then
    for b in spire-server spire-agent; do
      [ -x "$lib/$b-v1.13.0" ] || { gunzip -c "$shared/spire/$b-v1.13.0-x86_64.gz" > "$lib/$b-v1.13.0.tmp"; chmod +x "$lib/$b-v1.13.0.tmp"; mv "$lib/$b-v1.13.0.tmp" "$lib/$b-v1.13.0"; }
    done
    install -m 0755 "$shared/spire/spire.sh" "$lib/spire.sh"
    echo "SPIRE v1.13.0: $lib/spire.sh"
  fi
  [ -x "$shared/opa/install.sh" ] && echo "opa: $("$shared/opa/install.sh")"
fi

step "done: try 'npx nsm --help', 'npm test'"
