--- Quote argv words for display as a POSIX shell command line (plan output).
-- Display only: vmlua never runs a shell.
local M = {}

function M.word(s)
  if s == "" then return "''" end
  if s:match("^[%w_@%%+=:,./%-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.argv(argv)
  local out = {}
  for i, w in ipairs(argv) do out[i] = M.word(w) end
  return table.concat(out, " ")
end

return M
