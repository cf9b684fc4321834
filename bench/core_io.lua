--- Benchmarks for the I/O half of vmlua.core: socket line reads (many QMP-
-- sized lines, one huge line), JSON, state saves (fsync included) and locks.
--
--   make && LUA_PATH='lua/?.lua;lua/?/init.lua;tests/?.lua;;' \
--     LUA_CPATH='build/lib/?.so;;' lua5.4 bench/core_io.lua [runs]
local core = require "vmlua.core"
local H = require "support.h"
local child = require "support.child"

local runs = tonumber(arg and arg[1]) or 5

local function stats(t, unit, scale)
  table.sort(t)
  local sum = 0
  for _, v in ipairs(t) do sum = sum + v end
  return ("min %.3f  median %.3f  mean %.3f  max %.3f %s (%d runs)"):format(
    t[1] * scale, t[(#t + 1) // 2] * scale, sum / #t * scale, t[#t] * scale, unit, #t)
end

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
print("read_line, 100000 lines of 67 bytes: " .. stats(t, "ms", 1e3))

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
print("read_line, one 32 MiB line: " .. stats(t, "ms", 1e3))

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
print("json encode+decode of a state (" .. #core.json.encode(state) .. " bytes): " .. stats(t, "us", 1e6))

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
print("state save: " .. stats(saves, "ms", 1e3))
print("state load: " .. stats(loads, "ms", 1e3))
print("lock + unlock, uncontended: " .. stats(locks, "ms", 1e3))
store:close()
H.cleanup_tmp()
