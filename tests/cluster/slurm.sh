#!/usr/bin/env bash
# `cartkin slurm` on a real Slurm (tests/cluster/slurm-up.sh starts a single-node one):
#   A. a 4-shard study submitted with --submit --wait merges to the 1-process bytes;
#   B. a shard that fails (its directory is a file) cancels the merge job, --status and the
#      shard's log say why, --merge refuses the incomplete set naming the shard; fixed,
#      --resubmit runs that shard alone (the others' files untouched) and gives the same bytes;
#   C. a shard pre-empted (SIGTERM, as at a time limit) stops at a checkpoint; --resubmit
#      resumes it (patients reused, none counted twice) to the same bytes;
#   D. the scripts without --submit (DIR/slurm/submit.sh, for sites that wrap sbatch);
#   E. a 10-shard study against the 1-process run: bytes, wall times, shard overhead;
#   F. a sensitivity design as a job array of shards and a merge job (docs/ANALYSIS.md's
#      recipe) against the 1-process design.
# Usage: tests/cluster/slurm.sh CARTKIN_BINARY SCRATCH_DIR   (run from the repository root)
set -euo pipefail
B=$(realpath "$1")
S=$2
rm -rf "$S"
mkdir -p "$S"
S=$(realpath "$S")
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { # same DIR_A DIR_B LABEL: patients.csv, summary.json and trajectories/ byte for byte
  local a=$1 b=$2 label=$3 f
  for f in patients.csv summary.json; do
    cmp -s "$a/$f" "$b/$f" || fail "$label: $f differs from the 1-process run"
    echo "$label: $f identical to the 1-process run (sha256 $(sha256sum < "$b/$f" | cut -c1-16), $(wc -c < "$b/$f") bytes)"
  done
  if [ -d "$a/trajectories" ]; then
    diff -r -q "$a/trajectories" "$b/trajectories" >/dev/null || fail "$label: trajectories differ"
    echo "$label: trajectories/ identical ($(ls "$b/trajectories" | wc -l) files)"
  fi
}
queue_empty() { # wait (at most $1 s) until none of this script's jobs is queued or running
  local t=0 mine=(squeue -h --me -n cartkin-eliana,cartkin-eliana-merge)
  while [ -n "$("${mine[@]}")" ]; do
    sleep 1; t=$((t + 1)); [ $t -le "$1" ] || fail "jobs still queued after $1 s: $("${mine[@]}")"
  done
}
study=studies/eliana.toml
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

echo "== A. 4 shards through sbatch, merged by the merge job"
"$B" trial $study --patients 2000 --seed 7 --trajectories 3 --out "$S/ref" --quiet >/dev/null
timeout 300 "$B" slurm $study --patients 2000 --seed 7 --trajectories 3 --shards 4 --out "$S/a" --submit --wait \
  > "$S/a.out"
cat "$S/a.out"
grep -q 'shards complete: 4 of 4' "$S/a.out" || fail "A: not every shard complete"
same "$S/ref" "$S/a" "A (4 Slurm shards)"
grep -q '"merged_from"' "$S/a/run.json" || fail "A: run.json does not record the merge"

echo "== B. a failing shard cancels the merge; fixed, --resubmit runs it alone"
mkdir -p "$S/b/shards"
touch "$S/b/shards/2" # a file where shard 2's directory goes: the shard task fails
set +e
timeout 300 "$B" slurm $study --patients 2000 --seed 7 --trajectories 3 --shards 4 --out "$S/b" --submit --wait \
  > "$S/b1.out" 2> "$S/b1.err"
rc=$?
set -e
cat "$S/b1.out" "$S/b1.err"
[ $rc = 1 ] || fail "B: --wait with a failed shard exited $rc, not 1"
[ ! -e "$S/b/summary.json" ] || fail "B: a merged summary.json from an incomplete set"
grep -q 'shard 2: failed: .*not a directory' "$S/b1.out" || fail "B: --status does not say why shard 2 failed"
grep -q 'merge: job [0-9]* cancelled: a shard task failed (DependencyNeverSatisfied)' "$S/b1.out" \
  || fail "B: the merge job was not cancelled"
grep -q 'error: .*shards/2: exists and is not a directory' "$S/b/slurm/logs/shard-2.log" \
  || fail "B: shard 2's log does not say why"
echo "B: shard 2 failed, the merge job was cancelled (kill_invalid_depend), status and log say why"
set +e
"$B" slurm --merge "$S/b" 2> "$S/b2.err"
rc=$?
set -e
cat "$S/b2.err"
[ $rc = 1 ] && grep -q 'incomplete set: shard 2 of 4 is missing' "$S/b2.err" || fail "B: --merge accepted an incomplete set"
echo "B: --merge refuses the incomplete set and names shard 2"
(cd "$S/b/shards" && sha256sum 0/patients.csv 1/patients.csv 3/patients.csv 0/run.json 1/run.json 3/run.json) > "$S/b.sha"
rm "$S/b/shards/2"
timeout 300 "$B" slurm --resubmit "$S/b" --wait | tee "$S/b3.out"
grep -q 'submitted shards 2 as array job' "$S/b3.out" || fail "B: --resubmit did not submit shard 2 alone"
(cd "$S/b/shards" && sha256sum -c --quiet "$S/b.sha") || fail "B: --resubmit touched a complete shard"
echo "B: --resubmit ran shard 2 alone; shards 0, 1, 3 untouched (sha256 of their files unchanged)"
same "$S/ref" "$S/b" "B (after --resubmit)"
"$B" slurm --resubmit "$S/b" | grep -q 'nothing to submit' || fail "B: a complete run resubmitted"

