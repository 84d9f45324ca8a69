#!/usr/bin/env bash
# make-volume.sh - a realistic, deterministic FAT32 partition image for the benchmark.
#
# usage: test/bench/make-volume.sh OUT SIZE_MIB FILL_PCT SEED
#   OUT       the partition image to write (a FAT32 file system from byte 0)
#   SIZE_MIB  its size; FILL_PCT  the share of the data area to allocate; SEED  any integer
# environment:
#   MKFS_OPTS    extra mkfs.fat options after "-F 32" (e.g. "-s 1", "-S 4096")
#   VOLGEN_OPTS  extra options for volgen.py populate (see: python3 volgen.py populate -h)
#   FORCE=1      rebuild even when OUT is up to date
#
# Built with real tools only: mkfs.fat --invariant, then volgen.py drives mtools (directory
# tree, long and odd names, colliding short aliases, files of mixed sizes and four content
# kinds, fragmentation from deletes and re-fills), then `fsck.fat -n` must pass.
# Same arguments => byte-identical image (mkfs.fat --invariant with a volume id from SEED,
# TZ=UTC, SOURCE_DATE_EPOCH, seeded mtimes copied with mcopy -m, fixed copy order).
#
# Cache: OUT.params records the parameters, a hash of this script and volgen.py, and OUT's
# size and mtime; when it matches, OUT is reused and the recorded statistics are printed.
#
# stdout: one line of key=value statistics, with used_bytes = reserved area + FATs +
# allocated clusters (what a used-block imaging tool has to copy).  Progress goes to stderr.
# exit: 0 ok, 1 build failed, 2 usage, 3 a required tool is missing.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $# -ne 4 || ! $2 =~ ^[0-9]+$ || ! $3 =~ ^[0-9]+([.][0-9]+)?$ || ! $4 =~ ^[0-9]+$ ]]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
OUT=$1 SIZE_MIB=$2 FILL=$3 SEED=$4
if (( SIZE_MIB < 40 )); then
  echo "make-volume.sh: FAT32 needs at least ~33 MiB with 512-byte clusters; use SIZE_MIB >= 40" >&2
  exit 2
fi

missing=()
for t in mkfs.fat fsck.fat mmd mcopy mdel mdeltree python3 sha256sum truncate; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if (( ${#missing[@]} )); then
  echo "make-volume.sh: missing tool(s): ${missing[*]} (Debian/Ubuntu: apt-get install dosfstools mtools python3 coreutils)" >&2
  exit 3
fi

export TZ=UTC SOURCE_DATE_EPOCH=1600000000 MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8 PYTHONHASHSEED=0
STAMP=$OUT.params
GEN_HASH=$(cat "$HERE/make-volume.sh" "$HERE/volgen.py" | sha256sum | cut -c1-16)
PARAMS="v1 size_mib=$SIZE_MIB fill=$FILL seed=$SEED mkfs=[${MKFS_OPTS:-}] volgen=[${VOLGEN_OPTS:-}] gen=$GEN_HASH"

# The stamp is "PARAMS" then "file=<bytes>:<mtime ns>" then the statistics line.
if [[ ${FORCE:-0} != 1 && -f $OUT && -f $STAMP ]]; then
  mapfile -t S <"$STAMP"
  if [[ ${#S[@]} -ge 3 && ${S[0]} == "$PARAMS" && ${S[1]} == "file=$(stat -c '%s:%.9Y' "$OUT")" ]]; then
    echo "make-volume.sh: $OUT is up to date ($PARAMS)" >&2
    echo "${S[2]} cached=yes"
    exit 0
  fi
fi

echo "make-volume.sh: building $OUT ($PARAMS)" >&2
T0=$EPOCHREALTIME
mkdir -p "$(dirname "$OUT")"
rm -f "$STAMP"
TMP=$OUT.building.$$
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/volgen.XXXXXX")
trap 'rm -rf "$STAGE" "$TMP"' EXIT

VOLID=$(printf '%08X' $(( (SEED * 0x9E3779B1 + 0x1234567) & 0xFFFFFFFF )))
truncate -s "${SIZE_MIB}M" "$TMP"
# shellcheck disable=SC2086
mkfs.fat --invariant -F 32 -i "$VOLID" -n "CB$(printf '%07d' $(( SEED % 10000000 )))" ${MKFS_OPTS:-} "$TMP" >/dev/null
# shellcheck disable=SC2086
GEN=$(python3 "$HERE/volgen.py" populate "$TMP" --fill "$FILL" --seed "$SEED" --stage "$STAGE" ${VOLGEN_OPTS:-})

if ! fsck.fat -n "$TMP" >"$STAGE.fsck" 2>&1; then
  sed 's/^/  /' "$STAGE.fsck" >&2
  rm -f "$STAGE.fsck"
  echo "make-volume.sh: fsck.fat -n reports problems in the generated volume" >&2
  exit 1
fi
rm -f "$STAGE.fsck"
STATS=$(python3 "$HERE/volgen.py" stats "$TMP")
mv -f "$TMP" "$OUT"
LINE="volume=$OUT size_bytes=$(stat -c %s "$OUT") volid=$VOLID $STATS $GEN fsck=ok"
LINE+=" build_s=$(python3 -c "print('%.1f' % ($EPOCHREALTIME - $T0))")"
printf '%s\nfile=%s\n%s\n' "$PARAMS" "$(stat -c '%s:%.9Y' "$OUT")" "$LINE" >"$STAMP"
echo "$LINE cached=no"
