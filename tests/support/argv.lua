-- Helpers for reading argv arrays in specs.
local M = {}

--- The elements after `flag` up to the next flag (an element starting with
-- "-"), or nil when `flag` is absent.
function M.after(argv, flag)
  local out, on = {}, false
  for _, a in ipairs(argv) do
    if on then
      if a:match("^%-") then break end
      out[#out + 1] = a
    elseif a == flag then
      on = true
    end
  end
  return on and out or nil
end

--- How many times `flag` occurs.
function M.count(argv, flag)
  local n = 0
  for _, a in ipairs(argv) do if a == flag then n = n + 1 end end
  return n
end

return M
