--- Files in the guest, as methods of a vmlua.qga client: guest-file-open,
-- -read, -write and -close, in chunks of CHUNK bytes (guest-file-read
-- returns 4096 bytes unless told a count). A handle opened here is closed
-- on every path the connection survives; the guest agent keeps the rest of
-- its handles to itself.
local core = require "vmlua.core"

local M = {}

--- Bytes per guest-file-read / guest-file-write request.
M.CHUNK = 1024 * 1024

local function check_path(path, fname)
  if type(path) ~= "string" or path == "" then
    error(string.format("bad argument #1 to '%s' (a guest path expected)", fname), 3)
  end
end

--- guest-file-open: a handle (an integer), or nil, message, class.
function M:file_open(path, mode)
  check_path(path, "file_open")
  local h, err, class = self:call("guest-file-open", { path = path, mode = mode or "r" })
  if h == nil then return nil, err, class end
  if math.type(h) ~= "integer" then return nil, "qga: guest-file-open: a reply that is not a handle", "protocol" end
  return h
end

--- guest-file-read of up to `count` bytes (default CHUNK): data, eof.
function M:file_read(handle, count)
  local r, err, class = self:call("guest-file-read", { handle = handle, count = count or M.CHUNK })
  if r == nil then return nil, err, class end
  if type(r) ~= "table" or type(r["buf-b64"]) ~= "string" or type(r.eof) ~= "boolean" then
    return nil, "qga: guest-file-read: a malformed reply", "protocol"
  end
  local data, derr = core.base64.decode(r["buf-b64"])
  if not data then return nil, "qga: guest-file-read: " .. derr, "protocol" end
  return data, r.eof
end

--- guest-file-write of all of `data`: true, or nil, message, class.
function M:file_write(handle, data)
  local pos = 1
  while pos <= #data do
    local piece = data:sub(pos, pos + M.CHUNK - 1)
    local r, err, class = self:call("guest-file-write", { handle = handle, ["buf-b64"] = core.base64.encode(piece) })
    if r == nil then return nil, err, class end
    if type(r) ~= "table" or math.type(r.count) ~= "integer" or r.count < 0 or r.count > #piece then
      return nil, "qga: guest-file-write: a malformed reply", "protocol"
    end
    if r.count == 0 then return nil, "qga: guest-file-write: the guest wrote nothing (disk full?)", "GenericError" end
    pos = pos + r.count
  end
  return true
end

--- guest-file-close: true, or nil, message, class.
function M:file_close(handle)
  local r, err, class = self:call("guest-file-close", { handle = handle })
  if r == nil then return nil, err, class end
  return true
end

-- Run fn(handle) on the guest file `path` opened with `mode`, then close it
-- (a failure to close counts only when fn succeeded).
local function with_file(self, path, mode, fn)
  local h, err, class = self:file_open(path, mode)
  if not h then return nil, err, class end
  local res = table.pack(fn(h))
  local ok, cerr, cclass = true, nil, nil
  if self.state == "open" then ok, cerr, cclass = self:file_close(h) end
  if res[1] == nil then return table.unpack(res, 1, res.n) end
  if not ok then return nil, cerr, cclass end
  return table.unpack(res, 1, res.n)
end

--- Read guest file `path`, handing each chunk to `sink(chunk)` (which
-- returns true, or nil and a message that ends the copy). Returns the
-- number of bytes, or nil, message, class.
function M:pull(path, sink)
  check_path(path, "pull")
  if type(sink) ~= "function" then error("bad argument #2 to 'pull' (function expected)", 2) end
  return with_file(self, path, "r", function(h)
    local total = 0
    while true do
      local data, eof_or_err, class = self:file_read(h)
      if not data then return nil, eof_or_err, class end
      if #data > 0 then
        local ok, serr = sink(data)
        if not ok then return nil, tostring(serr), "sink" end
        total = total + #data
      end
      if eof_or_err or #data == 0 then return total end
    end
  end)
end

--- Write guest file `path` (created or truncated) from `source`: a string,
-- or a function returning the next chunk (nil at the end, or nil and a
-- message to give up). Returns the number of bytes, or nil, message, class.
function M:push(source, path)
  check_path(path, "push")
  if type(source) ~= "string" and type(source) ~= "function" then
    error("bad argument #1 to 'push' (string or function expected)", 2)
  end
  return with_file(self, path, "w", function(h)
    if type(source) == "string" then
      local ok, err, class = self:file_write(h, source)
      if not ok then return nil, err, class end
      return #source
    end
    local total = 0
    while true do
      local chunk, serr = source()
      if chunk == nil then
        if serr then return nil, tostring(serr), "source" end
        return total
      end
      local ok, err, class = self:file_write(h, chunk)
      if not ok then return nil, err, class end
      total = total + #chunk
    end
  end)
end

--- The whole content of guest file `path`, or nil, message, class.
function M:read_file(path)
  check_path(path, "read_file")
  local parts = {}
  local n, err, class = self:pull(path, function(chunk) parts[#parts + 1] = chunk; return true end)
  if not n then return nil, err, class end
  return table.concat(parts)
end

--- Write `data` to guest file `path` (created or truncated): true, or nil,
-- message, class.
function M:write_file(path, data)
  check_path(path, "write_file")
  if type(data) ~= "string" then error("bad argument #2 to 'write_file' (string expected)", 2) end
  local n, err, class = self:push(data, path)
  if not n then return nil, err, class end
  return true
end

return M
