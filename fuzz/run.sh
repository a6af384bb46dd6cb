#!/usr/bin/env bash
# Builds every cargo-fuzz target (with debug assertions, so overflows count
# as crashes) and runs each for FUZZ_SECONDS (default 60) from its committed
# seed corpus, fuzz/corpus/<target>. The seeds are only read: what the run
# finds goes to a scratch directory. Prints executions and time per target;
# a crash fails the run and leaves its input in fuzz/artifacts/<target>/.
# Under CI=true a missing nightly toolchain fails rather than skips;
# cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "fuzz: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
  fi
  echo "fuzz: skipped: no nightly toolchain"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

started=$(date +%s)
cargo +nightly fuzz build -a
echo "fuzz: build took $(( $(date +%s) - started )) s"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target"
  target_started=$(date +%s)
  if ! cargo +nightly fuzz run -a "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 2>"$scratch/$target.log"; then
    tail -n 60 "$scratch/$target.log" >&2
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$target.log")
  echo "fuzz: $target: ${executions:-?} executions in $(( $(date +%s) - target_started )) s"
done
echo "fuzz: all targets took $(( $(date +%s) - started )) s"