echo "== C. a pre-empted shard (SIGTERM) resumes from its checkpoint"
"$B" trial $study --patients 12000 --seed 11 --out "$S/refc" --quiet >/dev/null
"$B" slurm $study --patients 12000 --seed 11 --shards 2 --out "$S/c" --submit > "$S/c1.out"
cat "$S/c1.out"
array=$(sed -n 's/.*as array job \([0-9]*\);.*/\1/p' "$S/c1.out")
# wait for shard 0's first checkpoint (1024 patients per chunk), then pre-empt it
t=0
until [ -s "$S/c/shards/0/progress.json" ] && grep -q '"next_id"' "$S/c/shards/0/progress.json"; do
  sleep 0.2; t=$((t + 1)); [ $t -le 600 ] || fail "C: no checkpoint of shard 0"
done
scancel --batch --signal=TERM "${array}_0"
queue_empty 300
"$B" slurm --status "$S/c" | tee "$S/c2.out"
grep -q 'shard 0: failed, checkpoint at [0-9]*/6000 patients' "$S/c2.out" || fail "C: no checkpoint recorded for shard 0"
[ ! -e "$S/c/summary.json" ] || fail "C: merged outputs without shard 0"
timeout 300 "$B" slurm --resubmit "$S/c" --wait > "$S/c3.out"
grep -q 'submitted shards 0 as array job' "$S/c3.out" || fail "C: --resubmit did not submit shard 0 alone"
reused=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['reused_patients'])" "$S/c/shards/0/run.json")
[ "$reused" -gt 0 ] || fail "C: the resumed shard reused no patients"
echo "C: shard 0 stopped by SIGTERM at a checkpoint, resumed with $reused patients reused"
same "$S/refc" "$S/c" "C (pre-empted and resumed)"

echo "== D. the scripts alone (DIR/slurm/submit.sh), as at a site that wraps sbatch"
"$B" slurm $study --patients 2000 --seed 7 --trajectories 3 --shards 3 --out "$S/d" > "$S/d.out"
grep -q 'submit with: .*/slurm/submit.sh' "$S/d.out" || fail "D: no submit instructions"
bash "$S/d/slurm/submit.sh"
queue_empty 300
same "$S/ref" "$S/d" "D (submit.sh, 3 shards)"

echo "== E. 10 shards of a 40,000-patient study against the 1-process run"
t0=$(now)
"$B" trial $study --patients 40000 --seed 5 --threads 2 --out "$S/refe" --quiet >/dev/null
t1=$(now)
timeout 900 "$B" slurm $study --patients 40000 --seed 5 --shards 10 --out "$S/e" --submit --wait >/dev/null
t2=$(now)
same "$S/refe" "$S/e" "E (10 Slurm shards)"
one=$(elapsed "$t0" "$t1")
ten=$(elapsed "$t1" "$t2")
shard_sum=$(python3 - "$S/e" <<'PY'
import json, sys, glob
w = [json.load(open(f))["wall_s"] for f in glob.glob(sys.argv[1] + "/shards/*/run.json")]
print(f"{sum(w):.1f} {min(w):.2f} {max(w):.2f}")
PY
)
echo "E: wall 1 process (2 threads) ${one} s; 10 Slurm shards (1 CPU each, 2 at a time) + merge ${ten} s;" \
  "shard compute (sum, min, max of the shards' wall_s) ${shard_sum} s"
echo "== F. a sensitivity design: a job array of 4 shards and a merge job (docs/ANALYSIS.md)"
sens=(sensitivity $study --factors studies/sensitivity/eliana_factors.toml --n 2 --patients 100)
"$B" "${sens[@]}" --out "$S/reff" >/dev/null 2>&1
mkdir -p "$S/f"
jid=$(sbatch --parsable --array=0-3 -J cartkin-sens -o "$S/f/shard-%a.log" \
  --wrap "$B ${sens[*]} --shard \$SLURM_ARRAY_TASK_ID/4 --resume --out $S/f/shards/\$SLURM_ARRAY_TASK_ID")
sbatch --parsable -J cartkin-sens-merge -o "$S/f/merge.log" --dependency=afterok:"$jid" \
  --wrap "$B sensitivity --merge $(echo "$S"/f/shards/{0..3}) --out $S/f" >/dev/null
t=0
while [ -n "$(squeue -h --me -n cartkin-sens,cartkin-sens-merge)" ]; do
  sleep 1; t=$((t + 1)); [ $t -le 300 ] || fail "F: jobs still queued after 300 s"
done
for f in design.json rows.csv indices.json indices.csv; do
  cmp -s "$S/reff/$f" "$S/f/$f" || { cat "$S/f"/*.log >&2; fail "F: $f differs from the 1-process design"; }
  echo "F (4 array tasks + merge): $f identical to the 1-process design (sha256 $(sha256sum < "$S/f/$f" | cut -c1-16))"
done
echo "Slurm: every check holds"
