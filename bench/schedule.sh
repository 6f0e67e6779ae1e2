#!/usr/bin/env bash
# Scheduling at scale: one daemon, 10,000 KRs on a one-minute schedule, each
# bound to a catalog connector (`plausible`) whose base_url is a local mock
# API (examples/bench_mock.rs). Targets: every binding fetched each minute,
# schedule lag p99 < 1 s, RSS < 150 MiB; reports CPU time per fetch. Exits 1
# when a target is missed (after printing the table).
#
# Usage: bench/schedule.sh [options]
#   --connector plausible|http_json   catalog connector, or the native one (default plausible)
#   --minutes N                       measured minutes (default 3)
#   --krs N                           KRs (default 10000)
#   --jitter D                        [scheduler] jitter (default 60s; a one-minute schedule caps it at 30s)
#   --max-concurrency N               [scheduler] max_concurrency (default: the daemon's, 16)
#   --db-connections N                [database] max_connections (default: the daemon's, 8)
#   --rate-limit R                    the source's rate_limit (default 1000/second), left out
#                                     with a note if this build's config has no such key
#   --cpu-hogs N                      run N busy loops alongside, to measure on cores shared
#                                     with other work (e.g. 2 on a 2-core machine with no builds running)
#   --io-hog                          also write and fsync 64 MiB every second or so (a linker's writes)
#   --okrd PATH                       the daemon to measure (default: the release build)
#   --no-build                        use the binaries already built
# Environment: CARGO_TARGET_DIR (where the binaries are), PORT, MOCK_PORT,
# KEEP=1 keeps the temporary directory (config, OKRs, database, log, scrapes).
#
# Measurement: after the daemon is ready it lets one whole minute of slots
# run, then scrapes /metrics 3 s before each of the next N+1 boundaries: each
# 60 s between scrapes holds every binding's run once (jittered runs may
# start anywhere in their minute). Counters and histogram buckets are
# differences over the window. CPU is the daemon's utime+stime over the window minus the
# scrapes themselves (a 10,000-KR exposition costs the daemon CPU that is not
# fetching). After the daemon stops, the database is asked which KRs got a
# check-in for each slot.
set -euo pipefail
cd "$(dirname "$0")/.."

connector=plausible
minutes=3
krs=10000
jitter=60s
concurrency=
db_connections=
hogs=0
io_hog=0
rate_limit=1000/second
build=1
bin=
while [ $# -gt 0 ]; do
  case $1 in
    --connector) connector=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --krs) krs=$2; shift 2 ;;
    --jitter) jitter=$2; shift 2 ;;
    --max-concurrency) concurrency=$2; shift 2 ;;
    --db-connections) db_connections=$2; shift 2 ;;
    --rate-limit) rate_limit=$2; shift 2 ;;
    --cpu-hogs) hogs=$2; shift 2 ;;
    --io-hog) io_hog=1; shift ;;
    --okrd) bin=$2; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $connector in plausible|http_json) ;; *) echo "--connector: plausible or http_json" >&2; exit 2 ;; esac

target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  cargo build --release --quiet --bin okrd --example bench_mock
fi
bin=${bin:-$target/release/okrd}
mock_bin=$target/release/examples/bench_mock
port=${PORT:-19788}
mock_port=${MOCK_PORT:-19789}
dir=$(mktemp -d)
pid= mock= sampler= hog_pids=
cleanup() {
  for p in $sampler $pid $mock $hog_pids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

python3 - "$dir/okrs.toml" "$krs" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
out = ['[[periods]]\nid = "now"\nstart = "2000-01-01"\nend = "2999-12-31"\n']
for t in range((n + 24) // 25):
    out.append(f'[[teams]]\nid = "team-{t}"\nname = "Team {t}"\n')
for o in range((n + 4) // 5):
    out.append(f'[[objectives]]\nid = "o-{o}"\ntitle = "Objective {o}"\nperiod = "now"\nteam = "team-{o * 5 // 25}"\n')
for k in range(n):
    out.append(f'[[key_results]]\nid = "kr-{k}"\nobjective = "o-{k // 5}"\nteam = "team-{k // 25}"\n'
               f'owner = "owner{k // 5}@example.com"\ntitle = "Key result {k}"\nkind = "increase"\nstart = 0\ntarget = 100\n'
               f'[key_results.source]\nuse = "mock"\n')
open(path, "w").write("\n".join(out))
PY

write_config() { # $1: the source's rate_limit line (may be empty)
  cat >"$dir/okrd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$dir/okrd.db"
${db_connections:+max_connections = $db_connections}
[okrs]
files = ["okrs.toml"]
max_krs_per_owner_per_period = 5
[scheduler]
default_schedule = "* * * * *"
jitter = "$jitter"
${concurrency:+max_concurrency = $concurrency}
[log]
level = "warn"
TOML
  if [ "$connector" = plausible ]; then
    cat >>"$dir/okrd.toml" <<TOML
[[sources]]
name = "mock"
connector = "plausible"
$1
[sources.params]
base_url = "http://127.0.0.1:$mock_port"
site_id = "bench.example"
api_key = { env = "OKRD_BENCH_PLAUSIBLE_KEY" }
TOML
  else
    cat >>"$dir/okrd.toml" <<TOML
[[sources]]
name = "mock"
connector = "http_json"
$1
[sources.params]
url = "http://127.0.0.1:$mock_port/v"
value = "\$.v"
TOML
  fi
}
export OKRD_BENCH_PLAUSIBLE_KEY=bench-key
rate_note="rate_limit = \"$rate_limit\""
write_config "rate_limit = \"$rate_limit\""
if ! "$bin" check --config "$dir/okrd.toml" >"$dir/check.log" 2>&1; then
  if grep -q rate_limit "$dir/check.log"; then
    rate_note="none: this build has no [[sources]] rate_limit"
    write_config ""
    "$bin" check --config "$dir/okrd.toml" >"$dir/check.log" 2>&1 || { cat "$dir/check.log"; exit 1; }
  else
    cat "$dir/check.log"; exit 1
  fi
fi

now() { date +%s.%N; }
sleep_until() { local s; s=$(echo "$1 - $(now)" | bc); case $s in -*) ;; *) sleep "$s" ;; esac; }
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
hz=$(getconf CLK_TCK)
machine_cpu() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat; } # total idle+iowait

