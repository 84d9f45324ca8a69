#!/usr/bin/env bash
# ab.sh - the same clusterback commands from two builds, interleaved: is a change neutral?
#
# usage: bash test/bench/ab.sh A_ROOT B_ROOT
#   A_ROOT, B_ROOT: two built clusterback checkouts (dist/ and as-core/build/), e.g. a
#   `git worktree` of the commit before a change and this checkout after `npm run build`.
# environment: ROUNDS=7, BENCH_DIR=/tmp, BENCH_SIZE_MIB=1024 BENCH_FILL=60 BENCH_SEED=7 (the
#   volume of bench.sh, made by make-volume.sh), BENCH_WORK (default /dev/shm when it has room).
#
# Each round runs, for A and for B (the order of A and B swapped every other round): backup VOL
# into an image, verify the image, restore it --no-verify into a fresh file, restore it with the
# read-back. Page cache warm, outputs on tmpfs. Prints the median wall time of each command for
# A and B and B/A (below 1: B faster), and checks that both builds wrote byte-identical images.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 2 ] || { echo "usage: $0 A_ROOT B_ROOT" >&2; exit 2; }
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd)
for r in "$A" "$B"; do [ -f "$r/dist/host-shim/src/cli/cli.js" ] && [ -f "$r/as-core/build/core.wasm" ] || { echo "$r is not built (npm run build)" >&2; exit 3; }; done
unset NODE_EXTRA_CA_CERTS
ROUNDS=${ROUNDS:-7}
BENCH_DIR=${BENCH_DIR:-/tmp}
SIZE_MIB=${BENCH_SIZE_MIB:-1024} FILL=${BENCH_FILL:-60} SEED=${BENCH_SEED:-7}
VOL=$BENCH_DIR/clusterback-bench-fat32-${SIZE_MIB}M-${FILL}-${SEED}.img
"$HERE/make-volume.sh" "$VOL" "$SIZE_MIB" "$FILL" "$SEED" >/dev/null
SIZE=$(stat -c %s "$VOL")
WORK=${BENCH_WORK:-}
if [ -z "$WORK" ]; then
  if [ "$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1)" -gt $((SIZE * 5)) ] 2>/dev/null; then WORK=$(mktemp -d /dev/shm/cb-ab.XXXXXX); else WORK=$(mktemp -d "$BENCH_DIR/cb-ab.XXXXXX"); fi
fi
trap 'rm -rf "$WORK"' EXIT
declare -A T
timed() { # key command...
  local key=$1; shift
  sync
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  local t1=$EPOCHREALTIME
  T[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') "
}
run() { # side root
  local s=$1 cli=$2/dist/host-shim/src/cli/cli.js
  rm -f "$WORK/$s.cbi" "$WORK/$s.dst" "$WORK/$s.dst2"
  cat "$VOL" >/dev/null
  timed "$s backup" node "$cli" backup "$VOL" --image "$WORK/$s.cbi" --json
  timed "$s verify" node "$cli" verify "$WORK/$s.cbi" --json
  truncate -s "$SIZE" "$WORK/$s.dst"
  timed "$s restore --no-verify" node "$cli" restore "$WORK/$s.cbi" "$WORK/$s.dst" --no-verify --json
  truncate -s "$SIZE" "$WORK/$s.dst2"
  timed "$s restore" node "$cli" restore "$WORK/$s.cbi" "$WORK/$s.dst2" --json
}
run A "$A"; run B "$B"; T=() # one untimed warm-up round each
for ((i = 0; i < ROUNDS; i++)); do
  if ((i % 2 == 0)); then run A "$A"; run B "$B"; else run B "$B"; run A "$A"; fi
done
# the images differ in their names (A, B: from the file names), creation times and the checks
# over the header: every differing byte must lie in the header sector or in the commit record
# (the last 512 bytes)
same=$(python3 -c '
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
print("yes" if len(a) == len(b) and a[512:-512] == b[512:-512] else "no")
' "$WORK/A.cbi" "$WORK/B.cbi")
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "A=$A"
echo "B=$B"
printf '%-22s %9s %9s %7s\n' command "A s" "B s" "B/A"
for c in backup verify "restore --no-verify" restore; do
  a=$(median "${T[A $c]}"); b=$(median "${T[B $c]}")
  printf '%-22s %9.3f %9.3f %7.3f\n' "$c" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
done
echo "rounds=$ROUNDS images_identical_but_header_and_commit=$same"
