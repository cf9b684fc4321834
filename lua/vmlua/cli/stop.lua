--- vmlua stop ID: run the sandbox's stop policy (vmlua.sandbox.control.stop
-- does it; this prints how it ended).
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

-- "<id> stopped: <step> after <s> s (<how the hypervisor ended>)"; exit 0
-- for a clean stop.
local function report(st)
  local exits = require "vmlua.sandbox.exits"
  local s = type(st.stop) == "table" and st.stop or {}
  local e = st.exit
  -- stopped from the state file: the hypervisor was not our child, so its
  -- exit status cannot be read; a graceful step that ended it is success
  local clean = exits.clean(e) or (type(e) == "table" and e.code == nil and s.step ~= "kill")
  io.stdout:write(string.format("%s %s: %s after %.2f s (%s)\n", st.id, st.status, tostring(s.step),
                                s.seconds or s.total or 0, exits.how(e)))
  for _, k in ipairs(require("vmlua.sandbox.resources").kept(st)) do
    io.stdout:write(string.format("%s: kept %s (keep_overlay)\n", st.id, k))
  end
  return st.status == "stopped" and clean and 0 or 1
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
    local res = common.check(control.stop(pos[1], { force = opts.force, timeout = opts.timeout }))
    if not res.stopped then
      local note = ""
      for _, pid in ipairs(res.foreign) do
        note = note .. string.format("; pid %d is not its process: left alone", pid)
      end
      io.stdout:write(string.format("%s is not running (status %s%s)\n", res.state.id, res.status, note))
      return 0
    end
    return report(res.state)
  end,
}
