--- vmlua inspect ID: the state of one sandbox, as JSON.
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

return {
  summary = "print the state of one sandbox as JSON",
  usage = "inspect ID",
  args = { "ID" },
  run = function(_, pos)
    local core = require "vmlua.core"
    local st = common.check(control.inspect(pos[1]))
    io.stdout:write(core.json.encode(st, { pretty = true }), "\n")
    return 0
  end,
}
