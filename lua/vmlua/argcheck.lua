--- Argument checks for the clients' methods (vmlua.qmp, vmlua.chapi):
-- misuse raises "bad argument to 'method' (...)" at the level of the
-- method's caller, as luaL_argerror does for C functions.
local M = {}

-- level 3: argcheck function -> the method -> the method's caller
local LEVEL = 3

function M.timeout(t, fname, level)
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then
    error(string.format("bad argument to '%s' (timeout must be a number >= 0)", fname), (level or LEVEL) + 1)
  end
end

--- An option table with only `allowed` keys, a valid timeout and, when
-- allowed, a non-empty `fds` array; returns it (or an empty one).
function M.opts(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("bad argument to '%s' (options must be a table, got %s)", fname, type(opts)), LEVEL)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      error(string.format("bad argument to '%s' (unknown option '%s')", fname, tostring(k)), LEVEL)
    end
  end
  M.timeout(opts.timeout, fname, LEVEL)
  if opts.fds ~= nil and (type(opts.fds) ~= "table" or #opts.fds == 0) then
    error(string.format("bad argument to '%s' (fds must be a non-empty array)", fname), LEVEL)
  end
  return opts
end

function M.string(v, what, fname)
  if type(v) ~= "string" then
    error(string.format("bad argument to '%s' (%s must be a string, got %s)", fname, what, type(v)), LEVEL)
  end
end

function M.table(v, what, fname)
  if type(v) ~= "table" then
    error(string.format("bad argument to '%s' (%s must be a table, got %s)", fname, what, type(v)), LEVEL)
  end
end

return M
