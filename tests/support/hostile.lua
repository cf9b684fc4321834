--- Clients against hostile servers (issue 12 findings 5 and 6): run a
-- client call in a child lua5.4 and report how long it took and how much
-- memory the child ever held (VmHWM), so that a test can hold the call to
-- its timeout + 0.5 s and the memory to 100 MiB.
local child = require "support.child"
local assert = require "luassert"

local M = {}

M.MAX_MIB = 100
M.SLACK = 0.5

local RUNNER = [[
local core = require "vmlua.core"
local function peak_kib()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%%s*(%%d+)")
    if kb then return tonumber(kb) end
  end
end
local path = %q
local t0 = core.monotonic()
local r = table.pack((function() %s end)())
local secs = core.monotonic() - t0
io.write(string.format("%%.3f %%d\n", secs, peak_kib()))
for i = 1, 3 do io.write(tostring(r[i]), "\n") end
]]

--- Run `body` (Lua code that sees `path` and returns up to 3 values) in a
-- child. Returns seconds, peak MiB, and the 3 values as strings.
function M.measure(path, body)
  -- The sanitizer runtime (asan flavour) keeps freed blocks in a
  -- quarantine of 256 MiB by default; bound it so that the peak is ours.
  local err, out, ok = child.run(RUNNER:format(path, body),
    { ASAN_OPTIONS = "detect_leaks=0:quarantine_size_mb=8:thread_local_quarantine_size_kb=64" })
  assert(ok, err)
  local lines = {}
  for l in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local secs, kib = lines[1]:match("^(%S+) (%d+)$")
  return tonumber(secs), tonumber(kib) / 1024, lines[2], lines[3], lines[4]
end

--- `vmlua ARGS...` with a 2 s --timeout against a hostile server: fails
-- (exit 1) unless it exits 1 within 2 s + SLACK + 0.5 s (the executable's
-- start) with stderr matching `want`.
function M.vmlua_within_2s(args, want)
  local core = require "vmlua.core"
  local S = require "support.servers"
  local t0 = core.monotonic()
  local code, _, err = S.vmlua(args)
  local secs = core.monotonic() - t0
  assert.equal(1, code, err)
  assert.matches(want, err)
  assert.is_true(secs < 2 + M.SLACK + 0.5, "took " .. secs)
end

return M
