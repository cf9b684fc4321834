--- How a process ended, in words. Supervision, the stop policy and the CLI
-- all describe exits through here. An exit is `{ how = "exited"|"killed",
-- code = status or signal number }`; `code` is nil when nobody could read it
-- (a process stopped from a state file was not our child).
local core = require "vmlua.core"
local logs = require "vmlua.sandbox.logs"

local M = {}

--- "exited with status 3", "was killed by SIGKILL", "ended (exit status
-- unknown: not our child)".
function M.how(e)
  if type(e) ~= "table" or e.code == nil then return "ended (exit status unknown: not our child)" end
  if e.how == "killed" then return "was killed by " .. core.signal_name(e.code) end
  return "exited with status " .. tostring(e.code)
end

--- A clean exit: status 0.
function M.clean(e)
  return type(e) == "table" and e.how == "exited" and e.code == 0
end

--- "NAME <how>", followed by the last lines of its output when `log` has any.
function M.describe(name, e, log)
  local msg = string.format("%s %s", name, M.how(e))
  local tail = logs.tail(log, 20)
  if tail ~= "" then msg = msg .. "\n--- " .. name .. " output (last lines) ---\n" .. tail end
  return msg
end

return M
