-- Shared by every bench script (loaded with dofile): optional pacing and the JSON report.
--
-- BENCH_DELAY_MS > 0 paces each connection: after each answer it waits a random delay,
-- uniform in [0.5, 1.5] x BENCH_DELAY_MS, before its next request (closed loop with think
-- time; the jitter keeps the connections from marching in step).  wrk's latency figures never
-- include that wait.  Without it, wrk sends the next request as soon as the answer arrives.
--
-- done() prints one line, "BENCH_RESULT {json}", that bench/http/load.py parses.

local pace_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if pace_ms > 0 then
   math.randomseed(os.time())
   function delay()
      return math.floor(pace_ms * (0.5 + math.random()) + 0.5)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
      '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
