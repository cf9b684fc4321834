--- The stop policy: ordered steps, each followed by a grace period; the
-- first step after which the hypervisor has exited ends it. Whatever the
-- policy says, nothing is left running: a hypervisor still alive after the
-- last step is killed, then the helpers are stopped and the sockets removed.
--
-- Steps: powerdown (QMP system_powerdown / cloud-hypervisor vm.power-button),
-- shutdown (cloud-hypervisor vmm.shutdown), quit (QMP quit), term (SIGTERM),
-- kill (SIGKILL), or a Lua function(sb, step).
local core = require "vmlua.core"
local probes = require "vmlua.sandbox.probes"

local M = {}

local actions = {}

function actions.powerdown(rt)
  if rt.kind == "qemu" then
    local c, err = rt:qmp(2)
    if not c then return nil, err end
    local ok, qerr = c:execute("system_powerdown")
    c:close()
    return ok ~= nil, qerr
  end
  local ok, err = rt:api():power_button()
  return ok ~= nil, err
end

function actions.shutdown(rt)
  if rt.kind ~= "clh" then return nil, "shutdown is a cloud-hypervisor step (vmm.shutdown)" end
  local ok, err = rt:api():vmm_shutdown()
  return ok ~= nil, err
end

function actions.quit(rt)
  if rt.kind ~= "qemu" then return nil, "quit is a QEMU step (QMP quit)" end
  local c, err = rt:qmp(2)
  if not c then return nil, err end
  local ok, qerr = c:quit() -- QEMU closing before it answers counts as success
  c:close()
  return ok ~= nil, qerr
end

function actions.term(rt)
  return rt.hv:signal("SIGTERM")
end

function actions.kill(rt)
  return rt.hv:signal("SIGKILL")
end

local function exit_fields(how, code)
  return { how = how, code = code }
end

--- Wait up to `grace` for the hypervisor to exit, watching the stop signals:
-- a further SIGINT/SIGTERM (or SIGUSR1) means "skip to kill".
local function wait_exit(rt, grace)
  local i, ev = core.wait({ { exit = rt.hv }, { signal = probes.STOP_SIGNALS } }, grace)
  if i == 1 then
    -- when the exit was noticed (CLOCK_MONOTONIC), as supervise records it
    rt.state.exit_noticed_mono = core.monotonic()
    return "exited", ev
  end
  if i == 2 then return "escalate", ev end
  return nil
end

--- Run the policy on rt.hv. Returns { step =, seconds =, exit = {how, code} }.
function M.stop_hypervisor(rt, steps, opts)
  opts = opts or {}
  local t0 = core.monotonic()
  local result = {}
  if not rt.hv then return result end
  local how, code = rt.hv:wait(0)
  if how then
    result.exit = exit_fields(how, code)
    result.step = "already exited"
    return result
  end
  local force = opts.force
  for _, step in ipairs(steps) do
    if force then break end
    local grace = step.grace
    if opts.deadline then
      local left = opts.deadline - core.monotonic()
      if left <= 0 then
        rt:progress("stop: out of time before %s", step.name)
        break
      end
      grace = math.min(grace, left)
    end
    local st = core.monotonic()
    local ok, err
    if step.fn then
      local pok, res, perr = pcall(step.fn, rt, step)
      ok, err = pok and res ~= false and res ~= nil, pok and perr or res
    else
      ok, err = actions[step.name](rt)
    end
    if not ok then
      rt:progress("stop: %s not possible: %s", step.name, tostring(err))
    else
      rt:progress("stop: %s sent, waiting up to %g s", step.name, grace)
      local r, ev = wait_exit(rt, grace)
      if r == "exited" then
        result.step, result.seconds = step.name, core.monotonic() - st
        result.exit = exit_fields(ev.how, ev.code)
        break
      elseif r == "escalate" then
        rt:progress("stop: %s received, skipping to kill", ev.signal)
        break
      end
    end
  end
  if not result.exit then
    -- Nothing is ever left running, whatever the policy said.
    rt.hv:signal("SIGKILL")
    local st = core.monotonic()
    local how2, code2 = rt.hv:wait(10)
    if how2 then rt.state.exit_noticed_mono = core.monotonic() end
    result.step, result.seconds = "kill", core.monotonic() - st
    result.exit = exit_fields(how2 or "killed", code2 or 9)
  end
  result.total = core.monotonic() - t0
  return result
end

--- Stop every helper (newest first): its stop signal, a grace, then SIGKILL.
-- Each runs in its own process group (spawned with setsid), and the whole
-- group is stopped: what a helper forked (virtiofsd's sandboxed child, the
-- commands of a shell script) is gone too before the helper counts as stopped.
function M.stop_helpers(rt)
  local out = {}
  for i = #rt.plan.processes, 1, -1 do
    local p = rt.plan.processes[i]
    local e = rt.procs[p.name]
    if e and p.role ~= "hypervisor" then
      local how, code, secs = e.proc:terminate { grace = p.stop and p.stop.grace or 5, group = true,
                                                 signal = p.stop and p.stop.signal or "SIGTERM" }
      out[p.name] = { how = how, code = code, seconds = secs }
      rt.state.processes[p.name].exit = out[p.name]
    end
  end
  return out
end

--- Remove the sandbox's sockets (they are dead once the processes are):
-- those vmlua wired in, and any other socket in the sandbox dir (a vsock or
-- vhost-user socket the recipe put there, which a crashed VMM leaves behind).
function M.remove_sockets(rt)
  local paths = {}
  for _, path in pairs(rt.plan.sockets) do paths[#paths + 1] = path end
  for _, name in ipairs(rt.dir and core.fs.list(rt.dir) or {}) do paths[#paths + 1] = rt.dir .. "/" .. name end
  for _, path in ipairs(paths) do
    local st = core.fs.stat(path)
    if st and st.type == "socket" then core.fs.remove(path) end
  end
end

--- Once the hypervisor has ended: what it forked and left behind (its
-- process group), the helpers, the sockets.
function M.stop_rest(rt)
  if rt.hv then rt.hv:terminate { grace = 1, group = true } end
  M.stop_helpers(rt)
  M.remove_sockets(rt)
end

--- The whole stop: policy on the hypervisor, helpers, sockets, state.
function M.run(rt, opts)
  opts = opts or {}
  rt:save("stopping")
  core.sd_notify("STOPPING=1")
  local res = M.stop_hypervisor(rt, rt.plan.stop, opts)
  if res.step and res.seconds then
    local msg = string.format("stop: hypervisor ended after %s (%.2f s)", res.step, res.seconds)
    if rt.show_progress then rt:progress("%s", msg) else rt:log("info", msg) end
  end
  M.stop_rest(rt)
  local clean = res.exit and res.exit.how == "exited" and res.exit.code == 0
  rt:save("stopped", {
    stop = { step = res.step, seconds = res.seconds, total = res.total },
    exit = res.exit,
    stopped_at = core.time(),
  })
  return clean, res
end

return M
