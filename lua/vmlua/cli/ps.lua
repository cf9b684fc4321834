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
  summary = "list the sandboxes known in the run dir, with live status",
  usage = "ps [--json]",
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
          id = id, hypervisor = st.hypervisor or "-", status = control.status(st),
          pid = st.pid, uptime = uptime(st, now), recipe = st.recipe or "-",
        }
      else
        rows[#rows + 1] = { id = id, hypervisor = "-", status = "corrupt", uptime = "-", recipe = err }
      end
    end
    if opts.json then
      local arr = core.json.array()
      for i, r in ipairs(rows) do arr[i] = r end
      io.stdout:write(core.json.encode(arr), "\n")
      return 0
    end
    local fmt = "%-20s %-10s %-9s %-8s %-8s %s"
    local lines = { string.format(fmt, "ID", "HYPERVISOR", "STATUS", "PID", "UPTIME", "RECIPE") }
    for _, r in ipairs(rows) do
      lines[#lines + 1] = string.format(fmt, r.id, r.hypervisor, r.status,
                                        r.pid and tostring(r.pid) or "-", r.uptime, r.recipe)
    end
    io.stdout:write(table.concat(lines, "\n"), "\n")
    return 0
  end,
}
