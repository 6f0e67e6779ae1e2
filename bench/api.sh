#!/usr/bin/env bash
# REST API throughput on SQLite: one daemon, 1,000 KRs without a source (one
# period holding today, 8 teams, 200 objectives), an admin token, and wrk on
# loopback against
#   (1) GET  /api/v1/key-results?period=<id>       (the default page of 50)
#   (2) POST /api/v1/key-results/<id>/check-ins    {"value": n}, round the 1,000 KRs
# Targets (2 cores): >= 20,000 reads/s and >= 2,000 check-ins/s; exits 1
# when one is missed or a warning is printed (non-2xx, lost check-ins...). Reports
# requests/s, p99, non-2xx answers, the check-ins found in the database
# (bench/api/verify.py: how many landed, and whether the API shows every KR's
# latest one), and where the CPU went (daemon, wrk, the rest of the machine).
#
# Usage: bench/api.sh [options]
#   --duration D          each wrk run (default 20s; wrk syntax: 10s, 1m)
#   --connections N       wrk connections (default 50)
#   --threads N           wrk threads (default 1: wrk shares the 2 cores with the daemon)
#   --krs N               KRs (default 1000)
#   --daemon-cpus LIST    pin the daemon with taskset -c LIST (e.g. 0,1); default unpinned
#   --wrk-cpus LIST       pin wrk with taskset -c LIST (e.g. 1); default unpinned
#   --only get|check-ins  run one of the two loads
#   --okrd PATH           the daemon to measure (default: the release build)
#   --no-build            use the binary already built
# Environment: CARGO_TARGET_DIR (where the binary is), PORT (default: a free
# loopback port), KEEP=1 keeps the temporary directory (config, OKRs,
# database, daemon log, raw wrk output).
#
# wrk's "non-2xx" is its status error count (status > 399; the API sends no
# 1xx/3xx), plus socket errors and timeouts (--timeout 10s), shown apart.
# CPU is utime+stime from /proc over each run: the daemon's, wrk's, and the
# rest of the machine's (other builds) from /proc/stat.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20s
connections=50
threads=1
krs=1000
daemon_cpus=
wrk_cpus=
only=
build=1
bin=
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --krs) krs=$2; shift 2 ;;
    --daemon-cpus) daemon_cpus=$2; shift 2 ;;
    --wrk-cpus) wrk_cpus=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --okrd) bin=$2; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $only in ''|get|check-ins) ;; *) echo "--only: get or check-ins" >&2; exit 2 ;; esac
[ "$krs" -ge 5 ] || { echo "--krs: at least 5" >&2; exit 2; }

if ! command -v wrk >/dev/null; then
  echo "wrk not found; installing it with apt-get" >&2
  apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi
target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  echo "building the release binary (cargo build --release)" >&2
  cargo build --release --quiet --bin okrd
fi
bin=${bin:-$target/release/okrd}
[ -x "$bin" ] || { echo "no daemon at $bin" >&2; exit 1; }
bin=$(realpath "$bin")
# What was measured: the commit, "+changes" when the tracked sources differ from it.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || rev="$rev+changes"
lua_dir=$(realpath bench/api)

