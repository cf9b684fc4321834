--- File descriptors handed to QEMU, numbered the way the child sees them.
--
-- `fds` in a config is a list of open files (Lua `io` files, vmlua.core
-- Sockets/Listeners/Streams: anything with a `fileno` method) or integer
-- host fds. The launcher passes the list to `core.spawn{ fds = ... }`, so
-- entry i becomes fd 2+i in QEMU (3, 4, ...: Go's ExtraFiles rule, as govmm).
--
-- Devices, QMP sockets and `incoming` refer to an fd with a *reference*:
--   * the file object itself: looked up in `fds` by identity; a file that is
--     not listed there is appended (in the order the argv refers to it), so
--     `cfg:fds()` always lists every file the argv names, each once;
--   * an integer i: the i-th entry of `fds` (1-based), which is how an
--     integer host fd given in `fds` is referred to.
local S = require "vmlua.schema"
local openfile = require "vmlua.openfile"

local M = {}

M.is_file = openfile.is_file
local closed = openfile.is_closed

--- Schema of one entry of the `fds` list.
M.entry = openfile.entry

--- Schema of a reference to an fd (a file object or an index into `fds`).
M.ref = S.custom(function(v, path)
  if math.type(v) == "integer" then
    if v < 1 then return S.fail(path, "must be an index into fds (>= 1), got %d", v) end
    return true
  end
  if closed(v) then return S.fail(path, "is a closed file") end
  if M.is_file(v) then return true end
  return S.fail(path, "expected an open file, a socket or an index into fds, got %s", S.show(v))
end)

local Table = {}
Table.__index = Table

--- A numbering for one build of the argv, starting from the config's `fds`.
function M.new(list)
  local self = setmetatable({ list = {}, declared = 0, pos = {} }, Table)
  for i, f in ipairs(list or {}) do
    self.list[i] = f
    if math.type(f) ~= "integer" and self.pos[f] == nil then self.pos[f] = i end
  end
  self.declared = #self.list
  return self
end

--- The number QEMU sees for reference `ref`, or nil and a message.
function Table:number(ref, path)
  if math.type(ref) == "integer" then
    if ref > self.declared then
      return S.fail(path, "fds has no entry %d (it has %d)", ref, self.declared)
    end
    return ref + 2
  end
  if closed(ref) then return S.fail(path, "is a closed file") end
  local i = self.pos[ref]
  if not i then
    i = #self.list + 1
    self.list[i] = ref
    self.pos[ref] = i
  end
  return i + 2
end

--- The files in child order (a new list).
function Table:files()
  return table.move(self.list, 1, #self.list, 1, {})
end

return M
