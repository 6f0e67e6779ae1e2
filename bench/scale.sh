#!/usr/bin/env bash
# okrd at scale: one table at 10,000 and 100,000 KRs (or --krs N...), every
# row measured in this run, with Prometheus Pushgateway holding the same
# series beside okrd where a peer exists. Exits 1 when a 100,000-KR target
# is missed (after printing the table).
#
# Each KR is bound to a local mock JSON API (examples/bench_mock.rs, the
# native `http_json` connector: no backfill) and fetched every minute,
# jittered over the minute; the database is SQLite in a temporary directory.
#
# Rows, per KR count:
#   okrd check             wall time and peak RSS of `okrd check` on the files
#   fresh start            launch → /readyz on an empty database (the OKR file applied)
#   restart                SIGTERM, then launch → /readyz on the same database
#   steady RSS             after --warm seconds of fetching
#   peak RSS               VmHWM from launch to the end of the steady window
#   CPU per fetch          daemon CPU over a --window of fetching / fetches in it
#   /metrics render        median wall time of 5 plain GETs (curl's time_total)
#   /metrics size          plain and gzip bytes (Pushgateway: the same series)
#   8 concurrent scrapes   RSS growth while 8 gzip scrapes run at once
#
# Usage: bench/scale.sh [--krs "10000 100000"] [--warm S] [--window S] [--no-build] [--no-peer]
# Environment: CARGO_TARGET_DIR, PORT (okrd, default 19790; +1 the mock, +2 Pushgateway),
# KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="10000 100000"
warm=45
window=60
build=1
peer=1
while [ $# -gt 0 ]; do
  case $1 in
    --krs) sizes=$2; shift 2 ;;
    --warm) warm=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-peer) peer=0; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

target=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
  cargo build --release --quiet --bin okrd --example bench_mock
fi
bin=$target/release/okrd
mock_bin=$target/release/examples/bench_mock
port=${PORT:-19790}
mock_port=$((port + 1))
pg_port=$((port + 2))
pushgateway=$(command -v prometheus-pushgateway || command -v pushgateway || true)
if [ "$peer" = 1 ] && [ -z "$pushgateway" ]; then
  echo "Pushgateway not found (apt-get install -y prometheus-pushgateway): its column is left out" >&2
  peer=0
fi
dir=$(mktemp -d)
pid= mock= pg=
cleanup() {
  for p in $pid $mock $pg; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

"$mock_bin" "$mock_port" >/dev/null 2>&1 &
mock=$!

# The measuring half: timing, RSS sampling and concurrent scrapes.
cat >"$dir/measure.py" <<'PY'
import json, os, resource, subprocess, sys, threading, time, urllib.request

def rss_kib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0

def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def get(url, gzip=False):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    t = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        n = 0
        while chunk := r.read(1 << 16):
            n += len(chunk)
    return time.monotonic() - t, n

def wait_ready(url, pid, limit=300):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - t
        except Exception:
            pass
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit(f"process {pid} exited before it was ready")
        time.sleep(0.01)
    sys.exit(f"not ready after {limit} s")

def concurrent(url, pid, n=8):
    """RSS growth (KiB) while n gzip scrapes run at once, sampled every 2 ms."""
    before = rss_kib(pid)
    peak, done = before, []
    threads = [threading.Thread(target=lambda: done.append(get(url, gzip=True))) for _ in range(n)]
    for t in threads: t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_kib(pid)); time.sleep(0.002)
    return peak - before

cmd = sys.argv[1]
if cmd == "run":  # wall seconds and peak RSS (KiB) of a command
    t = time.monotonic()
    code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.monotonic() - t
    print(f"{wall:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {code}")
elif cmd == "ready":  # launch → ready, given the launch time
    url, pid, launched = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    wait_ready(url, pid)
    print(f"{time.time() - launched:.3f}")
elif cmd == "steady":  # warm up, then CPU and fetches over a window
    base, pid, warm, window = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    def fetches():
        with urllib.request.urlopen(base + "/metrics", timeout=120) as r:
            return sum(float(l.split()[-1]) for l in r.read().decode().splitlines()
                       if l.startswith("okr_source_fetches_total"))
    time.sleep(warm)
    f0 = fetches(); c0 = cpu_ticks(pid)
    time.sleep(window)
    c1 = cpu_ticks(pid); f1 = fetches()
    hz = os.sysconf("SC_CLK_TCK")
    print(json.dumps({"rss": rss_kib(pid), "hwm": rss_kib(pid, "VmHWM"),
                      "cpu_per_fetch_ms": 1000 * (c1 - c0) / hz / max(f1 - f0, 1),
                      "fetches": f1 - f0}))
elif cmd == "scrape":  # median plain render, sizes, concurrent growth
    url, pid = sys.argv[2], int(sys.argv[3])
    get(url)  # warm
    times = sorted(get(url)[0] for _ in range(5))
    _, plain = get(url)
    _, gz = get(url, gzip=True)
    growth = concurrent(url, pid)
    print(json.dumps({"render_ms": 1000 * times[2], "plain": plain, "gzip": gz, "growth": growth}))
PY
measure() { python3 "$dir/measure.py" "$@"; }

results=$dir/results
: >"$results"
for n in $sizes; do
  d=$dir/$n
  mkdir -p "$d"
  python3 - "$d/okrs.toml" "$n" <<'PY'
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
               f'unit = "visits"\n[key_results.source]\nuse = "mock"\n')
open(path, "w").write("\n".join(out))
PY
  cat >"$d/okrd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$d/okrd.db"
