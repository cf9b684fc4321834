--- The signals a sandbox's supervisor answers, defined once.
--   SIGINT, SIGTERM  run the stop policy (a second one skips to kill);
--                    during a start they abort it
--   SIGUSR1          stop at once (kill): what `vmlua stop --force` sends
--   SIGHUP           logged and ignored
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

return M
