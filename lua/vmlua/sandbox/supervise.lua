--- Supervision: wait on the hypervisor, the helpers and the signals at once.
--   * the hypervisor exits: helpers are stopped; exit 0 for a clean poweroff
--   * a helper exits: on_helper_exit(sb, name, event) decides; by default
--     the VM is stopped and the run fails
--   * SIGINT/SIGTERM: the stop policy (a second one skips to kill)
--   * SIGUSR1: stop at once (kill), as `vmlua stop --force` asks
--   * SIGHUP: logged and ignored
local core = require "vmlua.core"
local stop = require "vmlua.sandbox.stop"
local exits = require "vmlua.sandbox.exits"
local signals = require "vmlua.sandbox.signals"

local M = {}

--- When a helper exits, how long to wait for the hypervisor to exit too
-- before calling it a helper failure: a guest that powers off makes QEMU
-- close its vhost-user connections, and virtiofsd may exit a moment before
-- QEMU does.
M.HELPER_EXIT_GRACE = 2

local function finish_stop(rt, opts, why)
  rt:progress("stopping (%s)", why)
  local clean, res = stop.run(rt, opts)
  -- a run whose on_ready raised failed, however cleanly it then stopped
  if rt.hook_error then rt:save("failed", { error = rt.hook_error, failed_at = core.time() }) end
  rt:hook("on_exit", res.exit)
  if rt.hook_error then return 1, rt.hook_error end
  if clean then return 0 end
  return 1, string.format("the hypervisor %s after the stop policy (step %s)", exits.how(res.exit),
                          tostring(res.step))
end

local function hypervisor_exited(rt, ev)
  rt.state.exit_noticed_mono = rt.state.exit_noticed_mono or core.monotonic()
  local clean = exits.clean(ev)
  rt:progress("hypervisor %s", clean and "shut down" or exits.how(ev))
  stop.stop_rest(rt)
  local exit = { how = ev.how, code = ev.code }
  if clean then
    rt:save("stopped", { exit = exit, stop = { step = "guest poweroff" }, stopped_at = core.time() })
    rt:hook("on_exit", exit)
    return 0
  end
  local msg = exits.describe("the hypervisor", ev, rt.plan.hypervisor.log)
  rt:save("failed", { exit = exit, error = msg, failed_at = core.time() })
  rt:hook("on_exit", exit)
  rt:hook("on_failure", msg)
  return 1, msg
end

local function helper_exited(rt, name, ev)
  local i, hev = core.wait({ { exit = rt.hv } }, M.HELPER_EXIT_GRACE)
  if i then return hypervisor_exited(rt, hev) end
  local log = rt.procs[name] and rt.procs[name].spec.log
  local msg = exits.describe(name, ev, log)
  rt.state.processes[name].exit = { how = ev.how, code = ev.code }
  local fn = rt.sandbox.hooks.on_helper_exit
  if fn then
    local ok, keep = pcall(fn, rt, name, ev)
    if not ok then rt:log("error", "on_helper_exit hook failed: " .. tostring(keep)) end
    if ok and keep then
      rt.procs[name] = nil -- no longer watched
      rt:save(nil)
      return nil
    end
  end
  rt:progress("%s; stopping the sandbox", msg)
  stop.run(rt)
  rt:save("failed", { error = msg, failed_at = core.time() })
  rt:hook("on_failure", msg)
  return 1, msg
end

--- Supervise until the sandbox ends. Returns the exit status and a message.
function M.run(rt)
  while true do
    if rt.stop_requested then return finish_stop(rt, nil, "requested") end
    local conds, names = { { exit = rt.hv } }, {}
    for _, w in ipairs(rt:watched()) do
      if w.name ~= "hypervisor" then
        conds[#conds + 1] = { exit = w.proc }
        names[#conds] = w.name
      end
    end
    conds[#conds + 1] = { signal = signals.SUPERVISED }
    local i, ev = core.wait(conds)
    if i == nil then
      rt:log("error", "wait failed: " .. tostring(ev))
      return finish_stop(rt, nil, "supervisor error")
    elseif i == 1 then
      rt.state.exit_noticed_mono = core.monotonic()
      return hypervisor_exited(rt, ev)
    elseif i < #conds then
      local code, msg = helper_exited(rt, names[i], ev)
      if code then return code, msg end
    elseif ev.signal == signals.HANGUP then
      rt:log("info", "SIGHUP ignored")
    elseif ev.signal == signals.FORCE then
      return finish_stop(rt, { force = true }, "forced")
    else
      return finish_stop(rt, nil, ev.signal)
    end
  end
end

return M
