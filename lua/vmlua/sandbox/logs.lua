--- The sandbox's log files: the last lines of one, for error messages, the
-- state's `error` and `sb:serial_tail()`.
local M = {}

--- How much of a file's end is read to find its last lines.
M.TAIL_BYTES = 16384

--- `line` made safe to show on a terminal and to store: terminal escape
-- sequences (SeaBIOS clears the screen with `ESC c ESC [ 2 J`, which would
-- wipe the error message above it) are removed, a line's trailing carriage
-- returns dropped, and every other control byte but tab written as `\xNN`,
-- as vmlua's own log does.
function M.printable(line)
  local s = line:gsub("\r+$", "")
  s = s:gsub("\27%][^\7\27]*\7", "")            -- OSC ... BEL (a window title)
       :gsub("\27%][^\7\27]*\27\\", "")         -- OSC ... ST
       :gsub("\27%[[\48-\63]*[\32-\47]*[\64-\126]", "") -- CSI: colours, cursor, clear
       :gsub("\27[\32-\47]*[\48-\126]", "")     -- ESC c (reset), ESC ( B (charset), ESC 7, ...
  return (s:gsub("[%z\1-\8\10-\31\127]", function(c) return string.format("\\x%02x", c:byte()) end))
end

--- The last `n` lines of a file ("" when it is missing or empty), each made
-- printable (see `printable`) and joined with "\n" into one string.
function M.tail(path, n)
  local f = path and io.open(path, "rb")
  if not f then return "" end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - M.TAIL_BYTES))
  local data = f:read("a") or ""
  f:close()
  local lines = {}
  for line in data:gmatch("([^\n]*)\n?") do lines[#lines + 1] = line end
  while #lines > 0 and lines[#lines]:match("^[\r]*$") do lines[#lines] = nil end
  local first = math.max(1, #lines - n + 1)
  local out = {}
  for i = first, #lines do out[#out + 1] = M.printable(lines[i]) end
  return table.concat(out, "\n")
end

return M
