-- wrk script: optional UM orders with unique client ids, and a JSON summary at the end.
-- Environment: WRK_KEYS (comma-separated API keys) switches on POST /um/order; empty = plain GET.
-- WRK_RATE (requests/s over all threads) sends on a fixed schedule (open loop, as wrk2 does): each
-- thread hands its next free connection the next slot of its own timetable, so the offered rate
-- does not sink when answers slow down; a connection whose slot has passed sends at once.
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

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wrk_json_timespec;
int clock_gettime(int clk_id, wrk_json_timespec *tp);
]]
local timespec = ffi.new("wrk_json_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, timespec)  -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("WRK_RATE") or "")
local per_thread_ms = rate and (tonumber(os.getenv("WRK_THREADS") or "1") * 1000 / rate)
local next_slot = nil

function delay()
  if not rate then return 0 end
  local now = now_ms()
  next_slot = next_slot and (next_slot + per_thread_ms) or now
  if next_slot < now then return 0 end
  return next_slot - now
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
