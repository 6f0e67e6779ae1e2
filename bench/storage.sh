#!/usr/bin/env bash
# Storage: how large the check-in history grows over a quarter, with and
# without the [storage] heartbeat and compaction, on SQLite and PostgreSQL.
# Runs examples/storage_sim.rs, which writes a quarter of fetches through
# the real check-in writer and compacts with the real compactor, then
# measures the check_ins table with its indexes (SQLite: the file after
# VACUUM; PostgreSQL: pg_total_relation_size after VACUUM FULL).
#
# A quarter of 10,000 KRs fetched every minute is 1.3 billion fetches, too
# many to write: each workload simulates a slice of KRs for the whole
# quarter (91 days) and the table extrapolates the slice's bytes per KR to
# the full count. Values change at random, on average every 6 hours
# (a step of ±1); otherwise a fetch returns the same value.
#
# Usage: bench/storage.sh [--slice-15m N] [--slice-1m N] [--change-every HOURS] [--no-build]
# Environment: CARGO_TARGET_DIR, OKRD_BENCH_POSTGRES_URL (a server where the
# user may create databases; default postgres://postgres@127.0.0.1:5432/postgres).
# PostgreSQL is skipped, with a message, when it is not reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

slice_15m=4
slice_1m=2
change_every=6
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --slice-15m) slice_15m=$2; shift 2 ;;
    --slice-1m) slice_1m=$2; shift 2 ;;
    --change-every) change_every=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  cargo build --release --quiet --example storage_sim
fi
sim=$target/release/examples/storage_sim
[ -x "$sim" ] || sim=$target/debug/examples/storage_sim
pg_admin=${OKRD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

backends=(sqlite)
if psql "$pg_admin" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  backends+=(postgres)
else
  echo "PostgreSQL skipped: cannot connect to $pg_admin (set OKRD_BENCH_POSTGRES_URL)" >&2
fi

# workload: label, KRs in the full count, fetch interval, KRs simulated
workloads=("1,000 KRs every 15 min|1000|15m|$slice_15m" "10,000 KRs every minute|10000|1m|$slice_1m")
# variant: label, heartbeat, raw_retention
variants=("every fetch stored|0s|0s" "heartbeat 1h|1h|0s" "compaction 35d|0s|35d" "heartbeat 1h + compaction 35d|1h|35d")

human() {
  awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1;
    while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s", b, u[i] }'
}

printf '| backend | workload | storage | fetches per KR | check-ins kept per KR | bytes per check-in | size after a quarter |\n'
printf '|---|---|---|---:|---:|---:|---:|\n'
for backend in "${backends[@]}"; do
  for w in "${workloads[@]}"; do
    IFS='|' read -r wlabel total every slice <<<"$w"
    for v in "${variants[@]}"; do
      IFS='|' read -r vlabel heartbeat retention <<<"$v"
      if [ "$backend" = sqlite ]; then
        url="sqlite://$tmp/sim.db"
        rm -f "$tmp"/sim.db*
      else
        name="okrd_bench_$$_$RANDOM"
        psql "$pg_admin" -qc "CREATE DATABASE $name" >/dev/null
        url="${pg_admin%/*}/$name"
      fi
      IFS=$'\t' read -r fetches _stored kept per_check_in per_kr < <(
        "$sim" --url "$url" --krs "$slice" --every "$every" --heartbeat "$heartbeat" \
          --retention "$retention" --change-every "$change_every")
      if [ "$backend" = postgres ]; then
        psql "$pg_admin" -qc "DROP DATABASE $name" >/dev/null
      fi
      printf '| %s | %s | %s | %d | %d | %s | %s |\n' "$backend" "$wlabel" "$vlabel" \
        $((fetches / slice)) $((kept / slice)) "$per_check_in" \
        "$(human "$(awk -v a="$per_kr" -v n="$total" 'BEGIN { printf "%.0f", a * n }')")"
    done
  done
done
printf '\nSize after a quarter: the simulated slice (%s resp. %s KRs for 91 days) extrapolated to the full KR count;\n' "$slice_15m" "$slice_1m"
printf 'values change on average every %s h. Bytes are the check_ins table with its indexes.\n' "$change_every"
