-- luacheck: globals fuzz
--- A server that has said everything: the client's end of a socket pair
-- whose other end has sent `data` and shut down writing. The client under
-- test gets it from core.socket.connect, which is replaced here (the
-- readers look it up at each call), so that no second process is needed.
local core = require "vmlua.core"

local M = {}

local pending
local real_connect = core.socket.connect

function core.socket.connect(path, timeout)
  if path ~= "@fuzz" then return real_connect(path, timeout) end
  local s = pending
  pending = nil
  return s
end

--- The next connect to "@fuzz" gets a socket that reads `data`, then eof.
-- Returns the server's end (to close after the call).
function M.serve(data)
  local server, client = core.socket.pair()
  fuzz.sndbuf(server:fileno(), #data + 65536)
  assert(server:send(data, 0))
  assert(server:shutdown("w"))
  pending = client
  return server
end

return M
