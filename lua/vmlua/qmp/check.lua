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

--- An option table with only `allowed` keys and a valid timeout; returns
-- it (or an empty one).
function M.opts(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("bad argument to '%s' (options must be a table, got %s)", fname, type(opts)), 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      error(string.format("bad argument to '%s' (unknown option '%s')", fname, tostring(k)), 3)
    end
  end
  local t = opts.timeout
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then
    error(string.format("bad argument to '%s' (timeout must be a number >= 0)", fname), 3)
  end
  return opts
end

function M.string(v, what, fname)
  if type(v) ~= "string" then
    error(string.format("bad argument to '%s' (%s must be a string, got %s)", fname, what, type(v)), 3)
  end
end

function M.table(v, what, fname)
  if type(v) ~= "table" then
    error(string.format("bad argument to '%s' (%s must be a table, got %s)", fname, what, type(v)), 3)
  end
end

--- self is a QMP client that has not been closed.
function M.usable(self, fname)
  local mt = getmetatable(self)
  if type(mt) ~= "table" or mt.__name ~= M.CLIENT_NAME then
    error(string.format("bad argument to '%s' (QMP client expected; use ':' to call methods)", fname), 3)
  end
  if self.state == "closed" then error("attempt to use a closed QMP client", 3) end
end

return M
