#!/usr/bin/env bash
# bench.sh - clusterback against partclone and cat: one run, one volume, interleaved rounds.
#
# usage: npm run bench            (= npm run build && bash test/bench/bench.sh)
# environment:
#   ROUNDS=5              rounds; every round times each command once (cat: 3 times)
#   WARMUP=1              untimed rounds first (the first round ran 2-7x slower here for
#                         every writer: partclone fast restore 1.7 s, later rounds 0.25 s)
#   BENCH_DIR=/tmp        where the volume is built and cached (make-volume.sh)
#   BENCH_SIZE_MIB=1024 BENCH_FILL=60 BENCH_SEED=7   the volume (FAT32, 4 KiB clusters)
#   BENCH_WORK=DIR        where images and restore targets go (default /dev/shm, tmpfs, when it
#                         has room; else BENCH_DIR): tmpfs shows the tools, not the disk
#   BENCH_DOC=FILE        the report to write (default docs/bench.md); BENCH_DOC= skips it
#   KEEP=1                keep the work directory
#   CB_ROOT=DIR           the clusterback checkout whose build is measured (default: this one)
#
# The built CLI (dist/, as-core/build/core.wasm) is copied into the work directory at the start
# and run from there, so a rebuild during the run cannot mix two builds; the report names the
# commit (+uncommitted when the product sources differ from it) and a hash of the build.
#
# Timed, wall clock (bash $EPOCHREALTIME around the command) and CPU (/usr/bin/time):
#   cat               cat VOL >/dev/null                                   (3x per round)
#   pc_fast_backup    partclone.fat32 -c -a0 -f 0 -q -s VOL -O F.pcl      (no CRC)
#   pc_fast_restore   partclone.fat32 -r -f 0 -q -s F.pcl -O F.dst
#   pc_def_backup     partclone.fat32 -c -q -f 0 -s VOL -O D.pcl          (CRC32 per block)
#   pc_def_restore    partclone.fat32 -r -q -f 0 -s D.pcl -O D.dst
#   cb_backup         node CLI backup VOL --image C.cbi --json && sync C.cbi
#   cb_restore        node CLI restore C.cbi C.dst --json && sync C.dst     (default: reads back
#                                                                           and verifies)
#   cb_restore_noverify  the same with --no-verify
#   cb_verify         node CLI verify C.cbi --json                          (the image alone)
#   cbp_backup, cbp_verify  cb_backup and cb_verify with CLUSTERBACK_CORE=portable: the portable
#                     core (as-core/build/core-portable.wasm: no SIMD, no writer thread), same
#                     volume, same rounds; cbp_verify reads the SIMD core's image C.cbi
#   cb_*_engine       the same commands' job time as they report it (--json "seconds": from the
#                     operation's call to its end, Node's start-up excluded)
#   node_start        node -e 0: Node's own start-up, the floor under every clusterback command
# partclone fsync()s its output itself; clusterback's `sync FILE` is inside the timing so both
# pay for one (a no-op on tmpfs).  Every restore target is a fresh `truncate -s <volume size>`
# file.  Before each timed command: outputs removed, inputs read once (page cache warm), `sync`.
# The order of the commands within a round is reversed every other round (backups first, then
# restores, since a restore reads the image of the same round), so a position effect cancels
# out in the medians.
#
# MB = 10^6 bytes.  MB/s = used bytes / median wall, used bytes = reserved area + FATs +
# allocated clusters (fsck.fat -n -v; cross-checked with clusterback info --json), for every
# row including cat.  Ratios are clusterback MB/s over the other's MB/s (>1: clusterback faster).
# Checks on the last round's clusterback restores: fsck.fat -n, clusterback verify --against,
# and volgen.py usedcmp (the used area byte for byte against the source volume).
#
# Output: key=value lines on stdout (progress on stderr), then BENCH_DOC is rewritten (report.py
# keeps its History rows and the <!-- bytes --> section that test/bench/bytes-bench.js writes).
# exit: 0 measured (targets met or not), 1 a command or a correctness check failed,
#       2 bad settings, 3 a required tool or the build is missing.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=$(cd "${CB_ROOT:-$REPO}" && pwd)
CLI=$ROOT/dist/host-shim/src/cli/cli.js
T_START=$EPOCHREALTIME
# This sandbox sets NODE_EXTRA_CA_CERTS to a bundle of ~140 certificates, which Node parses at
# every start (about 25 ms here). clusterback makes no TLS connection, and neither partclone nor
# cat pays anything like it, so the bench runs everything without it.
unset NODE_EXTRA_CA_CERTS
read -r l1 l5 l15 _ </proc/loadavg && LOAD_START="$l1 $l5 $l15"
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
SIZE_MIB=${BENCH_SIZE_MIB:-1024} FILL=${BENCH_FILL:-60} SEED=${BENCH_SEED:-7}
BENCH_DIR=${BENCH_DIR:-/tmp}
DOC=${BENCH_DOC-$REPO/docs/bench.md}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: ROUNDS must be a positive integer" >&2; exit 2; }
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "bench.sh: WARMUP must be a whole number" >&2; exit 2; }

