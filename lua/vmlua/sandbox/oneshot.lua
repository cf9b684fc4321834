--- `vmlua run RECIPE -- CMD ARGS...`: boot, wait until the sandbox is ready
-- (with the guest agent: the agent answers), run CMD in the guest through
-- the agent, print its output, stop the sandbox with its stop policy, and
-- end with CMD's exit status (sandbox.agent.EXIT for vmlua's own failures:
-- 125 when the sandbox did not start or the command could not be run).
local core = require "vmlua.core"
local agent = require "vmlua.sandbox.agent"
local probes = require "vmlua.sandbox.probes"
local stop = require "vmlua.sandbox.stop"

local M = {}

-- Stop the sandbox (its stop policy, then helpers and sockets), with on_exit.
local function finish(rt)
  local _, res = stop.run(rt)
  rt:hook("on_exit", res.exit)
end

--- Everything the one-shot does. Returns the exit status and a message.
function M.run(rt)
  local launch = require "vmlua.sandbox.launch"
  local failed = agent.EXIT.failed
  local ok, err, code = launch.call(rt, "validate")
  if not ok then return code or 2, err end
  ok, err = launch.call(rt, "prepare")
  if not ok then return failed, err end
  ok, err = launch.start(rt)
  if not ok then return failed, err end
  local hok, herr = rt:hook("on_ready")
  probes.release(rt)
  if not hok then
    finish(rt)
    return failed, herr
  end
  local spec = table.move(rt.command, 1, #rt.command, 1, {})
  spec.input, spec.timeout, spec.env = rt.opts.input, rt.opts.exec_timeout, rt.opts.env
  rt:progress("exec: %s", table.concat(rt.command, " "))
  local res, xerr, class, partial = rt:exec(spec)
  if res or partial then agent.write_output(res or partial) end
  rt:progress("stopping (the command is done)")
  finish(rt)
  if res then return agent.exit_status(res) end
  if rt.interrupted_by then return 128 + core.signal_number(rt.interrupted_by), xerr end
  return agent.exit_status(nil, class), xerr
end

return M