"$mock_bin" "$mock_port" &
mock=$!
for _ in $(seq 1 "$hogs"); do
  # Bounded like everything here: ends by itself even if this script is killed.
  timeout $(( (minutes + 5) * 60 )) sh -c 'while :; do :; done' &
  hog_pids="$hog_pids $!"
done
if [ "$io_hog" = 1 ]; then
  timeout $(( (minutes + 5) * 60 )) sh -c 'while :; do dd if=/dev/zero of="$1/io-hog" bs=1M count=64 conv=fdatasync status=none; sleep 1; done' sh "$dir" &
  hog_pids="$hog_pids $!"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(now)
"$bin" serve --config "$dir/okrd.toml" 2>"$dir/okrd.log" &
pid=$!
for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "daemon not ready"; cat "$dir/okrd.log"; exit 1; }
ready=$(echo "$(now) - $start" | bc)

# RSS every second, for the largest value while scheduling (VmHWM includes start-up).
( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null; sleep 1; done ) >"$dir/rss.samples" &
sampler=$!

# b0: the first boundary at least 5 s away; its slot is run by every binding.
# First scrape 3 s before the boundary after it.
b0=$(( ($(date +%s) + 5) / 60 * 60 + 60 ))
scrapes=$dir/scrapes
: >"$scrapes"
cpu_window=0 machine_start= scrape_end_cpu=
for k in $(seq 0 "$minutes"); do
  at=$(( b0 + 60 * (k + 1) - 3 ))
  sleep_until "$at"
  before=$(cpu_of "$pid")
  if [ -n "$scrape_end_cpu" ]; then cpu_window=$(( cpu_window + before - scrape_end_cpu )); fi
  [ "$k" = "$minutes" ] && machine_end=$(machine_cpu)
  curl -fs "http://127.0.0.1:$port/metrics" -o "$dir/metrics.$k"
  scrape_end_cpu=$(cpu_of "$pid")
  [ "$k" = 0 ] && machine_start=$(machine_cpu)
  echo "$k $at $before $scrape_end_cpu" >>"$scrapes"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
mock_cpu=$(cpu_of "$mock")
curl -fs "http://127.0.0.1:$port/metrics" -o /dev/null
mock_stats=$(curl -fs "http://127.0.0.1:$mock_port/stats" | tr '\n' ' ')
kill "$sampler" 2>/dev/null || true
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=

export dir minutes krs b0 hz cpu_window connector jitter rate_note ready rss hwm mock_cpu \
  load_start load_end mock_stats machine_start machine_end
export hogs io_hog max_concurrency=${concurrency:-16} db_connections=${db_connections:-8} cores=$(nproc) fs=$(df -T "$dir" | awk 'NR==2{print $2}')
python3 - <<'PY'
import os, re, sqlite3, sys
e = os.environ
d, minutes, krs, b0 = e["dir"], int(e["minutes"]), int(e["krs"]), int(e["b0"])

