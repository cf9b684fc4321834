--- vmlua run RECIPE: start a sandbox and supervise it.
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

return {
  summary = "start a sandbox and supervise it until it stops",
  usage = "run RECIPE [--set KEY=VALUE]... [--id ID] [-d|--detach] [--timeout SEC]",
  description = table.concat({
    "Creates the sandbox's tap and disk overlays, starts the recipe's helpers",
    "(virtiofsd for each share), then the hypervisor, waits until the sandbox is",
    "ready and supervises it; the tap and the overlays go when it ends. The first",
    "Ctrl-C or SIGTERM runs the stop policy, a second one kills. Exits 0 when the VM",
    "shut down cleanly, 1 when it failed to start, died or timed out, 2 for a usage",
    "or recipe error.",
    "",
    "With --detach it returns once the sandbox is ready and prints its id on stdout; what",
    "the supervisor wrote meanwhile (on_ready's output) is shown on stderr. A Ctrl-C or",
    "SIGTERM before then stops what was started, and run exits 1.",
  }, "\n"),
  args = { "RECIPE" },
  supervises = true,
  options = {
    common.SET_OPTION,
    common.ID_OPTION,
    { long = "--detach", short = "-d", help = "return once the VM is ready, leaving a supervisor" },
    { long = "--timeout", arg = "SEC", number = true, help = "readiness timeout for each probe" },
    { long = "--progress", help = "print progress lines even when stderr is not a terminal" },
  },
  run = function(opts, pos)
    local sb = common.load(pos[1], opts)
    local code, msg, rt = control.run(sb, {
      detach = opts.detach, timeout = opts.timeout, progress = opts.progress or nil,
    })
    if code ~= 0 then cli.fail(msg or "failed", code) end
    if rt.detached_parent then io.stdout:write(rt.id, "\n") end
    for _, k in ipairs(require("vmlua.sandbox.resources").kept(rt.state)) do
      io.stderr:write(string.format("vmlua: %s: kept %s (keep_overlay)\n", rt.id, k))
    end
    return 0
  end,
}
