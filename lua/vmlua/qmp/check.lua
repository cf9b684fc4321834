--- Argument checks and time limits shared by vmlua.qmp and its commands.
-- Misuse raises at the level of the method's caller.
local core = require "vmlua.core"

local M = {}

M.CLIENT_NAME = "vmlua.QMP"
M.TIMEOUT_ONLY = { timeout = true }

--- A call's time limit: { deadline = monotonic time, seconds = for messages }.
function M.limit_of(seconds)
  return { deadline = core.monotonic() + seconds, seconds = seconds }
end

--- The limit of a call with options opts on client self.
function M.limit(self, opts)
  return M.limit_of(opts.timeout or self.timeout)
end

local argcheck = require "vmlua.argcheck"
M.opts, M.string, M.table = argcheck.opts, argcheck.string, argcheck.table

--- self is a QMP client that has not been closed.
function M.usable(self, fname)
  local mt = getmetatable(self)
  if type(mt) ~= "table" or mt.__name ~= M.CLIENT_NAME then
    error(string.format("bad argument to '%s' (QMP client expected; use ':' to call methods)", fname), 3)
  end
  if self.state == "closed" then error("attempt to use a closed QMP client", 3) end
end

return M
