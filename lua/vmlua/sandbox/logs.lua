--- The sandbox's log files: the last lines of one, for error messages and
-- `sb:serial_tail()`.
local M = {}

--- How much of a file's end is read to find its last lines.
M.TAIL_BYTES = 16384

--- The last `n` lines of a file ("" when it is missing or empty).
function M.tail(path, n)
  local f = path and io.open(path, "rb")
  if not f then return "" end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - M.TAIL_BYTES))
  local data = f:read("a") or ""
  f:close()
  local lines = {}
  for line in data:gmatch("([^\n]*)\n?") do lines[#lines + 1] = line end
  while #lines > 0 and lines[#lines] == "" do lines[#lines] = nil end
  local first = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", first)
end

return M
