--- vmlua inspect ID: the state of one sandbox, as JSON.
local common = require "vmlua.cli.common"

return {
  summary = "print the state of one sandbox as JSON",
  usage = "inspect ID",
  args = { "ID" },
  run = function(_, pos)
    local core = require "vmlua.core"
    local store = common.store { lookup = true }
    local st = common.state(store, pos[1])
    st.live_status = common.live_status(st)
    io.stdout:write(core.json.encode(st, { pretty = true }), "\n")
    return 0
  end,
}
