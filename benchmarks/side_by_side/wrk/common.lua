-- Loaded by each workload script. Counts responses outside 2xx in every wrk thread and
-- prints one JSON line ("SBS {...}") that the runner parses.
-- Env: SBS_TOKEN (bearer token), SBS_RUN (unique per wrk run).

local all_threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
  all_threads[#all_threads + 1] = thread
end

run_tag = os.getenv("SBS_RUN") or tostring(os.time())
bearer = { ["Authorization"] = "Bearer " .. (os.getenv("SBS_TOKEN") or "") }
bearer_json = { ["Authorization"] = bearer["Authorization"], ["Content-Type"] = "application/json" }
bad_status = 0

function init(args)
  -- Each thread its own random sequence, different on every run.
  math.randomseed(os.time() + 104729 * (thread_number or 0))
end

function response(status, headers, body)
  if status < 200 or status >= 300 then
    bad_status = bad_status + 1
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, thread in ipairs(all_threads) do
    non2xx = non2xx + (tonumber(thread:get("bad_status")) or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'SBS {"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, '
      .. '"non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    non2xx, errors.connect + errors.read + errors.write + errors.timeout))
end