[okrs]
files = ["okrs.toml"]
max_krs_per_owner_per_period = 5
[scheduler]
default_schedule = "* * * * *"
jitter = "55s"
max_concurrency = 64
[log]
level = "warn"
[[sources]]
name = "mock"
connector = "http_json"
[sources.params]
url = "http://127.0.0.1:$mock_port/v"
value = "\$.v"
TOML
  read -r check_s check_kib check_code < <(measure run "$bin" check --config "$d/okrd.toml")
  [ "$check_code" = 0 ] || { echo "okrd check failed on $n KRs" >&2; exit 1; }

  launched=$(date +%s.%N)
  "$bin" serve --config "$d/okrd.toml" 2>>"$d/okrd.log" &
  pid=$!
  fresh=$(measure ready "http://127.0.0.1:$port/readyz" "$pid" "$launched")
  steady=$(measure steady "http://127.0.0.1:$port" "$pid" "$warm" "$window")
  scrape=$(measure scrape "http://127.0.0.1:$port/metrics" "$pid")
  curl -fs "http://127.0.0.1:$port/metrics" -o "$d/metrics"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true

  launched=$(date +%s.%N)
  "$bin" serve --config "$d/okrd.toml" 2>>"$d/okrd.log" &
  pid=$!
  restart=$(measure ready "http://127.0.0.1:$port/readyz" "$pid" "$launched")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  pid=

  peer_json=null
  if [ "$peer" = 1 ]; then
    "$pushgateway" --web.listen-address="127.0.0.1:$pg_port" >"$d/pushgateway.log" 2>&1 &
    pg=$!
    measure ready "http://127.0.0.1:$pg_port/-/ready" "$pg" "$(date +%s.%N)" >/dev/null
    # The same series: okrd's exposition pushed whole (Pushgateway adds job and instance labels).
    curl -fs -X PUT --data-binary "@$d/metrics" "http://127.0.0.1:$pg_port/metrics/job/okrd" \
      || { echo "Pushgateway refused the push" >&2; exit 1; }
    peer_json=$(measure scrape "http://127.0.0.1:$pg_port/metrics" "$pg")
    kill "$pg"; wait "$pg" 2>/dev/null || true
    pg=
  fi
  echo "{\"krs\": $n, \"check_s\": $check_s, \"check_kib\": $check_kib, \"fresh\": $fresh, \"restart\": $restart, \"steady\": $steady, \"scrape\": $scrape, \"peer\": $peer_json}" >>"$results"
done

python3 - "$results" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
mib = lambda kib: kib / 1024
def fmt_size(b): return f"{b / 1e6:.1f} MB" if b >= 1e6 else f"{b / 1e3:.0f} KB"
# name, value of a run, unit format, target (at 100,000 KRs) as (text, check)
rows = [
    ("fresh start (launch → ready)", lambda r: r["fresh"], "{:.2f} s", ("< 3 s", lambda v: v < 3)),
    ("restart (launch → ready)", lambda r: r["restart"], "{:.2f} s", ("< 1 s", lambda v: v < 1)),
    ("steady RSS", lambda r: mib(r["steady"]["rss"]), "{:.0f} MiB", ("< 200 MiB", lambda v: v < 200)),
    ("peak RSS (launch → steady)", lambda r: mib(r["steady"]["hwm"]), "{:.0f} MiB", None),
    ("peak / steady RSS", lambda r: r["steady"]["hwm"] / r["steady"]["rss"], "{:.2f}×", ("≤ 1.3×", lambda v: v <= 1.3)),
    ("okrd check, time", lambda r: r["check_s"], "{:.2f} s", ("< 1 s", lambda v: v < 1)),
    ("okrd check, peak RSS", lambda r: mib(r["check_kib"]), "{:.0f} MiB", ("< 150 MiB", lambda v: v < 150)),
    ("CPU per fetch", lambda r: r["steady"]["cpu_per_fetch_ms"], "{:.2f} ms", ("≤ 0.4 ms", lambda v: v <= 0.4)),
    ("/metrics render", lambda r: r["scrape"]["render_ms"], "{:.0f} ms", ("< 150 ms", lambda v: v < 150)),
    ("/metrics size", lambda r: r["scrape"]["plain"], "size", None),
    ("/metrics size, gzip", lambda r: r["scrape"]["gzip"], "size", ("≤ Pushgateway's", "peer")),
    ("RSS growth, 8 concurrent scrapes", lambda r: mib(r["scrape"]["growth"]), "{:.1f} MiB", ("< 32 MiB", lambda v: v < 32)),
]
peer_of = {"/metrics render": lambda p: p["render_ms"], "/metrics size": lambda p: p["plain"],
           "/metrics size, gzip": lambda p: p["gzip"], "RSS growth, 8 concurrent scrapes": lambda p: mib(p["growth"])}
def show(f, v): return fmt_size(v) if f == "size" else f.format(v)
head = ["figure"]
for r in runs:
    head.append(f"{r['krs']:,} KRs")
    if r["peer"]: head.append(f"Pushgateway, {r['krs']:,}")
head.append(f"target at {max(r['krs'] for r in runs):,}")
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
missed = []
big = max(runs, key=lambda r: r["krs"])
for name, get, f, target in rows:
    cells = [name]
    for r in runs:
        cells.append(show(f, get(r)))
        if r["peer"]:
            cells.append(show(f, peer_of[name](r["peer"])) if name in peer_of else "")
    if target:
        text, check = target
        if big["krs"] >= 100000:
            v = get(big)
            ok = (v <= peer_of[name](big["peer"]) if big["peer"] else True) if check == "peer" else check(v)
            if not ok: missed.append(f"{name}: {show(f, v)}, target {text}")
            text += "" if ok else " — missed"
        cells.append(text)
    else:
        cells.append("")
    print("| " + " | ".join(cells) + " |")
for m in missed: print(f"MISSED {m}", file=sys.stderr)
sys.exit(1 if missed else 0)
PY
