--- The signals a sandbox's supervisor answers, defined once.
--   SIGINT, SIGTERM  run the stop policy (a second one skips to kill);
--                    during a start they abort it
--   SIGUSR1          stop at once (kill): what `vmlua stop --force` sends
--   SIGHUP           logged and ignored
local core = require "vmlua.core"

local M = {}

--- Ask for the stop policy.
M.STOP = { "SIGINT", "SIGTERM" }
--- Ask for an immediate stop.
M.FORCE = "SIGUSR1"
M.HANGUP = "SIGHUP"

--- What a start, a probe or a stop step watches: any of these ends the wait.
M.INTERRUPT = { M.STOP[1], M.STOP[2], M.FORCE }
--- What supervision watches.
M.SUPERVISED = { M.STOP[1], M.STOP[2], M.FORCE, M.HANGUP }

--- Ask a supervisor (a process handle) to stop and wait for it to finish:
-- the stop policy (or, with `opts.force`, kill at once), up to `opts.policy`
-- seconds; past that, or on a SIGINT/SIGTERM here, it is forced and given
-- `opts.forced` more. `vmlua stop` and an interrupted `run -d` use it.
-- Returns true once it has ended, or false.
function M.stop_supervisor(sup, opts)
  sup:signal(opts.force and M.FORCE or M.STOP[2])
  local i = core.wait({ { exit = sup }, { signal = M.STOP } }, opts.policy)
  if i == 1 then return true end
  sup:signal(M.FORCE)
  return sup:wait(opts.forced) ~= nil
end

return M
