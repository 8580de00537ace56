#!/bin/sh
# Build the Rust crate src/rust (cartkin-r) as a static library and copy it to
# src/rust-lib/libcartkin_r.a. Called by src/Makevars from src/ with R_HOME as $1.
#
# Target directory: $CARGO_TARGET_DIR if set (so that CI and a developer share one; a relative
# one is taken from the repository's root), else the Cargo workspace's (the repository's
# target/). The package builds from the repository only: the crate depends on the library
# crate two levels up (path "../../..").
# Nothing is written outside src/ and that directory (Cargo.lock is used as it is: --locked).
set -e
r_home="$1"
here=$(pwd)
root=$(cd ../.. && pwd)
if [ ! -f "$root/Cargo.toml" ] || [ ! -f "$root/src/bind.rs" ]; then
  echo "cartkin: the R package builds from the cartkin repository (r/ inside it): $root has no Cargo workspace" >&2
  exit 1
fi
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  # a relative one is taken from the repository's root (where CI and cargo commands run)
  case "$CARGO_TARGET_DIR" in
    /*) target="$CARGO_TARGET_DIR" ;;
    *) target="$root/$CARGO_TARGET_DIR" ;;
  esac
else
  target="$root/target"
fi
cargo="${CARGO:-cargo}"
if ! command -v "$cargo" >/dev/null 2>&1; then
  if [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ]; then
    cargo="$HOME/.cargo/bin/cargo"
  else
    echo "cartkin: cargo not found: install a Rust toolchain (https://rustup.rs), or set CARGO" >&2
    exit 1
  fi
fi
"$cargo" --version >&2
# extendr-ffi's build script asks `R` for the include directory: put this R first on PATH,
# and leave R_INCLUDE_DIR (set by R CMD INSTALL) out so that the build script's inputs are
# those of a plain `cargo build` of the workspace (no rebuild between the two).
env -u R_INCLUDE_DIR PATH="$r_home/bin:$PATH" CARGO_TARGET_DIR="$target" \
  "$cargo" build --release --locked --lib -p cartkin-r --manifest-path "$here/rust/Cargo.toml"
mkdir -p rust-lib
cp "$target/release/libcartkin_r.a" rust-lib/libcartkin_r.a
