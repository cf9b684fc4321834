--- vmlua stop ID: run the sandbox's stop policy.
-- With a live supervisor, ask it (SIGTERM; --force: SIGUSR1, which skips to
-- kill) and wait for it to finish. If the supervisor is gone, stop the
-- processes recorded in the state file (pid + start time) ourselves.
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"

local function report(st)
  local core = require "vmlua.core"
  local s = st.stop or {}
  local e = st.exit or {}
  local how, clean
  if e.how == "killed" then
    how, clean = "killed by " .. core.signal_name(e.code), false
  elseif e.code == nil then
    -- stopped from the state file: the hypervisor was not our child, so its
    -- exit status cannot be read; a graceful step that ended it is success
    how, clean = "exit status unknown: the supervisor was gone", s.step ~= "kill"
  else
    how, clean = "exit status " .. tostring(e.code), e.code == 0
  end
  io.stdout:write(string.format("%s %s: %s after %.2f s (%s)\n", st.id, st.status, tostring(s.step),
                                s.seconds or s.total or 0, how))
  return st.status == "stopped" and clean and 0 or 1
end

local function policy_from(st)
  local sbmod = require "vmlua.sandbox"
  if st.recipe then
    local sb = require("vmlua").load_recipe(st.recipe, st.args or {})
    if sb then return sb.stop end
  end
  local names = {}
  for _, s in ipairs(st.stop_policy or {}) do
    if s.step ~= "function" then names[#names + 1] = { s.step, grace = s.grace } end
  end
  if #names == 0 then return sbmod.normalize_stop(nil, st.hypervisor) end
  return sbmod.normalize_stop(names, st.hypervisor)
end

local function total_grace(st)
  local t = 0
  for _, s in ipairs(st.stop_policy or {}) do t = t + (s.grace or 5) end
  return t + 15
end

return {
  summary = "stop a sandbox with its stop policy",
  usage = "stop ID [--timeout SEC] [--force]",
  args = { "ID" },
  -- keeps SIGINT/SIGTERM blocked: a Ctrl-C while stopping means "force"
  supervises = true,
  options = {
    { long = "--timeout", arg = "SEC", number = true, help = "force the stop after SEC seconds" },
    { long = "--force", help = "skip the graceful steps: kill the VM" },
  },
  run = function(opts, pos)
    local core = require "vmlua.core"
    local store = common.store { lookup = true }
    local st = common.state(store, pos[1])
    local timeout = opts.timeout or total_grace(st)
    if common.alive(st.supervisor) then
      local sup, err = core.proc.attach(st.supervisor.pid, st.supervisor.start_time)
      if not sup then cli.fail(err) end
      sup:signal(opts.force and "SIGUSR1" or "SIGTERM")
      -- Wait for the supervisor; on timeout or a Ctrl-C here, force it.
      local i = core.wait({ { exit = sup }, { signal = { "SIGINT", "SIGTERM" } } }, timeout)
      if i ~= 1 then
        sup:signal("SIGUSR1")
        if not sup:wait(15) then
          cli.fail(string.format("the supervisor of '%s' (pid %d) did not finish", st.id, st.supervisor.pid))
        end
      end
      sup:close()
      return report(assert(store:load(st.id)))
    end
    local live = require("vmlua.sandbox.launch").live_processes(st)
    if #live == 0 then
      io.stdout:write(string.format("%s is not running (status %s)\n", st.id, common.live_status(st)))
      return 0
    end
    local lock, lerr = store:lock(st.id)
    if not lock then cli.fail(lerr) end
    local rt = require("vmlua.sandbox.runtime").from_state(st, store, policy_from(st))
    require("vmlua.sandbox.stop").run(rt, { force = opts.force, deadline = core.monotonic() + timeout })
    lock:close()
    return report(rt.state)
  end,
}
