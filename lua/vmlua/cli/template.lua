--- vmlua template save ID NAME | ls | rm NAME: the run dir's templates
-- (vmlua.sandbox.control does the work; this parses and prints).
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

local function mib(bytes)
  return string.format("%.1f MiB", (bytes or 0) / 1048576)
end

local function save(opts, rest)
  if #rest ~= 2 then cli.usage("template save: needs ID and NAME (usage: vmlua template save ID NAME)") end
  local m = common.check(control.save_template(rest[1], rest[2], { timeout = opts.timeout }))
  local state = 0
  for _, f in ipairs(m.files) do state = state + f.size end
  io.stdout:write(string.format("%s saved as template %s (device state %s, RAM %s in %s, %.2f s); %s stopped\n",
                                rest[1], m.name, mib(state), mib(m.ram.size), m.ram.path, m.seconds, rest[1]))
  return cli.EXIT_OK
end

local function list(opts, rest)
  if #rest > 0 then cli.usage("template ls: unexpected argument '" .. rest[1] .. "'") end
  local core = require "vmlua.core"
  local rows = common.check(control.templates())
  if opts.json then
    local arr = core.json.array()
    for i, r in ipairs(rows) do
      local m = r.manifest or {}
      arr[i] = { name = r.name, status = r.status, hypervisor = m.hypervisor, source = m.source,
                 created = m.created, ram = m.ram, files = m.files, error = r.error }
    end
    io.stdout:write(core.json.encode(arr), "\n")
    return cli.EXIT_OK
  end
  local fmt = "%-20s %-10s %-10s %-12s %-10s %s"
  local lines = { string.format(fmt, "NAME", "STATUS", "HYPERVISOR", "FROM", "RAM", "RAM FILE") }
  for _, r in ipairs(rows) do
    local m = r.manifest or {}
    lines[#lines + 1] = string.format(fmt, r.name, r.status, m.hypervisor or "-",
                                      type(m.source) == "table" and tostring(m.source.id) or "-",
                                      m.ram and mib(m.ram.size) or "-", m.ram and m.ram.path or (r.error or "-"))
  end
  io.stdout:write(table.concat(lines, "\n"), "\n")
  return cli.EXIT_OK
end

local function remove(_, rest)
  if #rest ~= 1 then cli.usage("template rm: needs NAME (usage: vmlua template rm NAME)") end
  common.check(control.remove_template(rest[1]))
  io.stdout:write("removed template ", rest[1], "\n")
  return cli.EXIT_OK
end

local SUBCOMMANDS = { save = save, ls = list, rm = remove }

return {
  summary = "templates: save a template sandbox, list them, remove one",
  usage = "template save ID NAME [--timeout SEC] | template ls [--json] | template rm NAME",
  description = table.concat({
    "save: sandbox ID (run from a recipe with template = true: its guest RAM in a file) is saved",
    "as template NAME: its device state, and its RAM file moved into the run dir's template",
    "store; the template sandbox stops. 'vmlua run RECIPE --from NAME' then starts clones of it",
    "in a fraction of a second: each maps the RAM file copy-on-write (QEMU only).",
    "ls: the templates, with their status (ready, saving, incomplete), source and RAM file.",
    "rm: remove a template (clones that run keep their copy-on-write mapping).",
    "",
    "Exit status: 0 done; 1 a failure (a save that failed leaves the sandbox running);",
    "2 for a usage error, an unknown sandbox or template, or a template name in use.",
  }, "\n"),
  args = { "save|ls|rm" },
  variadic = true,
  options = {
    { long = "--json", help = "ls: print a JSON array" },
    { long = "--timeout", arg = "SEC", number = true, help = "save: give up after SEC seconds (default 120)" },
  },
  run = function(opts, pos)
    local sub = table.remove(pos, 1)
    local fn = SUBCOMMANDS[sub]
    if not fn then
      cli.usage(string.format("template: unknown subcommand '%s' (save, ls or rm)", tostring(sub)))
    end
    return fn(opts, pos)
  end,
}
