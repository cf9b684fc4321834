--- vmlua check RECIPE: validate without starting anything.
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"

return {
  summary = "validate a recipe: types, files, binaries, socket paths",
  usage = "check RECIPE [--set KEY=VALUE]... [--id ID]",
  args = { "RECIPE" },
  options = {
    common.SET_OPTION,
    { long = "--id", arg = "ID", help = "the sandbox id (default: the recipe's id)" },
  },
  run = function(opts, pos)
    local sb = common.load(pos[1], opts)
    local plan = require("vmlua.sandbox.wiring").plan(sb, { id = opts.id, run_dir = common.run_dir() })
    local problems = require("vmlua.sandbox.check").problems(sb, plan)
    if #problems > 0 then cli.usage(table.concat(problems, "\nvmlua: ")) end
    io.stdout:write(string.format("%s: ok (sandbox %s, %s, %d process%s)\n", pos[1], plan.id, plan.kind,
      #plan.processes, #plan.processes == 1 and "" or "es"))
    return 0
  end,
}
