--- Open files handed to a child process: what counts as one, and the schema
-- of an entry in a list of them. An entry is an open Lua `io` file, a
-- vmlua.core handle that owns an fd (Socket, Listener, pipe Stream) or
-- anything with a `fileno` method, or an integer fd of this process.
-- `core.spawn{ fds = list }` gives entry i to the child as fd 2+i.
local S = require "vmlua.schema"

local M = {}

local function has_fileno(v)
  local t = type(v)
  if t ~= "userdata" and t ~= "table" then return false end
  local ok, fn = pcall(function() return v.fileno end)
  return ok and type(fn) == "function"
end

--- Is `v` something that can be passed as an open file?
function M.is_file(v)
  local kind = io.type(v)
  if kind == "file" then return true end
  if kind == "closed file" then return false end
  return has_fileno(v)
end

--- Is `v` a closed Lua file?
function M.is_closed(v)
  return io.type(v) == "closed file"
end

--- Schema of one entry: an open file or an fd number (>= 0).
M.entry = S.custom(function(v, path)
  if math.type(v) == "integer" then
    if v < 0 then return S.fail(path, "must be >= 0, got %d", v) end
    return true
  end
  if M.is_closed(v) then return S.fail(path, "is a closed file") end
  if M.is_file(v) then return true end
  return S.fail(path, "expected an open file, a socket or a file descriptor number, got %s", S.show(v))
end)

return M
