--- Helpers for the process specs (tests/unit/core_*_spec.lua): the fake VMM,
-- our own pid, our children, our open fds, /proc lookups.
local core = require "vmlua.core"
local H = require "support.h"

local P = {}

P.fake = H.fakes .. "/fake-vmm"

--- Our pid (field 1 of /proc/self/stat).
function P.getpid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("a"):match("^(%d+)"))
  f:close()
  return pid
end

--- Our process group (field 5 of /proc/self/stat).
function P.getpgrp()
  return tonumber(P.stat(P.getpid())[3])
end

--- Fields of /proc/<pid>/stat after the comm (index 1 = field 3, the state).
function P.stat(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local fields = {}
  for w in s:match("^.*%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
  return fields
end

--- /proc/<pid>/status as a table of lines (name -> value).
function P.status(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local t = {}
  for line in f:lines() do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then t[k] = v end
  end
  f:close()
  return t
end

--- Does /proc/<pid> exist (a zombie counts)?
function P.exists(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f ~= nil
end

--- Our children (zombies included), as a sorted array of pids.
function P.children()
  local me = P.getpid()
  local f = assert(io.open(("/proc/%d/task/%d/children"):format(me, me)))
  local s = f:read("a")
  f:close()
  local t = {}
  for pid in s:gmatch("%d+") do t[#t + 1] = tonumber(pid) end
  table.sort(t)
  return t
end

--- Run argv to completion and return its stdout.
function P.output(argv, opts)
  opts = opts or {}
  opts.argv = argv
  -- Under the asan flavour tests/helper.lua drops LD_PRELOAD (children must
  -- not inherit the runtime), but a child lua5.4 that loads the asan core.so
  -- needs it back.
  local preload = os.getenv("VMLUA_ASAN_PRELOAD")
  if preload and preload ~= "" and argv[1] == "lua5.4" then
    opts.env = opts.env or {}
    if opts.env.LD_PRELOAD == nil then opts.env.LD_PRELOAD = preload end
  end
  opts.stdout = "pipe"
  local p = assert(core.spawn(opts))
  local out = {}
  while true do
    local chunk = p.stdout:read(10)
    if not chunk then break end
    out[#out + 1] = chunk
  end
  local how, code = p:wait(10)
  p:close()
  return table.concat(out), how, code
end

--- Our open fds, listed by a child reading /proc/<us>/fd. It lists only
-- once we write to it, i.e. after core.spawn has returned (until then we
-- still hold the read end of spawn's exec-report pipe).
function P.fds()
  local p = assert(core.spawn { argv = { "sh", "-c", "read go; exec ls /proc/" .. P.getpid() .. "/fd" },
    stdin = "pipe", stdout = "pipe" })
  p.stdin:write("go\n")
  local out = {}
  while true do
    local chunk = p.stdout:read(10)
    if not chunk then break end
    out[#out + 1] = chunk
  end
  p:wait(10)
  p:close()
  local t = {}
  for fd in table.concat(out):gmatch("%d+") do t[#t + 1] = tonumber(fd) end
  table.sort(t)
  return t
end

--- CLOCK_MONOTONIC in seconds: core.monotonic when this build has it, else
-- the "now at" line of /proc/timer_list (ktime_get(), readable by root),
-- else the uninstrumented fake-vmm's clock, which adds its start-up time
-- (intervals measured with it are upper bounds).
local clock_fake = H.root .. "/build/fakes.d/fake-vmm"
local function timer_list_now()
  local f = io.open("/proc/timer_list")
  if not f then return nil end
  for _ = 1, 5 do
    local line = f:read("l")
    local ns = line and line:match("^now at (%d+) nsecs")
    if ns then
      f:close()
      return tonumber(ns) / 1e9
    end
  end
  f:close()
end
function P.monotonic()
  if core.monotonic then return core.monotonic() end
  local now = timer_list_now()
  if now then return now end
  local out = P.output({ clock_fake, "--print-monotonic" }, { env = { LD_PRELOAD = false } })
  return assert(tonumber(out), "no clock from " .. clock_fake)
end
P.clock_is_exact = core.monotonic ~= nil or timer_list_now() ~= nil

--- Read a number written by fake-vmm --ready-file (nil while missing).
function P.read_number(path)
  local s = H.read(path)
  return s and tonumber(s)
end

--- Restore the signal mask to `names` (an array from core.signals.blocked()).
function P.restore_mask(names)
  local all = {}
  for i = 1, 31 do
    if i ~= 9 and i ~= 19 then all[#all + 1] = i end
  end
  core.signals.unblock(all)
  if #names > 0 then core.signals.block(names) end
end

--- Run fn with the signals in `list` blocked; afterwards take any of them
-- that are still pending (so that none is delivered on unblocking) and
-- restore the mask as it was, even when fn fails.
function P.with_blocked(list, fn)
  local saved = core.signals.blocked()
  core.signals.block(list)
  local ok, err = pcall(fn)
  while core.wait({ { signal = list } }, 0) do end
  P.restore_mask(saved)
  if not ok then error(err, 0) end
end

return P
