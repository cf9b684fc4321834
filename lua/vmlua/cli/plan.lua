--- vmlua plan RECIPE: print what `run` would start; start nothing.
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"
local shq = require "vmlua.shellquote"

local function probe_text(p)
  local probes = require "vmlua.sandbox.probes"
  local s = probes.describe(p)
  if p.file then s = s .. " in " .. p.file end
  if p.timeout then s = s .. string.format(", timeout %g s", p.timeout) end
  if p.hint then s = s .. ", hint: " .. p.hint end
  return s
end

local function stop_text(steps)
  local out = {}
  for i, s in ipairs(steps) do out[i] = string.format("%s (%g s)", s.name, s.grace) end
  return table.concat(out, ", ")
end

local function as_json(plan)
  local json = require("vmlua.core").json
  local procs = json.array()
  for i, p in ipairs(plan.processes) do
    local ready = json.array()
    for j, r in ipairs(p.ready or {}) do
      ready[j] = { kind = r.kind, text = r.text, pattern = r.pattern, path = r.path or r.file,
                   state = r.state, timeout = r.timeout, hint = r.hint }
    end
    procs[i] = { name = p.name, role = p.role, argv = json.array(p.argv), cwd = p.cwd, log = p.log,
                 ready = ready }
  end
  local stop = json.array()
  for i, s in ipairs(plan.stop) do
    stop[i] = { step = s.fn and "function" or s.name, name = s.name, grace = s.grace }
  end
  local boot = json.array()
  for i, c in ipairs(plan.driver.boot_calls(plan)) do
    boot[i] = { call = c.call, body = c.body, fds = c.fds and #c.fds or nil }
  end
  local network, disks = require("vmlua.sandbox.resources").plan_json(plan)
  return json.encode({
    network = network, disks = json.array(disks),
    id = plan.id, hypervisor = plan.kind, flow = plan.flow, recipe = plan.recipe, dir = plan.dir,
    processes = procs, sockets = json.object(plan.sockets), serial_log = plan.serial_log,
    control_socket = plan.control_socket, vm_config = plan.vm_config, stop = stop,
    boot = boot, problems = json.array(plan.errors),
  }, { pretty = true }) .. "\n"
end

local function as_text(plan)
  local out = {}
  local function add(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  add("sandbox %s (%s%s), recipe %s", plan.id, plan.kind, plan.flow and (", " .. plan.flow .. " flow") or "",
      plan.recipe or "-")
  add("dir: %s", plan.dir)
  add("processes, in start order (cwd %s):", plan.base_dir)
  for i, p in ipairs(plan.processes) do
    add("  %d. %s", i, p.name)
    add("     %s", shq.argv(p.argv))
    add("     output: %s", p.log)
    local ready = p.ready
    for _, r in ipairs(ready or {}) do add("     ready: %s", probe_text(r)) end
  end
  for _, c in ipairs(plan.driver.boot_calls(plan)) do
    add("then %s%s%s", c.call, c.fds and string.format(" (with %d fd%s)", #c.fds, #c.fds == 1 and "" or "s") or "",
        c.body and " with:" or "")
    if c.body then add("  %s", (require("vmlua.core").json.encode(c.body, { pretty = true }):gsub("\n", "\n  "))) end
  end
  add("sockets:")
  local names = {}
  for k in pairs(plan.sockets) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do add("  %-20s %s", k, plan.sockets[k]) end
  for _, line in ipairs(require("vmlua.sandbox.resources").plan_lines(plan)) do add("%s", line) end
  add("serial log: %s", plan.serial_log or ("not in a file: " .. tostring(plan.serial_note)))
  add("stop policy: %s", stop_text(plan.stop))
  for _, e in ipairs(plan.errors) do add("problem: %s", e) end
  return table.concat(out, "\n") .. "\n"
end

return {
  summary = "print every command, socket and policy of a recipe; start nothing",
  usage = "plan RECIPE [--set KEY=VALUE]... [--id ID] [--json]",
  args = { "RECIPE" },
  options = {
    common.SET_OPTION,
    common.ID_OPTION,
    { long = "--json", help = "print the plan as JSON" },
  },
  run = function(opts, pos)
    local sb = common.load(pos[1], opts)
    local plan = control.plan(sb)
    io.stdout:write(opts.json and as_json(plan) or as_text(plan))
    return 0
  end,
}
