#!/usr/bin/env bash
# CI for the R package (docs/R.md): install it into a fresh library, run its testthat tests
# against the command line, run docs/r_example.R.
#
#   bash r/ci.sh REPO_ROOT SCRATCH_DIR
#
# Needs R with testthat (Debian: r-base-core r-base-dev r-cran-testthat) and cargo. Uses
# $CARGO_TARGET_DIR from the environment (a relative one is taken from REPO_ROOT; unset: the
# workspace's target/), for the command line's binary and the package's native code alike.
# Writes only under SCRATCH_DIR, the target directory and r/src (the package's build files).
# Ends with the line "testthat: N passed, N failed" (test_that blocks).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: bash r/ci.sh REPO_ROOT SCRATCH_DIR" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
mkdir -p "$2"
scratch=$(cd "$2" && pwd)
cd "$root"
for tool in R Rscript cargo; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "r/ci.sh: $tool not found (R: apt-get install r-base-core r-base-dev r-cran-testthat)" >&2
    exit 1
  fi
done
if ! Rscript -e 'quit(status = !requireNamespace("testthat", quietly = TRUE))' >/dev/null 2>&1; then
  echo "r/ci.sh: the R package testthat is missing (apt-get install r-cran-testthat)" >&2
  exit 1
fi
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export CARGO_TARGET_DIR="$target"
R --version | head -1

t_start=$(date +%s)
step() { echo "---- r/ci.sh: $1 ($(($(date +%s) - t_start)) s)"; }

step "the command line (cargo build --release -p cartkin-cli)"
cargo build --release -p cartkin-cli
export CARTKIN_BIN="$target/release/cartkin"
export CARTKIN_REPO="$root"

step "R CMD INSTALL into a fresh library"
lib="$scratch/rlib"
rm -rf "$lib"
mkdir -p "$lib"
R CMD INSTALL --library="$lib" r
export R_LIBS="$lib"

step "testthat (r/tests/testthat)"
Rscript - <<'RS'
library(testthat)
library(cartkin)
res <- as.data.frame(test_dir(file.path(Sys.getenv("CARTKIN_REPO"), "r", "tests", "testthat"),
                              reporter = "summary", stop_on_failure = FALSE))
bad <- res$failed > 0 | res$error
skipped <- res$skipped & !bad
cat(sprintf("testthat: %d expectations in %d tests, %.1f s\n", sum(res$nb), nrow(res), sum(res$real)))
if (any(skipped)) cat("skipped in CI (everything should run here):", res$test[skipped], sep = "\n  ")
cat(sprintf("testthat: %d passed, %d failed\n", sum(!bad & !skipped), sum(bad | skipped)))
quit(status = if (any(bad | skipped)) 1 else 0)
RS

step "docs/r_example.R"
rm -rf "$scratch/r_example"
Rscript docs/r_example.R "$scratch/r_example"
for f in r_patient r_trial; do
  if [ ! -s "$scratch/r_example/$f.png" ] && [ ! -s "$scratch/r_example/$f.pdf" ]; then
    echo "r/ci.sh: docs/r_example.R wrote no $f figure" >&2
    exit 1
  fi
done

step "done"
