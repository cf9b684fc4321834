--- Whether a running sandbox's VM is paused. `vmlua pause` and `resume`
-- (control.pause/resume) leave a marker file in the sandbox dir, so `vmlua
-- ps` tells "paused" at the cost of one stat per running sandbox; `vmlua
-- inspect` also asks the VM itself through its driver (`vm_state`), which
-- sees a pause made any other way (`vmlua qmp ID stop`, from inside).
local core = require "vmlua.core"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

--- The marker's name in the sandbox dir.
M.MARKER = "paused"

--- How long the live question may take, in seconds (QEMU serves one QMP
-- client at a time: a busy monitor costs this much).
M.TIMEOUT = 1

--- Record (or clear) a pause in sandbox dir `dir`. true or nil, message.
function M.mark(dir, paused)
  local path = dir .. "/" .. M.MARKER
  if not paused then
    local ok, err, errno = core.fs.remove(path)
    if ok or errno == core.errno.ENOENT then return true end
    return nil, err
  end
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  f:close()
  return true
end

--- The status `vmlua ps` shows: liveness.status, and "paused" for a running
-- sandbox whose dir (`dir`, the store's, never the state's claim) holds the
-- marker.
function M.status(st, dir)
  local status = liveness.status(st)
  if status == "running" and core.fs.exists(dir .. "/" .. M.MARKER) then return "paused" end
  return status
end

--- The VM's state as its hypervisor tells it now (`vm_state`) and whether
-- that is its driver's paused state; nil, message when it cannot be asked.
function M.live(st, dir)
  local driver, err = require("vmlua.driver").named(st.hypervisor)
  if not driver then return nil, err end
  local socket = liveness.usable_socket(dir, st.control_socket)
  if not socket then return nil, "no usable control socket" end
  local client, cerr = driver.connect(socket, M.TIMEOUT)
  if not client then return nil, cerr end
  local state, serr = driver.vm_state(client)
  client:close()
  if not state then return nil, serr end
  return state, state == driver.paused_state
end

return M
