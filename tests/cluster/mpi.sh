#!/usr/bin/env bash
# MPI runs of `cartkin trial --mpi` against one-process runs, byte for byte, and its error
# paths (docs/CLUSTER.md, "MPI").
#
#   tests/cluster/mpi.sh CARTKIN SCRATCH
#
# CARTKIN: a cartkin built with the mpi feature (cargo build --release -p cartkin-cli
# --features mpi); SCRATCH: a folder for the runs (made if missing; this script's runs go in
# a new subfolder, removed at the end when every check holds). MPIRUN overrides the launcher
# (default: Open MPI's `mpirun --allow-run-as-root --oversubscribe`). About 30 s on 2 cores.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 CARTKIN SCRATCH" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$bin" ] || { echo "$1: not an executable" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }
mkdir -p "$2"
work=$(mktemp -d "$(cd "$2" && pwd)/mpi.XXXXXX")
read -r -a mpirun <<<"${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}"
eliana=$root/studies/eliana.toml
kimmel=$root/studies/kimmel2021.toml

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

sha() { sha256sum "$1" | cut -c1-16; }

# same LABEL REF DIR: patients.csv, summary.json, state.json and trajectories/ of DIR are
# the bytes of REF (one line per comparison)
same() {
  local label=$1 ref=$2 dir=$3 f n
  for f in patients.csv summary.json state.json; do
    cmp "$ref/$f" "$dir/$f" || fail "$label: $f differs from the one-process run"
    echo "$label: $f identical (sha256 $(sha "$dir/$f"))"
  done
  if [ -d "$ref/trajectories" ] || [ -d "$dir/trajectories" ]; then
    [ "$(ls "$ref/trajectories")" = "$(ls "$dir/trajectories")" ] || fail "$label: trajectories/ holds other files"
    n=0
    for f in "$ref"/trajectories/*; do
      cmp "$f" "$dir/trajectories/$(basename "$f")" || fail "$label: trajectories/$(basename "$f") differs"
      n=$((n + 1))
    done
    echo "$label: trajectories/ identical ($n files)"
  fi
}

# mpi NP DIR ARGS...: an MPI run of NP ranks into DIR (the launcher's options: mpirun and
# launch), its output in DIR.log
launch=()
mpi() {
  local np=$1 dir=$2
  shift 2
  timeout 300 "${mpirun[@]}" "${launch[@]}" -np "$np" "$bin" trial "$@" --mpi --quiet --out "$dir" >"$dir.log" 2>&1 \
    || { cat "$dir.log" >&2; fail "mpirun -np $np exited $?"; }
  grep -q "\"mpi_ranks\": $np," "$dir/run.json" || fail "$dir/run.json has no \"mpi_ranks\": $np"
}

# (a) the default study, 1001 patients (4 does not divide it), 5 trajectory files
args=("$eliana" --patients 1001 --seed 7 --trajectories 5)
"$bin" trial "${args[@]}" --threads 2 --quiet --out "$work/eliana-1" >/dev/null 2>&1 || fail "the one-process run"
for np in 1 2 4; do
  mpi "$np" "$work/eliana-np$np" "${args[@]}"
  same "eliana mpi -np $np" "$work/eliana-1" "$work/eliana-np$np"
done

# trajectories spread over ranks (101 patients in 3 ranks: 0..33, 33..67, 67..101; the
# first 60) and every transfer in pieces of 4 KiB
args=("$eliana" --patients 101 --seed 8 --trajectories 60)
"$bin" trial "${args[@]}" --quiet --out "$work/pieces-1" >/dev/null 2>&1 || fail "the one-process run"
launch=(-x CARTKIN_MPI_PIECE_BYTES=4096)
mpi 3 "$work/pieces-np3" "${args[@]}"
launch=()
same "eliana mpi -np 3, 4 KiB pieces" "$work/pieces-1" "$work/pieces-np3"

# (b) a zoo study
args=("$kimmel" --patients 401 --seed 3)
"$bin" trial "${args[@]}" --quiet --out "$work/kimmel-1" >/dev/null 2>&1 || fail "the one-process run"
for np in 2 4; do
  mpi "$np" "$work/kimmel-np$np" "${args[@]}"
  same "kimmel2021 mpi -np $np" "$work/kimmel-1" "$work/kimmel-np$np"
done

# ---- errors: never a hang (each within 60 s), never a partial output

# expect LABEL CODE PATTERN CMD...: CMD exits with CODE (any nonzero for "nonzero") within
# 60 s and its output matches PATTERN
expect() {
  local label=$1 code=$2 pattern=$3 rc=0
  shift 3
  timeout 60 "$@" >"$work/err.log" 2>&1 || rc=$?
  [ "$rc" != 124 ] || fail "$label: no exit within 60 s"
  if [ "$code" = nonzero ]; then
    [ "$rc" != 0 ] || fail "$label: exit 0"
  else
    [ "$rc" = "$code" ] || { cat "$work/err.log" >&2; fail "$label: exit $rc, expected $code"; }
  fi
  grep -q -- "$pattern" "$work/err.log" || { cat "$work/err.log" >&2; fail "$label: no message '$pattern'"; }
  echo "$label: exit $rc, $(grep -m1 -- "$pattern" "$work/err.log" | cut -c1-110)"
}

mkdir "$work/real"
ln -s real "$work/link"
expect "mpi -np 2, --out a symbolic link" nonzero "symbolic link" \
  "${mpirun[@]}" -np 2 "$bin" trial "$eliana" --patients 100 --mpi --quiet --out "$work/link"
[ -z "$(ls -A "$work/real")" ] || fail "a run wrote through the symbolic link"

expect "mpi -np 2 --shard 0/2" 2 "error: --mpi with --shard" \
  "${mpirun[@]}" -np 2 "$bin" trial "$eliana" --patients 100 --mpi --shard 0/2 --quiet --out "$work/shard"
expect "mpi -np 2 --resume" 2 "error: --mpi with --resume" \
  "${mpirun[@]}" -np 2 "$bin" trial "$eliana" --patients 100 --mpi --resume --quiet --out "$work/resume"
printf 'patients = "many"\n' >"$work/bad.toml"
expect "mpi -np 2, a bad study" 2 "error: .*bad.toml: patients" \
  "${mpirun[@]}" -np 2 "$bin" trial "$work/bad.toml" --mpi --quiet --out "$work/bad"
[ "$(grep -c '^error:' "$work/err.log")" = 1 ] || fail "a bad study: not one error line"
[ ! -e "$work/shard" ] && [ ! -e "$work/resume" ] && [ ! -e "$work/bad" ] || fail "a refused run made its directory"

# another run's outputs are refused without --force and left as they were
sum_before=$(cat "$work/kimmel-np2"/* 2>/dev/null | sha256sum)
expect "mpi -np 2, another run's directory" 1 "holds another run" \
  "${mpirun[@]}" -np 2 "$bin" trial "$eliana" --patients 100 --mpi --quiet --out "$work/kimmel-np2"
[ "$(cat "$work/kimmel-np2"/* 2>/dev/null | sha256sum)" = "$sum_before" ] || fail "a refused run changed the directory"

# a full disk at rank 0 after the start (a 64 KiB file-size limit on the ranks; the
# launcher itself needs its files): the job ends, and the directory holds no complete run
expect "mpi -np 2, a full disk at rank 0" 1 "error: MPI rank 0: patients.csv" \
  "${mpirun[@]}" -np 2 sh -c "trap '' XFSZ; ulimit -f 128; exec \"\$0\" \"\$@\"" \
  "$bin" trial "$eliana" --patients 1000 --mpi --quiet --out "$work/full"
for f in run.json summary.json state.json patients.csv; do
  [ ! -e "$work/full/$f" ] || fail "a failed run left $f"
done

rm -rf "$work"
echo "MPI: every check holds"
