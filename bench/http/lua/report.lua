-- Shared by every bench script (loaded with dofile): optional pacing and the JSON report.
--
-- BENCH_DELAY_MS > 0 paces each connection: after each answer it waits a random delay,
-- uniform in [0.5, 1.5] x BENCH_DELAY_MS, before its next request (closed loop with think
-- time; the jitter keeps the connections from marching in step).  wrk's latency figures never
-- include that wait.  Without it, wrk sends the next request as soon as the answer arrives.
--
-- BENCH_STATUSES=1 counts the answers by HTTP status (wrk itself only counts those >= 400),
-- added to the report as "statuses"; it costs wrk a Lua call per answer.
--
-- done() prints one line, "BENCH_RESULT {json}", that bench/http/load.py parses.

local pace_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if pace_ms > 0 then
   math.randomseed(os.time())
   function delay()
      return math.floor(pace_ms * (0.5 + math.random()) + 0.5)
   end
end

local counted = ""
if os.getenv("BENCH_STATUSES") == "1" then
   local threads = {}
   function setup(thread) -- in the main state, where done() runs
      threads[#threads + 1] = thread
   end
   statuses = {} -- global in each thread's state, read by done() through thread:get
   function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
   end
   function counted_statuses()
      local counts = {}
      for _, thread in ipairs(threads) do
         for status, n in pairs(thread:get("statuses")) do
            counts[status] = (counts[status] or 0) + n
         end
      end
      local parts = {}
      for status, n in pairs(counts) do
         parts[#parts + 1] = string.format('"%d":%d', status, n)
      end
      return ',"statuses":{' .. table.concat(parts, ",") .. "}"
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   if counted_statuses then
      counted = counted_statuses()
   end
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
      '"p50":%d,"p90":%d,"p99":%d,"p999":%d}%s}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), counted))
end
