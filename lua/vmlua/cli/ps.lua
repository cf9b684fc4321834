--- vmlua ps: the sandboxes in the run dir, with live status.
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

local function uptime(st, now)
  if st.status ~= "running" or not st.ready_at then return "-" end
  local s = math.max(0, math.floor(now - st.ready_at))
  if s < 60 then return s .. "s" end
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm", s // 3600, (s % 3600) // 60)
end

return {
  summary = "list the sandboxes known in the run dir, with live status and port forwards",
  usage = "ps [--json]",
  description = table.concat({
    "STATUS is the recorded one, checked live: 'dead' when the sandbox's processes are gone,",
    "'paused' after 'vmlua pause' (inspect also asks the hypervisor itself: vm_state).",
  }, "\n"),
  options = { { long = "--json", help = "print a JSON array" } },
  run = function(opts)
    local core = require "vmlua.core"
    local store = common.check(control.store())
    local rows = {}
    local now = core.time()
    for _, id in ipairs(store:list()) do
      local st, err = store:load(id)
      if st then
        rows[#rows + 1] = {
          id = id, hypervisor = st.hypervisor or "-", status = control.shown_status(store, id, st),
          pid = st.pid, uptime = uptime(st, now), recipe = st.recipe or "-",
          ports = require("vmlua.sandbox.network").ports(st),
        }
      else
        rows[#rows + 1] = { id = id, hypervisor = "-", status = "corrupt", uptime = "-", recipe = err, ports = "" }
      end
    end
    if opts.json then
      local arr = core.json.array()
      for i, r in ipairs(rows) do arr[i] = r end
      io.stdout:write(core.json.encode(arr), "\n")
      return 0
    end
    local fmt = "%-20s %-10s %-9s %-8s %-8s %-24s %s"
    local lines = { string.format(fmt, "ID", "HYPERVISOR", "STATUS", "PID", "UPTIME", "PORTS", "RECIPE") }
    for _, r in ipairs(rows) do
      lines[#lines + 1] = string.format(fmt, r.id, r.hypervisor, r.status,
                                        r.pid and tostring(r.pid) or "-", r.uptime,
                                        r.ports ~= "" and r.ports or "-", r.recipe)
    end
    io.stdout:write(table.concat(lines, "\n"), "\n")
    return 0
  end,
}
