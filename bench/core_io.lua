--- Benchmarks for the I/O half of vmlua.core: socket line reads (many QMP-
-- sized lines, one huge line), JSON, state saves (fsync included) and locks.
--
--   lua5.4 bench/core_io.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local H = require "support.h"
local child = require "support.child"
local B = require "benchlib"

local runs = B.options(arg, { runs = 5 }).runs
local guard <close> = B.guard() -- luacheck: ignore guard
local rows = {}

-- A child that connects to path, builds what `payload` (Lua source) says,
-- sends "!" and then the payload. The reader starts its clock at the "!",
-- so the child's start-up is not measured.
local function writer(path, payload)
  return child.start(string.format([[
    local s = assert(require "vmlua.core".socket.connect(%q, 5))
    local data = %s
    assert(s:send("!", 5))
    assert(s:send(data, 60))
    s:close()
  ]], path, payload))
end

local dir = H.tmpdir()
local path = dir .. "/bench.sock"

-- 1. 100000 QMP-sized lines (~80 bytes each)
local t = {}
for _ = 1, runs do
  local l = assert(core.socket.listen(path))
  local p = writer(path, [[string.rep('{"event": "BLOCK_JOB_COMPLETED", "data": {"device": "d0"}, "n": 1}\n', 100000)]])
  local s = assert(l:accept(5))
  assert(s:read(1, 10) == "!")
  local t0 = core.monotonic()
  local n = 0
  while s:read_line(10) do n = n + 1 end
  t[#t + 1] = core.monotonic() - t0
  assert(n == 100000, n)
  s:close()
  l:close()
  p:close()
end
rows[#rows + 1] = { "socket read_line, 100000 lines of 67 bytes",
                    { t, "ms", name = "read_line 100000 lines", with_unit = true } }

-- 2. one 32 MiB line
t = {}
for _ = 1, runs do
  local l = assert(core.socket.listen(path))
  local p = writer(path, [[string.rep("x", 32 * 1024 * 1024) .. "\n"]])
  local s = assert(l:accept(5))
  assert(s:read(1, 10) == "!")
  local t0 = core.monotonic()
  local line = assert(s:read_line(30))
  t[#t + 1] = core.monotonic() - t0
  assert(#line == 32 * 1024 * 1024)
  s:close()
  l:close()
  p:close()
end
rows[#rows + 1] = { "socket read_line, one 32 MiB line", { t, "ms", name = "read_line 32 MiB line", with_unit = true } }

-- 3. JSON round trip of a state-sized table
local state = { id = "demo", pid = 12345, start_time = 987654321, hypervisor = "qemu",
                argv = {}, sockets = { qmp = dir .. "/qmp.sock", serial = dir .. "/serial.log" } }
for i = 1, 60 do state.argv[i] = "-device" .. i end
t = {}
for _ = 1, runs do
  local t0 = core.monotonic()
  for _ = 1, 1000 do core.json.decode(core.json.encode(state)) end
  t[#t + 1] = (core.monotonic() - t0) / 1000
end
rows[#rows + 1] = { "json encode+decode of a state (" .. #core.json.encode(state) .. " bytes)",
                    { t, "us", name = "json round trip", with_unit = true } }

-- 4. state save (temp file, fsync, rename, fsync dir) and load
local store = assert(core.state.open(dir .. "/run"))
local saves, loads, locks = {}, {}, {}
for _ = 1, runs * 10 do
  local t0 = core.monotonic()
  assert(store:save("demo", state))
  saves[#saves + 1] = core.monotonic() - t0
  t0 = core.monotonic()
  assert(store:load("demo"))
  loads[#loads + 1] = core.monotonic() - t0
  t0 = core.monotonic()
  assert(store:lock("demo")):unlock()
  locks[#locks + 1] = core.monotonic() - t0
end
rows[#rows + 1] = { "state save (temp file, fsync, rename, fsync dir)",
                    { saves, "ms", name = "state save", with_unit = true } }
rows[#rows + 1] = { "state load", { loads, "ms", name = "state load", with_unit = true } }
rows[#rows + 1] = { "lock + unlock, uncontended", { locks, "ms", name = "lock + unlock", with_unit = true } }
store:close()
H.cleanup_tmp()
B.section(string.format("vmlua.core I/O (%d runs)", runs), "Median (min–max).")
B.table({ "operation", "time" }, rows)
B.cleanup()
B.finish("core_io")
