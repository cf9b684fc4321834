--- Deadlines: absolute CLOCK_MONOTONIC times that a chain of waits shares,
-- so that a timeout given once covers every step of an operation.
local core = require "vmlua.core"

local M = {}

--- The deadline `seconds` from now; nil (none) for nil.
function M.after(seconds)
  if seconds == nil then return nil end
  return core.monotonic() + seconds
end

--- Seconds left until `deadline` (0 once passed); nil when there is none.
function M.remaining(deadline)
  if deadline == nil then return nil end
  return math.max(0, deadline - core.monotonic())
end

--- True once `deadline` has passed (never for nil).
function M.expired(deadline)
  return deadline ~= nil and core.monotonic() >= deadline
end

return M
