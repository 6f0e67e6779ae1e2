#!/usr/bin/env bash
# Run the demo, wait until every demo KR has a value, and check its /metrics
# with `promtool check metrics` (no findings allowed).
set -euo pipefail
bin=${1:-target/release/okrd}
port=${PORT:-19785}
out=$(mktemp -d)
"$bin" demo --listen "127.0.0.1:$port" >"$out/demo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/metrics" -o "$out/metrics" 2>/dev/null \
     && [ "$(grep -c '^okr_key_result_value' "$out/metrics")" -ge 5 ]; then
    break
  fi
  sleep 1
done
values=$(grep -c '^okr_key_result_value' "$out/metrics" || true)
echo "demo KRs with a value: $values"
if [ "$values" -lt 5 ]; then
  echo "the demo did not produce a value for every KR within 60 s"; cat "$out/demo.log"; exit 1
fi
findings=$(promtool check metrics <"$out/metrics" 2>&1) || { echo "$findings"; exit 1; }
if [ -n "$findings" ]; then echo "promtool findings:"; echo "$findings"; exit 1; fi
echo "promtool check metrics: no findings ($(wc -l <"$out/metrics") lines)"
