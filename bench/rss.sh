#!/usr/bin/env bash
# Daemon memory with 10,000 KRs (target RSS < 100 MiB): every KR bound to a
# local mock JSON API and fetched each minute. Prints a table; exits 1 when
# the target is missed or a fetch failed.
# Usage: bench/rss.sh [path/to/okrd] [krs] [seconds]
set -euo pipefail
bin=${1:-target/release/okrd}
krs=${2:-10000}
secs=${3:-75}
port=${PORT:-19786}
mock_port=${MOCK_PORT:-19787}
dir=$(mktemp -d)
trap 'kill $pid $mock 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

python3 - "$dir/okrs.toml" "$krs" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
out = ['[[periods]]\nid = "now"\nstart = "2000-01-01"\nend = "2999-12-31"\n']
teams = (n + 24) // 25
for t in range(teams):
    out.append(f'[[teams]]\nid = "team-{t}"\nname = "Team {t}"\n')
for o in range((n + 4) // 5):
    out.append(f'[[objectives]]\nid = "o-{o}"\ntitle = "Objective {o}"\nperiod = "now"\nteam = "team-{o * 5 // 25}"\n')
for k in range(n):
    out.append(f'[[key_results]]\nid = "kr-{k}"\nobjective = "o-{k // 5}"\nteam = "team-{k // 25}"\n'
               f'owner = "owner{k // 5}@example.com"\ntitle = "Key result {k}"\nkind = "increase"\nstart = 0\ntarget = 100\n'
               f'[key_results.source]\nuse = "mock"\n')
open(path, "w").write("\n".join(out))
PY
cat >"$dir/okrd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$dir/okrd.db"
[okrs]
files = ["okrs.toml"]
max_krs_per_owner_per_period = 5
[scheduler]
default_schedule = "* * * * *"
jitter = "50s"
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
python3 - "$mock_port" <<'PY' &
import sys, json, random
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"v": random.randint(0, 100)}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
mock=$!
start=$(date +%s.%N)
"$bin" serve --config "$dir/okrd.toml" 2>"$dir/okrd.log" &
pid=$!
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
ready=$(echo "$(date +%s.%N) - $start" | bc)
sleep "$secs"
rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
cpu=$(awk '{print ($14+$15)/100}' /proc/$pid/stat)
render=$(curl -s -o "$dir/metrics" -w '%{time_total}' "http://127.0.0.1:$port/metrics")
gzipped=$(curl -s -H 'Accept-Encoding: gzip' -o "$dir/metrics.gz" -w '%{time_total}' "http://127.0.0.1:$port/metrics")
fetches=$(awk '/^okr_source_fetches_total/{s+=$2} END{print s+0}' "$dir/metrics")
failures=$(awk '/^okr_source_fetch_failures_total/{s+=$2} END{print s+0}' "$dir/metrics")
printf '| %-36s | %14s |\n' "measure ($krs KRs, ${secs}s)" "value"
printf '|%s|%s|\n' "--------------------------------------" "----------------"
printf '| %-36s | %10.1f MiB |\n' "RSS (target < 100 MiB)" "$(echo "$rss/1024" | bc -l)"
printf '| %-36s | %10.1f MiB |\n' "peak RSS" "$(echo "$hwm/1024" | bc -l)"
printf '| %-36s | %12.1f s |\n' "start-up to ready (apply included)" "$ready"
printf '| %-36s | %14s |\n' "fetches" "$fetches"
printf '| %-36s | %14s |\n' "failed fetches" "$failures"
printf '| %-36s | %12.2f s |\n' "CPU time" "$cpu"
printf '| %-36s | %11.1f ms |\n' "GET /metrics over HTTP" "$(echo "$render*1000" | bc -l)"
printf '| %-36s | %10.1f MiB |\n' "/metrics size" "$(echo "$(stat -c%s "$dir/metrics")/1048576" | bc -l)"
printf '| %-36s | %11.1f ms |\n' "GET /metrics, gzip" "$(echo "$gzipped*1000" | bc -l)"
printf '| %-36s | %10.1f MiB |\n' "/metrics size, gzip" "$(echo "$(stat -c%s "$dir/metrics.gz")/1048576" | bc -l)"
if [ "$rss" -ge $((100 * 1024)) ]; then
  echo "MISSED: RSS < 100 MiB" >&2; exit 1
fi
if [ "${failures%.*}" != 0 ]; then
  echo "MISSED: $failures failed fetches (expected none)" >&2; exit 1
fi
