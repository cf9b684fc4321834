--- The stop policy: ordered steps, each followed by a grace period; the
-- first step after which the hypervisor has exited ends it. Whatever the
-- policy says, nothing is left running: a hypervisor still alive after the
-- last step is killed, then the helpers are stopped and the sockets removed.
--
-- Steps: term (SIGTERM), kill (SIGKILL), the driver's own (`driver.actions`:
-- powerdown, quit, shutdown, ...) or a Lua function(sb, step).
local core = require "vmlua.core"
local probes = require "vmlua.sandbox.probes"
local sandbox = require "vmlua.sandbox"

local M = {}

local generic = {}

function generic.term(rt)
  return rt.hv:signal("SIGTERM")
end

function generic.kill(rt)
  return rt.hv:signal("SIGKILL")
end

-- Run one named step: true, or nil and why it was not possible.
local function run_action(rt, name)
  local fn = generic[name] or rt.driver.actions[name]
  if not fn then
    return nil, string.format("%s is not a %s stop step (it has %s)", name, rt.driver.title,
                              table.concat(sandbox.stop_steps(rt.driver), ", "))
  end
  return fn(rt)
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
      ok, err = run_action(rt, step.name)
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
    local how2, code2 = rt.hv:wait(sandbox.DEFAULTS.kill_wait)
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
      local grace = p.stop and p.stop.grace or sandbox.DEFAULTS.stop_grace
      local how, code, secs = e.proc:terminate { grace = grace, group = true,
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
M.GROUP_GRACE = 1

function M.stop_rest(rt)
  if rt.hv then rt.hv:terminate { grace = M.GROUP_GRACE, group = true } end
  M.stop_helpers(rt)
  M.remove_sockets(rt)
  M.release(rt)
end

--- The tap and the overlays the state records (vmlua.sandbox.resources).
function M.release(rt)
  require("vmlua.sandbox.resources").release(rt.state, rt.dir, function(fmt, ...) rt:progress(fmt, ...) end)
end

--- How long a whole stop may take, in seconds: `policy` with the stop
-- policy's steps, `forced` when it skips to kill. Each is every step's grace,
-- the wait after SIGKILL, then each helper's grace and the hypervisor's
-- process group (what `run` below does, step by step). `vmlua stop` waits
-- this long for a supervisor before it forces the stop.
function M.budget(steps, processes)
  local rest = sandbox.DEFAULTS.kill_wait + M.GROUP_GRACE
  for _, p in ipairs(processes) do
    if p.role ~= "hypervisor" then rest = rest + (p.stop and p.stop.grace or sandbox.DEFAULTS.stop_grace) end
  end
  local policy = rest
  for _, s in ipairs(steps) do policy = policy + s.grace end
  return { policy = policy, forced = rest }
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
