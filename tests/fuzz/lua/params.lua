--- Fuzz target: vmlua.params parsing a kernel command line and rendering
-- it back. The input is the command line (and, split at newlines, a list
-- of entries). Bad input raises an error that names the problem; what
-- parses renders to a line the kernel reads back as the same parameters.
-- A command line is at most 2 KiB:
-- fuzz-options: -max_len=2048
local params = require "vmlua.params"

local function parsed(input)
  local ok, p = pcall(params.new, input)
  if not ok then
    assert(type(p) == "string" and (p:find("kernel parameter", 1, true) or p:find("kernel command line", 1, true)),
           "an error that names the problem: " .. tostring(p))
    return nil
  end
  return p
end

local function check(p)
  local line = p:render { limit = false }
  assert(not line:find("%z"), "a NUL byte would end the kernel's command line")
  local again = parsed(line)
  assert(again, "the rendered line parses: " .. line)
  assert(again == p, "and gives the same parameters: " .. line)
  for i, e in ipairs(p:list()) do
    if i > 16 then break end -- each lookup is a linear search
    assert(p:has(e.key))
    local v = p:get(e.key)
    assert(v == true or type(v) == "string")
  end
end

return function(data)
  local p = parsed(data)
  if p then check(p) end
  if not data:find("\n", 1, true) then return end -- as a list: the same one entry
  local list = {}
  for entry in (data .. "\n"):gmatch("([^\n]*)\n") do list[#list + 1] = entry end
  local q = parsed(list)
  if q then check(q) end
end
