--- Ids that builders give the devices they add: the first `prefix<n>`
-- (n = 0, 1, ...) that no entry of a list has as its `id`.
local M = {}

function M.free(list, prefix)
  local used = {}
  for _, d in ipairs(list or {}) do
    if d.id then used[d.id] = true end
  end
  local n = 0
  while used[prefix .. n] do n = n + 1 end
  return prefix .. n
end

return M
