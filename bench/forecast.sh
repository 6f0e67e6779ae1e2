#!/usr/bin/env bash
# Forecasts: how far off the projected end value is, and how long one takes.
# Runs examples/forecast_backtest.rs, which backtests the forecast
# (src/okr/forecast.rs) on seeded synthetic 90-day series of four shapes
# (noisy line, s-curve, flat then rising, a single spike; see
# src/okr/forecast/backtest.rs) from the first 25%, 50% and 75% of their
# days, and prints the median error of the projected end value as a share of
# |target − start| and how often the 90% band held the actual end value.
# Then the time per forecast: alone, and while a rollup engine loads the
# history of many KRs at once, as a start does. Seeded: runs repeat.
#
# Usage: bench/forecast.sh [--seeds N] [--krs N] [--days N] [--no-build]
# Environment: CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds|--krs|--days) args+=("$1" "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  cargo build --release --quiet --example forecast_backtest
fi
"$target/release/examples/forecast_backtest" "${args[@]}"
