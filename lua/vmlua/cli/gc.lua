--- vmlua gc: remove the state of sandboxes whose processes are all gone.
local common = require "vmlua.cli.common"

return {
  summary = "remove the state and dirs of sandboxes whose processes are gone",
  usage = "gc",
  run = function()
    local launch = require "vmlua.sandbox.launch"
    local store = common.store { lookup = true }
    local removed = 0
    for _, id in ipairs(store:list()) do
      local st, err = store:load(id)
      if not st then
        io.stderr:write(string.format("vmlua: gc: skipping %s: %s\n", id, err))
      else
        -- A live supervisor holds the lock; a live VM without one shows in
        -- the recorded pids. Either way: never touch it.
        local lock = store:lock(id)
        if lock and #launch.live_processes(st) == 0 then
          local ok, rerr = store:remove(id)
          lock:close()
          if ok then
            removed = removed + 1
            io.stdout:write("removed ", id, "\n")
          else
            io.stderr:write(string.format("vmlua: gc: %s\n", rerr))
          end
        elseif lock then
          lock:close()
        end
      end
    end
    if removed == 0 then io.stdout:write("nothing to remove\n") end
    return 0
  end,
}
