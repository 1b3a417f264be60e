-- wrk script: optional UM orders with unique client ids, and a JSON summary at the end.
-- Environment: WRK_KEYS (comma-separated API keys) switches on POST /um/order; empty = plain GET.
-- WRK_DELAY_MS paces each connection (a fixed offered rate = connections * 1000 / delay).
local keys = {}
for key in string.gmatch(os.getenv("WRK_KEYS") or "", "[^,]+") do keys[#keys + 1] = key end
local counter, thread_id = 0, 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(thread_id * 7919)
end

local pace = tonumber(os.getenv("WRK_DELAY_MS") or "")

function delay()
  if pace then return pace end
  return 0
end

request = function()
  if #keys == 0 then return wrk.format("GET", wrk.path) end
  counter = counter + 1
  local side = (counter % 2 == 0) and "BUY" or "SELL"
  local price = 50000 + math.random(-20, 20)
  local body = string.format(
    '{"client_id":"w%d-%d","symbol":"BTCUSDT","side":"%s","type":"LIMIT","qty":"0.001","price":"%d.00"}',
    thread_id, counter, side, price)
  local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = keys[(counter % #keys) + 1]}
  return wrk.format("POST", "/um/order", headers, body)
end

done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK_JSON {"requests":%d,"errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, bad, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
