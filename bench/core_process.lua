--- Benchmarks for the process half of vmlua.core: how soon core.wait
-- notices a unix socket appearing, and what a spawn costs.
--
--   lua5.4 bench/core_process.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
--
-- The socket gap is measured against the fake VMM's own CLOCK_MONOTONIC at
-- its bind() (tests/fakes/fake-vmm --ready-file).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"
local B = require "benchlib"

local runs = B.options(arg, { runs = 20 }).runs
local guard <close> = B.guard() -- luacheck: ignore guard

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
local rows = { { "socket bind → core.wait returns" .. (P.clock_is_exact and "" or " (upper bounds: clock helper)"),
                 { gaps, "ms", name = "socket bind->core.wait", with_unit = true } } }

-- 2. spawn (fork, exec reported through the pipe) and wait for /bin/true
local spawns = {}
for _ = 1, runs * 5 do
  local t0 = P.monotonic()
  local p = assert(core.spawn { argv = { "/bin/true" } })
  p:wait()
  spawns[#spawns + 1] = P.monotonic() - t0
  p:close()
end
rows[#rows + 1] = { "core.spawn + wait of /bin/true",
                    { spawns, "ms", name = "spawn+wait /bin/true", with_unit = true } }
B.section(string.format("vmlua.core processes (%d runs; spawn: %d)", runs, runs * 5), "Median (min–max).")
B.table({ "operation", "time" }, rows)
B.cleanup()
B.finish("core_process")
