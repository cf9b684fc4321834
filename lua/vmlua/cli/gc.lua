--- vmlua gc: remove the state of sandboxes whose processes are all gone.
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

return {
  summary = "remove the state and dirs of sandboxes whose processes are gone",
  usage = "gc",
  run = function()
    local res = common.check(control.gc())
    for _, n in ipairs(res.notes) do io.stderr:write(string.format("vmlua: gc: %s: %s\n", n.id, n.text)) end
    for _, s in ipairs(res.skipped) do
      io.stderr:write(string.format("vmlua: gc: skipping %s: %s\n", s.id, s.reason))
    end
    for _, id in ipairs(res.removed) do io.stdout:write("removed ", id, "\n") end
    if #res.removed == 0 then io.stdout:write("nothing to remove\n") end
    return 0
  end,
}
