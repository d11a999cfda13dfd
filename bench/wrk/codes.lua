-- wrk script for scripts/bench-redirect: spreads GET requests over many link codes.
--
--   wrk -t2 -c64 -d10s --latency -s bench/wrk/codes.lua http://127.0.0.1:PORT -- [COUNT] [PREFIX]
--
-- Paths are /{PREFIX}{0000..COUNT-1} (defaults: COUNT 1000, PREFIX "c", i.e. c0000..c0999),
-- taken round-robin; each wrk thread starts at a different offset so the threads do not
-- hit the same code at the same time. A desktop browser's User-Agent is sent so the clicks
-- are stored as human (not bot) clicks, like real traffic.
--
-- done() prints one machine-readable line for the script to parse:
--   WRKSTATS requests=N duration_us=N rps=F p50_us=N p99_us=N non_2xx_3xx=N
--            connect_errors=N read_errors=N write_errors=N timeouts=N

local count = 1000
local prefix = "c"
local paths = {}
local next_index = 1

-- setup() runs in wrk's main Lua state once per thread, before that thread's init().
local threads_set_up = 0

function setup(thread)
  thread:set("bench_thread_index", threads_set_up)
  threads_set_up = threads_set_up + 1
end

function init(args)
  if args[1] ~= nil and args[1] ~= "" then count = tonumber(args[1]) end
  if args[2] ~= nil and args[2] ~= "" then prefix = args[2] end
  for i = 0, count - 1 do
    paths[i + 1] = string.format("/%s%04d", prefix, i)
  end
  -- The thread's index from setup(); spread the starting points over the list.
  local id = tonumber(wrk.thread:get("bench_thread_index")) or 0
  next_index = ((id * 7919) % count) + 1
  wrk.method = "GET"
  wrk.headers["User-Agent"] =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
    "Chrome/124.0.0.0 Safari/537.36"
  wrk.headers["Accept"] =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
  wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
end

function request()
  local path = paths[next_index]
  next_index = next_index + 1
  if next_index > count then next_index = 1 end
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1000000
  local rps = 0
  if seconds > 0 then rps = summary.requests / seconds end
  io.write(string.format(
    "WRKSTATS requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d non_2xx_3xx=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, rps,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect, e.read, e.write, e.timeout))
end