def parse(path):
    fetches = failures = 0.0
    buckets = {}
    for line in open(path):
        if line.startswith("okr_source_fetches_total"):
            fetches += float(line.split()[-1])
        elif line.startswith("okr_source_fetch_failures_total"):
            failures += float(line.split()[-1])
        elif line.startswith("okr_scheduler_lag_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', line).group(1)
            buckets[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return fetches, failures, buckets

snaps = [parse(f"{d}/metrics.{k}") for k in range(minutes + 1)]
if not snaps[0][2]:
    sys.exit("this okrd has no okr_scheduler_lag_seconds histogram")
per_minute = [int(snaps[k + 1][0] - snaps[k][0]) for k in range(minutes)]
fetches = snaps[-1][0] - snaps[0][0]
failures = int(snaps[-1][1] - snaps[0][1])
bounds = sorted(snaps[0][2])
cum = [snaps[-1][2][b] - snaps[0][2][b] for b in bounds]
starts = cum[-1]

def show(v):
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"

def quantile(q):
    # As PromQL's histogram_quantile: the bucket holding rank q*n, linear
    # interpolation inside it (lower bound 0 for the first bucket).
    if starts == 0:
        return "n/a"
    rank = q * starts
    for i, c in enumerate(cum):
        if c >= rank:
            if bounds[i] == float("inf"):
                return f"> {bounds[i - 1]:g} s"
            lo, below = (bounds[i - 1], cum[i - 1]) if i else (0.0, 0.0)
            inside = c - below
            return show(lo + (bounds[i] - lo) * ((rank - below) / inside if inside else 1.0))

top = next(i for i in range(len(cum)) if cum[i] == starts)
if bounds[top] == float("inf"):
    worst = f"> {bounds[top - 1]:g} s"
else:
    worst = f"{show(bounds[top - 1]) if top else '0'} – {show(bounds[top])}"
over_1s = int(starts - cum[bounds.index(1.0)])

cpu_s = int(e["cpu_window"]) / int(e["hz"])
t0, i0 = map(int, e["machine_start"].split())
t1, i1 = map(int, e["machine_end"].split())
busy = 100.0 * (1 - (i1 - i0) / (t1 - t0)) if t1 > t0 else 0.0
cores = int(e["cores"])

# Which KRs got a check-in for each slot that finished before the last
# scrape: b0 and the following N-1 (idempotency key kr@slot_ms).
db = sqlite3.connect(f"file:{d}/okrd.db?mode=ro", uri=True)
complete = [
    db.execute("SELECT COUNT(DISTINCT key_result_id) FROM check_ins WHERE idempotency_key = key_result_id || '@' || ?",
               (str((b0 + 60 * k) * 1000),)).fetchone()[0]
    for k in range(minutes)
]
samples = [int(x) for x in open(f"{d}/rss.samples") if x.strip()]
mib = lambda kib: f"{int(kib) / 1024:.1f} MiB"

window = minutes * 60
rows = [
    ("connector", f"{e['connector']} (mock on 127.0.0.1)"),
    ("scheduler", f"* * * * *, jitter {e['jitter']}, max_concurrency {e['max_concurrency']}"),
    ("database", f"SQLite, max_connections {e['db_connections']}"),
    ("source rate_limit", e["rate_note"]),
    ("start-up to ready (apply included)", f"{float(e['ready']):.1f} s"),
    ("fetches per minute", " / ".join(map(str, per_minute)) + f"  (target {krs})"),
    ("KRs with a check-in, per slot", " / ".join(map(str, complete)) + f"  of {krs}"),
    ("failed fetches", str(failures)),
    ("job starts (lag samples)", str(int(starts))),
    ("schedule lag p50", quantile(0.5)),
    ("schedule lag p99 (target < 1 s)", quantile(0.99)),
    ("schedule lag max (its bucket)", worst),
    ("job starts later than 1 s", str(over_1s)),
    ("RSS at the end (target < 150 MiB)", mib(e["rss"])),
    ("RSS max while scheduling (1 s samples)", mib(max(samples)) if samples else "n/a"),
    ("peak RSS (VmHWM, start-up included)", mib(e["hwm"])),
    ("daemon CPU over the window", f"{cpu_s:.1f} s of {window} s ({100 * cpu_s / window:.0f}% of a core)"),
    ("CPU per fetch", f"{1e6 * cpu_s / fetches:.0f} µs" if fetches else "n/a"),
    ("mock CPU (whole run)", f"{int(e['mock_cpu']) / int(e['hz']):.1f} s; served {e['mock_stats'].strip()}"),
    ("machine busy over the window", f"{busy:.0f}% of {cores} cores" + (f", {e['hogs']} of them busy loops of this bench" if e['hogs'] != '0' else "")
     + (", with this bench's fsync'd writes" if e['io_hog'] == '1' else "")),
    ("load average start → end", f"{e['load_start']} → {e['load_end']}"),
    ("database file system", e["fs"]),
]
w = max(len(r[0]) for r in rows)
v = max(len(r[1]) for r in rows)
print(f"| {'measure (' + str(krs) + ' KRs, ' + str(minutes) + ' min)':<{w}} | {'value':<{v}} |")
print(f"|{'-' * (w + 2)}|{'-' * (v + 2)}|")
for name, value in rows:
    print(f"| {name:<{w}} | {value:<{v}} |")

# The gate. Lag p99 < 1 s is PromQL's histogram_quantile(0.99) <= 1: at least
# 99% of the starts in buckets up to 1 s (1 s is a bucket bound).
missed = []
if min(complete) < krs:
    missed.append(f"every binding fetched each minute: {min(complete)} of {krs} in the worst slot")
if failures:
    missed.append(f"{failures} failed fetches")
if starts == 0 or cum[bounds.index(1.0)] < 0.99 * starts:
    missed.append(f"schedule lag p99 < 1 s: {quantile(0.99)}")
if int(e["rss"]) >= 150 * 1024:
    missed.append(f"RSS < 150 MiB: {mib(e['rss'])}")
for m in missed:
    print(f"MISSED: {m}", file=sys.stderr)
sys.exit(1 if missed else 0)
PY
