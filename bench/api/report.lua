-- Shared by get.lua and check_ins.lua: after the run, one machine-readable
-- line for bench/api.sh. Latencies are in microseconds. `non2xx` is wrk's
-- status error count (responses with status > 399); the API answers no 1xx/3xx.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "mean_us=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n",
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
