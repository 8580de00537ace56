#!/usr/bin/env bash
# Side-by-side race on the same patients and accuracy bar, in one run:
#   cartkin (examples/throughput) vs numbalsoda (compiled LSODA) and libroadrunner (CVODE BDF)
# on the first N patients of the peers' population (the minimal model, 365 days, 366 daily
# outputs, rtol 1e-6 with the peers' atol policy). Rounds alternate the tools so that machine
# noise hits all of them alike; each figure is the best of the rounds. Accuracy: max relative
# error of Cmax_EM and L_d28 against the peers' rtol 1e-10 reference (patients 0-49).
#
#   scripts/compare_peers.sh [N=2000] [ROUNDS=3]      (needs ../shared/peers/setup.sh done)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
ROUNDS=${2:-3}
PEERS=$(cd "${PEERS:-../shared/peers}" && pwd)
PY="$PEERS/.venv/bin/python"
[ -x "$PY" ] || { echo "peers venv missing: run $PEERS/setup.sh" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cargo build --release --example throughput >/dev/null 2>&1
TP=target/release/examples/throughput
REF="$PEERS/results/reference_summaries.csv"
POP="$PEERS/population_seed42.csv"

crate_run() { # threads -> us_per_patient (and saves the accuracy lines)
  "$TP" --population "$POP" --patients "$N" --threads "$1" --reference "$REF" > "$OUT/crate_t$1.txt"
  tail -n1 "$OUT/crate_t$1.txt" | sed 's/us_per_patient=//'
}
peer_run() { # script name, extra args, tag -> us_per_patient
  local script=$1 tag=$2; shift 2
  (cd "$PEERS" && "$PY" "$script" --n "$N" --out "$OUT/$tag" --repeat 1 "$@" >/dev/null 2>&1)
  "$PY" -c 'import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1]+"/*.json")[0]))["us_per_patient"])' "$OUT/$tag"
}
declare -A best
upd() { local k=$1 v=$2; if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($v < ${best[$k]})}"; then best[$k]=$v; fi; }
for r in $(seq 1 "$ROUNDS"); do
  upd crate_1 "$(crate_run 1)"
  rm -rf "$OUT/nb1"; upd numbalsoda_1 "$(peer_run peer_numbalsoda.py nb1)"
  upd crate_2 "$(crate_run 2)"
  rm -rf "$OUT/nb2"; upd numbalsoda_2 "$(peer_run peer_numbalsoda.py nb2 --threads 2)"
  if [ "$r" = 1 ]; then rm -rf "$OUT/rr"; upd roadrunner_1 "$(peer_run peer_roadrunner.py rr)"; fi
done
acc() { # raw per-patient csv of a peer -> "cmax_err / l28_err"
  "$PY" - "$1" "$REF" <<'PY'
import csv, sys
got = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[1]))}
ref = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[2]))}
rel = lambda a, b: abs(a - b) / max(abs(a), abs(b))
ec = max(rel(float(got[i]["Cmax_EM"]), float(ref[i]["Cmax_EM"])) for i in ref if i in got)
el = max(rel(float(got[i]["L_d28"]), float(ref[i]["L_d28"])) for i in ref if i in got)
print(f"{ec:.1e} / {el:.1e}")
PY
}
c_acc="$(grep max_rel_err_cmax "$OUT/crate_t1.txt" | cut -d= -f2) / $(grep max_rel_err_l28 "$OUT/crate_t1.txt" | cut -d= -f2)"
steps=$(grep steps_per_patient "$OUT/crate_t1.txt" | cut -d= -f2)
rhs=$(grep rhs_evals_per_patient "$OUT/crate_t1.txt" | cut -d= -f2)
nb_acc=$(acc "$(ls "$OUT"/nb1/raw/*.csv)")
rr_acc=$(acc "$(ls "$OUT"/rr/raw/*.csv)")
echo "# Side-by-side, $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), N = $N, best of $ROUNDS alternating rounds"
echo
echo "| tool | threads | us/patient | crate speed-up | max rel err Cmax_EM / L_d28 |"
echo "|---|---|---|---|---|"
printf "| cartkin (Dopri5Exp, %s steps, %s RHS/patient) | 1 | %.1f | 1.0 | %s |\n" "$steps" "$rhs" "${best[crate_1]}" "$c_acc"
printf "| cartkin | 2 | %.1f | %.2f (vs 1 thread) | same |\n" "${best[crate_2]}" "$(awk "BEGIN{print ${best[crate_1]}/${best[crate_2]}}")"
printf "| numbalsoda LSODA | 1 | %.1f | %.2f | %s |\n" "${best[numbalsoda_1]}" "$(awk "BEGIN{print ${best[numbalsoda_1]}/${best[crate_1]}}")" "$nb_acc"
printf "| numbalsoda LSODA | 2 | %.1f | %.2f (vs crate, 2 threads) | same |\n" "${best[numbalsoda_2]}" "$(awk "BEGIN{print ${best[numbalsoda_2]}/${best[crate_2]}}")"
printf "| libroadrunner CVODE BDF | 1 | %.1f | %.2f | %s |\n" "${best[roadrunner_1]}" "$(awk "BEGIN{print ${best[roadrunner_1]}/${best[crate_1]}}")" "$rr_acc"
