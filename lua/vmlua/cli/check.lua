--- vmlua check RECIPE: validate without starting anything.
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

return {
  summary = "validate a recipe: types, files, binaries, socket paths",
  usage = "check RECIPE [--set KEY=VALUE]... [--id ID]",
  args = { "RECIPE" },
  options = { common.SET_OPTION, common.ID_OPTION },
  run = function(opts, pos)
    local sb = common.load(pos[1], opts)
    local plan = control.plan(sb)
    local problems = control.problems(sb, plan)
    if #problems > 0 then cli.usage(table.concat(problems, "\nvmlua: ")) end
    io.stdout:write(string.format("%s: ok (sandbox %s, %s, %d process%s)\n", pos[1], plan.id, plan.kind,
      #plan.processes, #plan.processes == 1 and "" or "es"))
    return 0
  end,
}
