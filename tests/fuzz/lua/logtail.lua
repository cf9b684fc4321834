--- Fuzz target: what vmlua shows of a log it does not control (a guest's
-- serial console, a hypervisor's output) in error messages and state files:
-- vmlua.sandbox.logs.printable on the input as one line, and tail on the
-- input written as a log file. What comes out is printable: no control
-- byte but tab (and the newlines tail joins lines with), no escape
-- sequence left to act on a terminal.
-- fuzz-options: -max_len=4096
-- luacheck: globals fuzz
local logs = require "vmlua.sandbox.logs"

local path = fuzz.tmpdir() .. "/serial.log"

local function check_printable(s, newlines_ok)
  local bad = newlines_ok and "[%z\1-\8\11-\31\127]" or "[%z\1-\8\10-\31\127]"
  assert(not s:find(bad), "a control byte came through")
end

return function(data)
  local line = logs.printable(data)
  check_printable(line, false)
  assert(logs.printable(line) == line, "printable text stays as it is")
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  local tail = logs.tail(path, 5)
  check_printable(tail, true)
  local n = 0
  for _ in (tail .. "\n"):gmatch("[^\n]*\n") do n = n + 1 end
  assert(tail == "" or n <= 5, "at most the lines asked for")
end
