#!/usr/bin/env bash
# The Python package's CI: python/ci.sh REPO_ROOT SCRATCH_DIR
#
#  1. a fresh venv, `pip install ./python` (maturin builds the extension from source) with
#     pytest, numpy, pandas and matplotlib;
#  2. the command line (cargo build --release -p cartkin-cli; a no-op when it is built);
#  3. pytest python/tests with CARTKIN_BIN set (trial and simulate equal the command line's
#     outputs value for value, S1's reference endpoints, errors, Ctrl-C, threads, dicts);
#  4. docs/python_example.py, its two figures written into SCRATCH_DIR/example;
#  5. the portable wheel for older cluster nodes: maturin build --zig --compatibility
#     manylinux2014 (glibc 2.17, abi3: CPython >= 3.9, no target-cpu=native), installed
#     with plain pip (binary only, no Rust on PATH) into a second fresh venv, then a smoke
#     test; also under the oldest CPython pyenv has (3.9) when there is one.
#
# Uses CARGO_TARGET_DIR from the environment (default REPO_ROOT/target), so CI shares one
# target directory; everything else goes into SCRATCH_DIR (venvs, wheels, figures).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: python/ci.sh REPO_ROOT SCRATCH_DIR" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
mkdir -p "$2"
scratch=$(cd "$2" && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
python=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
start=$SECONDS
step() { echo "== python/ci.sh [$((SECONDS - start)) s] $*"; }

fresh_venv() {
  rm -rf "$1"
  "$python" -m venv "$1"
  "$1/bin/pip" install -q --upgrade pip
}

# ---- 1. install from source
step "venv + pip install ./python (builds the extension)"
src="$scratch/venv-src"
fresh_venv "$src"
"$src/bin/pip" install -q pytest numpy pandas matplotlib
"$src/bin/pip" install -q "$root/python"

# ---- 2. the command line the tests compare with
step "cargo build --release -p cartkin-cli"
(cd "$root" && cargo build --release -q -p cartkin-cli)
export CARTKIN_BIN="$CARGO_TARGET_DIR/release/cartkin"

# ---- 3. tests (run from the scratch dir: the installed package is imported, not the tree)
step "pytest python/tests"
(cd "$scratch" && "$src/bin/python" -m pytest -p no:cacheprovider -q -rs "$root/python/tests")

# ---- 4. the example
step "docs/python_example.py"
(cd "$scratch" && MPLCONFIGDIR="$scratch/mpl" "$src/bin/python" "$root/docs/python_example.py" "$scratch/example")
for f in python_example_patient.png python_example_trial.png; do
  [ -s "$scratch/example/$f" ] || { echo "python/ci.sh: $f not written" >&2; exit 1; }
done

# ---- 5. the manylinux2014 wheel (zig as the linker, from PyPI's ziglang)
step "maturin build --release --zig --compatibility manylinux2014"
build="$scratch/venv-build"
fresh_venv "$build"
"$build/bin/pip" install -q "maturin>=1.9,<2" ziglang
rm -rf "$scratch/wheels"
# The repository sets no target-cpu, so the wheel runs on any x86-64 (the batch solver
# picks its AVX2 path at run time).
(cd "$root" && PATH="$build/bin:$PATH" \
  maturin build --release --zig --compatibility manylinux2014 -m python/Cargo.toml --out "$scratch/wheels")
wheel=$(ls "$scratch"/wheels/cartkin-*-cp39-abi3-manylinux*.whl)
echo "wheel: $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"

smoke='
import sys, cartkin
r = cartkin.run_trial("eliana", patients=200, seed=1)
assert r.summary["n_patients"] == 200 and len(r.patients["id"]) == 200, r
s = cartkin.simulate("eliana", patient=3)
assert s.document["patient"] == 3
cr = r.summary["cr_rate"]
print(f"wheel smoke test ok: Python {sys.version.split()[0]}, {r}, cr_rate {cr}")
'
step "the wheel in a fresh venv (plain pip, binary only, no cargo on PATH)"
whl_venv="$scratch/venv-wheel"
fresh_venv "$whl_venv"
env -i HOME="$HOME" PATH=/usr/bin:/bin "$whl_venv/bin/pip" install -q --only-binary :all: "$wheel"
(cd "$scratch" && env -i HOME="$HOME" PATH=/usr/bin:/bin "$whl_venv/bin/python" -c "$smoke")

old=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9.*/bin/python3 2>/dev/null | tail -1 || true)
if [ -n "$old" ]; then
  step "the wheel under $("$old" --version) (abi3)"
  python="$old" fresh_venv "$scratch/venv-wheel-py39"
  env -i HOME="$HOME" PATH=/usr/bin:/bin "$scratch/venv-wheel-py39/bin/pip" install -q --only-binary :all: "$wheel"
  (cd "$scratch" && env -i HOME="$HOME" PATH=/usr/bin:/bin "$scratch/venv-wheel-py39/bin/python" -c "$smoke")
fi

step "done"