port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d)
pid=
stop() { # SIGTERM, then SIGKILL after 15 s; sets $stopped to how it ended
  kill -TERM "$pid" 2>/dev/null || true
  stopped=killed
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { stopped=exited; break; }
    sleep 0.1
  done
  [ "$stopped" = exited ] || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup() {
  if [ -n "$pid" ]; then stop; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

period=$(python3 bench/api/okrs.py "$dir/okrs.toml" "$krs")
cat >"$dir/okrd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$dir/okrd.db"
[okrs]
files = ["okrs.toml"]
[log]
level = "warn"
TOML
config=$dir/okrd.toml
"$bin" --config "$config" check >"$dir/check.log" 2>&1 || { cat "$dir/check.log" >&2; exit 1; }

# taskset execs the command, so $! and wrk's CPU time are the program's own.
daemon_pin=() wrk_pin=()
[ -n "$daemon_cpus" ] && daemon_pin=(taskset -c "$daemon_cpus")
[ -n "$wrk_cpus" ] && wrk_pin=(taskset -c "$wrk_cpus")
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; } # all but idle+iowait, ticks
hz=$(getconf CLK_TCK)
base=http://127.0.0.1:$port

start=$(date +%s.%N)
"${daemon_pin[@]}" "$bin" --config "$config" serve >"$dir/okrd.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs "$base/readyz" >/dev/null || { echo "daemon not ready" >&2; cat "$dir/okrd.log" >&2; exit 1; }
ready=$(echo "$(date +%s.%N) - $start" | bc)
token=$("$bin" --config "$config" token create --role admin 2>"$dir/token.log") || { cat "$dir/token.log" >&2; exit 1; }
auth="Authorization: Bearer $token"

# One request of each kind by hand: the right answers, before any load.
get_url="$base/api/v1/key-results?period=$period"
code=$(curl -s -o "$dir/get.json" -w '%{http_code}' -H "$auth" "$get_url")
[ "$code" = 200 ] || { echo "GET $get_url: HTTP $code" >&2; cat "$dir/get.json" >&2; exit 1; }
page_items=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$dir/get.json")
page_bytes=$(stat -c%s "$dir/get.json")
code=$(curl -s -o "$dir/post.json" -w '%{http_code}' -H "$auth" -H 'Content-Type: application/json' \
  -d '{"value": 1}' "$base/api/v1/key-results/kr-0000/check-ins")
[ "$code" = 201 ] || { echo "POST check-in: HTTP $code" >&2; cat "$dir/post.json" >&2; exit 1; }

db=$dir/okrd.db

# run NAME URL WRK-ARGS...: one wrk run; leaves $dir/NAME.{wrk,cpu} and the
# phase's CPU figures in $dir/NAME.env.
run() {
  local name=$1 url=$2; shift 2
  echo "$name: wrk -t$threads -c$connections -d$duration ${wrk_cpus:+(cpus $wrk_cpus) }$url" >&2
  local d0 m0 t0 d1 m1 t1
  d0=$(cpu_of "$pid"); m0=$(machine_busy); t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time "${wrk_pin[@]}" wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s --latency \
      -H "$auth" "$@" "$url" >"$dir/$name.wrk" 2>&1; } 2>"$dir/$name.cpu" \
    || { cat "$dir/$name.wrk" >&2; exit 1; }
  d1=$(cpu_of "$pid"); m1=$(machine_busy); t1=$(date +%s.%N)
  grep -q '^RESULT ' "$dir/$name.wrk" || { cat "$dir/$name.wrk" >&2; exit 1; }
  {
    grep '^RESULT ' "$dir/$name.wrk" | sed 's/^RESULT //' | tr ' ' '\n' | sed 's/^/w_/'
    echo "daemon_s=$(echo "($d1 - $d0) / $hz" | bc -l)"
    echo "machine_s=$(echo "($m1 - $m0) / $hz" | bc -l)"
    echo "wall_s=$(echo "$t1 - $t0" | bc -l)"
    echo "wrk_s=$(awk '{print $1 + $2}' "$dir/$name.cpu")"
  } >"$dir/$name.env"
}

if [ "$only" != check-ins ]; then
  run get "$get_url" -s "$lua_dir/get.lua"
fi
if [ "$only" != get ]; then
  mark=$(python3 bench/api/verify.py "$db" mark)
  export OKRD_BENCH_KRS=$krs
  run check-ins "$base/api/v1/key-results/kr-0000/check-ins" \
    -H 'Content-Type: application/json' -s "$lua_dir/check_ins.lua"
  sleep 1 # requests wrk left in flight at the end may still commit
  python3 bench/api/verify.py "$db" after "$mark" "$base" "$token" >"$dir/landed.env"
fi

rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
daemon_total=$(echo "$(cpu_of "$pid") / $hz" | bc -l)
threads_os=$(awk '/Threads/{print $2}' "/proc/$pid/status")
t_stop=$(date +%s.%N)
stop
t_stop=$(echo "$(date +%s.%N) - $t_stop" | bc)
[ "$stopped" = exited ] || echo "warning: the daemon did not exit within 15 s of SIGTERM; killed" >&2
if grep -qiE 'error|panic' "$dir/okrd.log"; then
  echo "warning: the daemon logged errors (first lines):" >&2
  grep -iE 'error|panic' "$dir/okrd.log" | head -5 >&2
fi

export rev t_stop stopped dir krs period connections threads duration ready rss hwm daemon_total threads_os page_items page_bytes \
  daemon_cpus wrk_cpus cores=$(nproc) fs=$(df -T "$dir" | awk 'NR==2{print $2}') load=$(cut -d' ' -f1-3 /proc/loadavg) \
  wrk_version=$(wrk -v 2>&1 | head -1 | awk '{print $2}')
python3 - <<'PY'
import os, sys
e = os.environ
d = e["dir"]

def load(name):
    try:
        return dict(line.strip().split("=", 1) for line in open(f"{d}/{name}.env") if "=" in line)
    except FileNotFoundError:
        return None

def ms(us):
    us = float(us)
    if us < 10_000:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1000:.1f} ms" if us < 10_000_000 else f"{us / 1e6:.1f} s"