missing=()
for t in partclone.fat32 fsck.fat mkfs.fat mmd mcopy mdel mdeltree python3 node truncate sync awk df sha256sum; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if (( ${#missing[@]} )); then
  echo "bench.sh: missing tool(s): ${missing[*]}" >&2
  echo "  Debian/Ubuntu: apt-get install partclone dosfstools mtools python3 time; Node.js >= 20" >&2
  exit 3
fi
if [[ ! -f $CLI || ! -f $ROOT/as-core/build/core.wasm || ! -f $ROOT/as-core/build/core-portable.wasm ]]; then
  echo "bench.sh: $CLI, as-core/build/core.wasm or core-portable.wasm not found: build first (npm run build, or run this as npm run bench)" >&2
  exit 3
fi
HAVE_TIME=0
[[ -x /usr/bin/time ]] && HAVE_TIME=1 || echo "bench.sh: /usr/bin/time not found: CPU times will read 0 (apt-get install time)" >&2
log() { echo "[bench] $*" >&2; }

# ---- the volume (built once, then reused while its parameters match) ----
VOL=$BENCH_DIR/clusterback-bench-fat32-${SIZE_MIB}M-${FILL}-${SEED}.img
VOLSTATS=$("$HERE/make-volume.sh" "$VOL" "$SIZE_MIB" "$FILL" "$SEED")
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
USED=$(kv used_bytes "$VOLSTATS")
SIZE=$(stat -c %s "$VOL")
T_BENCH=$EPOCHREALTIME

# ---- the work directory ----
NEED=$(( 8 * USED + SIZE ))
if [[ -n ${BENCH_WORK:-} ]]; then WBASE=$BENCH_WORK
elif [[ -d /dev/shm && -w /dev/shm ]] && (( $(df -B1 --output=avail /dev/shm | tail -1) > NEED )); then WBASE=/dev/shm
else
  WBASE=$BENCH_DIR
  log "/dev/shm missing or short of $NEED bytes: outputs go to $WBASE (figures include that disk)"
fi
mkdir -p "$WBASE"
W=$(mktemp -d "$WBASE/cb-bench.XXXXXX")
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$W"' EXIT
WFS=$(stat -f -c %T "$W")

# ---- a private copy of the build (see the header) ----
mkdir -p "$W/cb/as-core/build"
cp "$ROOT/asconfig.json" "$W/cb/"
cp -r "$ROOT/dist" "$W/cb/dist"
cp "$ROOT/as-core/build/core.wasm" "$ROOT/as-core/build/core-portable.wasm" "$W/cb/as-core/build/"
CLI=$W/cb/dist/host-shim/src/cli/cli.js
CB_BUILD=$(cd "$W/cb" && find dist as-core -type f -name '*.js' -o -type f -name '*.wasm' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
CB_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- . ':!test/bench' ':!docs/bench.md' 2>/dev/null) ]]; then CB_HEAD+="+uncommitted"; fi
CB_USED=$(node "$CLI" info "$VOL" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume"]["usedBytes"])')

# tm NAME CMD...: run CMD (stdout/stderr to the log), append "wall user sys maxrss_kB" to
# W/NAME.t (W/warmup-NAME.t during warm-up rounds, which the report ignores)
TPFX=
tm() {
  local name=$1; shift
  local t0 t1 u=0 s=0 rss=0 rc=0
  t0=$EPOCHREALTIME
  if [[ $HAVE_TIME == 1 ]]; then
    /usr/bin/time -f "%U %S %M" -o "$W/time.out" "$@" >>"$W/cmd.log" 2>&1 || rc=$?
  else
    "$@" >>"$W/cmd.log" 2>&1 || rc=$?
  fi
  t1=$EPOCHREALTIME
  if (( rc )); then
    echo "bench.sh: FAILED (exit $rc): $*" >&2
    tail -n 8 "$W/cmd.log" | sed 's/^/  /' >&2
    exit 1
  fi
  [[ $HAVE_TIME == 1 ]] && read -r u s rss <"$W/time.out"
  echo "$t0 $t1 $u $s $rss" | awk '{printf "%.6f %.3f %.3f %d\n", $2 - $1, $3, $4, $5}' >>"$W/$TPFX$name.t"
}
fresh() { rm -f "$1"; truncate -s "$SIZE" "$1"; }
warm() { cat "$1" >/dev/null; }
PC=partclone.fat32

run_cat()             { sync; tm cat sh -c 'cat "$1" >/dev/null' cat "$VOL"; }
run_pc_fast_backup()  { rm -f "$W/F.pcl"; sync; tm pc_fast_backup $PC -c -a0 -f 0 -q -s "$VOL" -O "$W/F.pcl" -L "$W/pc.log"; }
run_pc_def_backup()   { rm -f "$W/D.pcl"; sync; tm pc_def_backup $PC -c -q -f 0 -s "$VOL" -O "$W/D.pcl" -L "$W/pc.log"; }
# clusterback runs with --json: besides the wall time of the whole command, the job's own time
# (the "seconds" it reports: from the call of the operation to its end, without Node's start-up)
# goes to NAME_engine.t, the throughput a caller that keeps the core loaded (the firmware) sees.
engine() { python3 -c 'import json,sys; print("%.6f 0 0 0" % json.load(open(sys.argv[1]))["seconds"])' "$W/out.json" >>"$W/$TPFX$1_engine.t"; }
run_cb_backup()       { rm -f "$W/C.cbi"; sync; tm cb_backup sh -c 'node "$1" backup "$2" --image "$3" --json >"$4" && sync "$3"' cb "$CLI" "$VOL" "$W/C.cbi" "$W/out.json"; engine cb_backup; }
run_pc_fast_restore() { fresh "$W/F.dst"; warm "$W/F.pcl"; sync; tm pc_fast_restore $PC -r -f 0 -q -s "$W/F.pcl" -O "$W/F.dst" -L "$W/pc.log"; }
run_pc_def_restore()  { fresh "$W/D.dst"; warm "$W/D.pcl"; sync; tm pc_def_restore $PC -r -q -f 0 -s "$W/D.pcl" -O "$W/D.dst" -L "$W/pc.log"; }
run_cb_restore()      { fresh "$W/C.dst"; warm "$W/C.cbi"; sync; tm cb_restore sh -c 'node "$1" restore "$2" "$3" --json >"$4" && sync "$3"' cb "$CLI" "$W/C.cbi" "$W/C.dst" "$W/out.json"; engine cb_restore; }
run_cb_restore_noverify() { fresh "$W/N.dst"; warm "$W/C.cbi"; sync; tm cb_restore_noverify sh -c 'node "$1" restore "$2" "$3" --no-verify --json >"$4" && sync "$3"' cb "$CLI" "$W/C.cbi" "$W/N.dst" "$W/out.json"; engine cb_restore_noverify; }
run_cbp_backup()      { rm -f "$W/P.cbi"; sync; tm cbp_backup sh -c 'CLUSTERBACK_CORE=portable node "$1" backup "$2" --image "$3" --json >"$4" && sync "$3"' cb "$CLI" "$VOL" "$W/P.cbi" "$W/out.json"; engine cbp_backup; }
run_cb_verify()       { warm "$W/C.cbi"; sync; tm cb_verify sh -c 'node "$1" verify "$2" --json >"$3"' cb "$CLI" "$W/C.cbi" "$W/out.json"; engine cb_verify; }
run_cbp_verify()      { warm "$W/C.cbi"; sync; tm cbp_verify sh -c 'CLUSTERBACK_CORE=portable node "$1" verify "$2" --json >"$3"' cb "$CLI" "$W/C.cbi" "$W/out.json"; engine cbp_verify; }
run_node_start()      { tm node_start node -e 0; }

# Page cache: drop the volume's pages, compact memory where permitted, read it once, so every
# run starts from the same warm state.  Compare figures from one run only.
dd if="$VOL" iflag=nocache count=0 status=none 2>/dev/null || true
(echo 1 >/proc/sys/vm/compact_memory) 2>/dev/null || true
warm "$VOL"
node "$CLI" --help >/dev/null 2>&1 || true   # node and the CLI's files in the page cache too
sync

BACKUPS=(pc_fast_backup pc_def_backup cb_backup cbp_backup)
RESTORES=(pc_fast_restore pc_def_restore cb_restore cb_restore_noverify cb_verify cbp_verify)
BACKUPS_REV=() RESTORES_REV=()
for ((i = ${#BACKUPS[@]} - 1; i >= 0; i--)); do BACKUPS_REV+=("${BACKUPS[i]}"); done
for ((i = ${#RESTORES[@]} - 1; i >= 0; i--)); do RESTORES_REV+=("${RESTORES[i]}"); done
log "volume $VOL ($SIZE bytes, $USED used), work dir $W ($WFS), $WARMUP warm-up + $ROUNDS rounds"
for ((r = 1 - WARMUP; r <= ROUNDS; r++)); do
  t_round=$EPOCHREALTIME
  if (( r < 1 )); then TPFX=warmup-; else TPFX=; fi
  for _ in 1 2 3; do run_cat; done
  run_node_start
  if (( r % 2 )); then order=("${BACKUPS[@]}" "${RESTORES[@]}")
  else order=("${BACKUPS_REV[@]}" "${RESTORES_REV[@]}"); fi
  for op in "${order[@]}"; do "run_$op"; done
  log "$( (( r < 1 )) && echo "warm-up round" || echo "round $r/$ROUNDS"): $(awk -v a="$t_round" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}') s"
done

# ---- correctness of the last round's restores ----
: >"$W/checks"
check() { echo "$1=$2" >>"$W/checks"; }
for t in C:cb_restore N:cb_restore_noverify F:pc_fast_restore D:pc_def_restore; do
  f=$W/${t%%:*}.dst n=${t#*:}
  if fsck.fat -n "$f" >"$W/fsck.out" 2>&1; then check "${n}_fsck" ok
  else check "${n}_fsck" FAIL; sed 's/^/  /' "$W/fsck.out" | tail -n 5 >&2; fi
done
for t in C:cb_restore N:cb_restore_noverify; do
  f=$W/${t%%:*}.dst n=${t#*:}
  if node "$CLI" verify "$W/C.cbi" --against "$f" >"$W/verify.out" 2>&1; then check "${n}_clusterback_verify" ok
  else check "${n}_clusterback_verify" FAIL; sed 's/^/  /' "$W/verify.out" >&2; fi
  out=$(python3 "$HERE/volgen.py" usedcmp "$VOL" "$f" || true)
  check "${n}_used_area_identical" "$(kv used_area_identical "$out")"
  [[ $(kv used_area_identical "$out") == yes ]] || echo "  $out" >&2
done
# the portable core's image: the SIMD core verifies it against the volume
if node "$CLI" verify "$W/P.cbi" --against "$VOL" >"$W/verify.out" 2>&1; then check cbp_backup_clusterback_verify ok
else check cbp_backup_clusterback_verify FAIL; sed 's/^/  /' "$W/verify.out" >&2; fi
check used_area_compared_bytes "$(kv compared_bytes "$(python3 "$HERE/volgen.py" usedcmp "$VOL" "$W/C.dst" || true)")"
for f in F.pcl D.pcl C.cbi; do check "image_bytes_${f/./_}" "$(stat -c %s "$W/$f")"; done

# ---- environment, for the report ----
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$( (lscpu 2>/dev/null | sed -n 's/^Model name: *//p'; grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') | head -n 1)"
  echo "kernel=$(uname -r)"
  echo "mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
  echo "partclone=$($PC -v 2>&1 | sed -n 's/.*: *\(v[0-9.]*\).*/\1/p' | head -n 1)"
  echo "dosfstools=$(fsck.fat -n "$VOL" 2>&1 | sed -n '1s/^fsck.fat \([^ ]*\).*/\1/p')"
  echo "mtools=$(mcopy --version | sed -n '1s/.* //p')"
  echo "node=$(node --version)"
  echo "python=$(python3 -c 'import platform; print(platform.python_version())')"
  echo "clusterback=$CB_HEAD"
  echo "clusterback_build=$CB_BUILD"
  echo "volume=$VOL"
  echo "volume_stats=$VOLSTATS"
  echo "size_mib=$SIZE_MIB"
  echo "fill=$FILL"
  echo "seed=$SEED"
  echo "size_bytes=$SIZE"
  echo "used_bytes=$USED"
  echo "used_bytes_clusterback_info=$CB_USED"
  echo "rounds=$ROUNDS"
  echo "warmup_rounds=$WARMUP"
  echo "work_dir=$W"
  echo "work_fs=$WFS"
  echo "loadavg_start=$LOAD_START"
  read -r l1 l5 l15 _ </proc/loadavg && echo "loadavg_end=$l1 $l5 $l15"
  echo "bench_s=$(awk -v a="$T_BENCH" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')"
  echo "total_s=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')"
} >"$W/env"

python3 "$HERE/report.py" "$W" "$DOC"
