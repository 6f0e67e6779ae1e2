-- wrk script for bench/api.sh: POST /api/v1/key-results/<id>/check-ins with
-- {"value": n}, n random in 0..100, walking round the KRs kr-0000 ..
-- kr-<N-1> (N from $OKRD_BENCH_KRS, default 1000), each wrk thread from its
-- own offset. Authorization and Content-Type come from wrk's -H options.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local n = tonumber(os.getenv("OKRD_BENCH_KRS") or "1000")
local count = 0

function setup(thread)
  count = count + 1
  thread:set("thread_index", count - 1)
end

local next_kr

function init(args)
  local index = thread_index or 0
  next_kr = (index * 997) % n
  math.randomseed(os.time() * 1000 + index)
end

function request()
  local path = string.format("/api/v1/key-results/kr-%04d/check-ins", next_kr)
  next_kr = (next_kr + 1) % n
  return wrk.format("POST", path, nil, string.format('{"value": %d}', math.random(0, 100)))
end
