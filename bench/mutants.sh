#!/usr/bin/env bash
# Mutation check of the domain (src/okr/ progress, status, rollup, rules and
# src/connectors/value.rs) with cargo-mutants; what is examined and which
# mutants are known equivalents live in .cargo/mutants.toml. Each mutant is
# tested with the library's unit tests only (`cargo test --lib`).
# Prints a table of outcomes; exits 1 when a mutant is missed (or the
# unmutated tree fails), so every change in the domain needs a test that sees it.
# Usage: bench/mutants.sh [extra cargo-mutants args, e.g. -F 'rollup' or --list]
# Env: MUTANTS_JOBS (default 1), MUTANTS_NICE (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "bench/mutants.sh needs cargo-mutants: cargo install cargo-mutants" >&2
    exit 2
fi
out=target/mutants
# A build directory of its own that survives between runs, so only the first
# run compiles the dependencies; no debug info, so each mutant links faster.
export CARGO_TARGET_DIR="$PWD/target/mutants/build"
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
mkdir -p "$out"

start=$(date +%s)
set +e
nice -n "${MUTANTS_NICE:-15}" cargo mutants --jobs "${MUTANTS_JOBS:-1}" \
    --output "$out" --colors never "$@"
rc=$?
set -e
secs=$(($(date +%s) - start))

case " $* " in
*" --list"* | *" --list-files"*) exit "$rc" ;;
esac
count() {
    local f="$out/mutants.out/$1.txt"
    if [ -f "$f" ]; then grep -c . "$f" || true; else echo 0; fi
}
caught=$(count caught) missed=$(count missed) unviable=$(count unviable) timeout=$(count timeout)
printf '\n%-10s %6s\n' outcome mutants
printf '%-10s %6s\n' caught "$caught" missed "$missed" unviable "$unviable" timeout "$timeout"
printf '%-10s %6s\n' total $((caught + missed + unviable + timeout))
printf 'wall time  %dm%02ds (jobs %s)\n' $((secs / 60)) $((secs % 60)) "${MUTANTS_JOBS:-1}"
if [ "$missed" -gt 0 ]; then
    echo "missed (add a test that asserts the contract, or explain in .cargo/mutants.toml):"
    sed 's/^/  /' "$out/mutants.out/missed.txt"
    exit 1
fi
# 2 = missed (handled above), 3 = timeouts: a mutant that hangs the tests is seen.
case $rc in 0 | 2 | 3) exit 0 ;; *) exit "$rc" ;; esac
