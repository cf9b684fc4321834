--- The status `vmlua ps` shows: the recorded one checked against /proc
-- (liveness.status), and for a running sandbox the VM's own run state asked
-- live through its driver, so that a VM paused by `vmlua pause`, by a raw
-- `vmlua qmp ID stop` or from inside shows as "paused".
local liveness = require "vmlua.sandbox.liveness"

local M = {}

--- How long the live question may take per sandbox, in seconds (QEMU
-- serves one QMP client at a time: a busy monitor costs this much).
M.TIMEOUT = 1

--- "paused" for a running sandbox whose VM is paused; otherwise its status.
function M.status(st, timeout)
  local status = liveness.status(st)
  if status ~= "running" then return status end
  local driver = require("vmlua.driver").named(st.hypervisor)
  local socket = type(st.dir) == "string" and liveness.usable_socket(st.dir, st.control_socket)
  if not (driver and driver.paused_state and socket) then return status end
  local client = driver.connect(socket, timeout or M.TIMEOUT)
  if not client then return status end
  local state = driver.vm_state(client)
  client:close()
  if state == driver.paused_state then return "paused" end
  return status
end

return M
