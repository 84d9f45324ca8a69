#!/usr/bin/env bash
# Builds cb-interp (host.cc) against Debian's wabt (libwabt.a: its interpreter). Prints the
# binary's path; exits 1 (and says why) when wabt or g++ is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build/cb-interp}"
[ -e /usr/include/wabt/interp/interp.h ] && compgen -G "/usr/lib/*/libwabt.a" >/dev/null \
  || { echo "build.sh: wabt's headers or libwabt.a are missing (apt-get install wabt)" >&2; exit 1; }
command -v g++ >/dev/null || { echo "build.sh: g++ is missing" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
if [ ! -x "$out" ] || [ "$here/host.cc" -nt "$out" ] || [ "$here/../../../as-core/include/clusterback_core.h" -nt "$out" ]; then
  g++ -std=c++17 -O2 -I "$here/../../../as-core/include" -o "$out" "$here/host.cc" -lwabt -lpthread
fi
echo "$out"
