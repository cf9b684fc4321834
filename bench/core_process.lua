--- Benchmarks for the process half of vmlua.core: how soon core.wait
-- notices a unix socket appearing, and what a spawn costs.
--
--   make && LUA_PATH='lua/?.lua;lua/?/init.lua;tests/?.lua;;' \
--     LUA_CPATH='build/lib/?.so;;' lua5.4 bench/core_process.lua [runs]
--
-- The socket gap is measured against the fake VMM's own CLOCK_MONOTONIC at
-- its bind() (tests/fakes/fake-vmm --ready-file).
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

local runs = tonumber(arg and arg[1]) or 20

local function stats(t)
  table.sort(t)
  local sum = 0
  for _, v in ipairs(t) do sum = sum + v end
  return ("min %.3f  median %.3f  mean %.3f  max %.3f ms (%d runs)"):format(
    t[1] * 1e3, t[(#t + 1) // 2] * 1e3, sum / #t * 1e3, t[#t] * 1e3, #t)
end

-- 1. socket appearance -> core.wait returns
local gaps = {}
for _ = 1, runs do
  local dir = H.tmpdir()
  local sock, ready = dir .. "/api.sock", dir .. "/bound"
  local p = assert(core.spawn { argv = { P.fake, "--socket", sock, "--delay-ms", "50", "--ready-file", ready } })
  local i = core.wait({ { exit = p }, { socket = sock } }, 10)
  local now = P.monotonic()
  assert(i == 2, "the fake exited")
  local f = assert(core.follow(ready))
  gaps[#gaps + 1] = now - tonumber(f:read_line(10))
  f:close()
  p:close()
  H.cleanup_tmp()
end
print("socket bind -> core.wait returns: " .. stats(gaps) ..
  (P.clock_is_exact and "" or " (upper bounds: clock helper)"))

-- 2. spawn (fork, exec reported through the pipe) and wait for /bin/true
local spawns = {}
for _ = 1, runs * 5 do
  local t0 = P.monotonic()
  local p = assert(core.spawn { argv = { "/bin/true" } })
  p:wait()
  spawns[#spawns + 1] = P.monotonic() - t0
  p:close()
end
print("spawn + wait of /bin/true:        " .. stats(spawns))