phases = [
    ("get", f"GET /api/v1/key-results?period={e['period']} (page of {e['page_items']})", 20_000),
    ("check-ins", "POST /api/v1/key-results/{id}/check-ins", 2_000),
]
warnings = []
missed = []
rows, details = [], []
for name, what, goal in phases:
    r = load(name)
    if r is None:
        continue
    reqs, secs = int(r["w_requests"]), int(r["w_duration_us"]) / 1e6
    rps = reqs / secs
    non2xx = int(r["w_non2xx"])
    sock = sum(int(r[f"w_{k}"]) for k in ("connect", "read", "write", "timeout"))
    if non2xx:
        warnings.append(f"{name}: {non2xx} non-2xx responses (must be 0); rerun with KEEP=1 and see okrd.log")
    if sock:
        warnings.append(f"{name}: {sock} socket errors/timeouts (connect {r['w_connect']}, read {r['w_read']}, "
                        f"write {r['w_write']}, timeout {r['w_timeout']})")
    met = "met" if rps >= goal else "NOT met"
    if rps < goal:
        missed.append(f"{name}: {rps:,.0f} requests/s, target {goal:,}")
    rows.append((what, f"{rps:,.0f}", ms(r["w_p99_us"]), str(non2xx) + (f" (+{sock} socket)" if sock else ""),
                 f"≥ {goal:,} ({met})"))
    wall = float(r["wall_s"])
    dcpu, wcpu, mcpu = float(r["daemon_s"]), float(r["wrk_s"]), float(r["machine_s"])
    other = max(0.0, mcpu - dcpu - wcpu)
    cores = int(e["cores"])
    details.append((name, ms(r["w_p50_us"]), ms(r["w_p90_us"]), ms(r["w_p99_us"]), ms(r["w_p999_us"]),
                    ms(r["w_max_us"]), f"{dcpu / wall:.2f}", f"{wcpu / wall:.2f}", f"{other / wall:.2f}",
                    f"{100 * mcpu / (wall * cores):.0f}%",
                    f"{1e6 * dcpu / reqs:.0f} µs" if reqs else "n/a"))

def table(header, body):
    w = [max(len(str(x[i])) for x in [header] + body) for i in range(len(header))]
    print("| " + " | ".join(str(h).ljust(w[i]) for i, h in enumerate(header)) + " |")
    print("|" + "|".join("-" * (n + 2) for n in w) + "|")
    for row in body:
        print("| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(row)) + " |")

pinning = []
if e["daemon_cpus"]: pinning.append(f"daemon on cpus {e['daemon_cpus']}")
if e["wrk_cpus"]: pinning.append(f"wrk on cpus {e['wrk_cpus']}")
print(f"okrd {e['rev']}, {e['krs']} KRs on SQLite ({e['fs']}), {e['cores']} cores; wrk {e['wrk_version']} -t{e['threads']} "
      f"-c{e['connections']} -d{e['duration']}; " + (", ".join(pinning) if pinning else "nothing pinned"))
print()
table(("what", "requests/s", "p99", "non-2xx", "target"), rows)
print()
table(("run", "p50", "p90", "p99", "p99.9", "max", "daemon cores", "wrk cores", "other cores",
       "machine busy", "daemon CPU/request"), details)
print()
landed = load("landed")
if landed:
    r = load("check-ins")
    ok = int(r["w_requests"]) - int(r["w_non2xx"])
    n, slack = int(landed["landed"]), int(e["connections"])
    print(f"- check-ins in the database after the POST run: {n:,} on {landed['distinct']} KRs "
          f"(wrk counted {ok:,} 2xx answers; {n - ok:+,} = requests in flight when wrk stopped; "
          f"audit rows for check-ins: {int(landed['audits']):,}); `{landed['probe']}`: {landed['probe_db']} "
          f"in the database, {landed['probe_api']} via its /check-ins")
    print(f"- KRs whose value through the API differs from their latest check-in in the database: "
          f"{landed['stale']} of {landed['krs_checked']}"
          + (f" (their latest check-ins are all among the {landed['stale_newest']} newest; API != database: "
             f"{landed['stale_examples'].replace(',', ', ')})"
             if landed["stale"] != "0" else ""))
    if n < ok:
        warnings.append(f"check-ins: {ok - n} answered 2xx but not in the database")
    elif n > ok + slack:
        warnings.append(f"check-ins: {n - ok} more in the database than 2xx answers (over the {slack} in flight at the end)")
    if landed["probe_api"] != landed["probe_db"] and not (landed["probe_api"] == "500+" and int(landed["probe_db"]) > 500):
        warnings.append(f"{landed['probe']}: the API lists {landed['probe_api']} check-ins, the database has {landed['probe_db']}")
    if landed["stale"] != "0":
        warnings.append(f"{landed['stale']} KRs show a value through the API that is not their latest check-in: "
                        "committed check-ins the daemon did not take in (if they are the newest, most likely "
                        "requests whose connection wrk closed at the end of the run)")
print(f"- daemon: CPU {float(e['daemon_total']):.1f} s in all (start-up and both runs), RSS at the end "
      f"{int(e['rss']) / 1024:.1f} MiB (peak {int(e['hwm']) / 1024:.1f} MiB), {e['threads_os']} threads; "
      f"ready {float(e['ready']):.1f} s after start; "
      + (f"exited {float(e['t_stop']):.1f} s after SIGTERM" if e["stopped"] == "exited" else "**did not exit on SIGTERM within 15 s**"))
print(f"- GET page: {e['page_items']} items, {int(e['page_bytes']):,} bytes; load average at the end {e['load']}")
for w in warnings:
    print(f"- **warning**: {w}")
if e["stopped"] != "exited":
    missed.append("the daemon did not exit within 15 s of SIGTERM")
for m in missed + warnings:
    print(f"MISSED: {m}", file=sys.stderr)
sys.exit(1 if missed or warnings else 0)
PY
