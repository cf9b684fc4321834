--- vmlua run RECIPE: start a sandbox and supervise it; with `-- CMD ARGS...`,
-- the one-shot: boot, run CMD through the guest agent, stop, exit with its
-- status.
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

local USAGE = "run RECIPE [--set KEY=VALUE]... [--id ID] [-d|--detach] [--timeout SEC]"
  .. " [--from NAME | --restore DIR] [-- CMD [ARG]...]"

return {
  summary = "start a sandbox and supervise it until it stops (or run one command in it)",
  usage = USAGE,
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
    "",
    "With '-- CMD [ARG]...' (the recipe needs agent = true): boots, waits until the",
    "sandbox is ready, runs CMD in the guest through its agent, prints its stdout and",
    "stderr, stops the sandbox and exits with CMD's status, as 'vmlua exec' does (125",
    "when the sandbox did not start or CMD could not be run).",
    "",
    "Examples:",
    "  vmlua run scripts/recipes/qemu-demo.lua",
    "  vmlua run scripts/recipes/qemu-demo.lua -d && vmlua exec demo -- uname -a",
    "  vmlua run scripts/recipes/qemu-demo.lua -- sh -c 'echo hi; exit 3'",
    "",
    "--from NAME starts a clone of template NAME, --restore DIR the snapshot in DIR, instead",
    "of booting (see docs/snapshots.md): the sandbox is ready once the VM runs again.",
  }, "\n"),
  args = { "RECIPE" },
  variadic = true,
  supervises = true,
  options = {
    common.SET_OPTION,
    common.ID_OPTION,
    { long = "--detach", short = "-d", help = "return once the VM is ready, leaving a supervisor" },
    { long = "--timeout", arg = "SEC", number = true, help = "readiness timeout for each probe" },
    { long = "--progress", help = "print progress lines even when stderr is not a terminal" },
    common.FROM_OPTION,
    common.RESTORE_OPTION,
  },
  run = function(opts, pos)
    local command
    if opts["--"] then
      command = require("vmlua.cli.exec").command("run", opts, pos, 2, USAGE)
      if opts.detach then cli.usage("run: -d runs no command: start with -d, then use 'vmlua exec'") end
    elseif #pos > 1 then
      cli.usage(string.format("run: unexpected argument '%s' (a command to run goes after '--')", pos[2]))
    end
    local sb = common.load(pos[1], opts)
    local code, msg, rt = control.run(sb, {
      detach = opts.detach, timeout = opts.timeout, progress = opts.progress or nil, command = command,
    })
    if command then
      if msg then io.stderr:write("vmlua: ", msg, "\n") end
      return code
    end
    if code ~= 0 then cli.fail(msg or "failed", code) end
    if rt.detached_parent then io.stdout:write(rt.id, "\n") end
    for _, k in ipairs(require("vmlua.sandbox.resources").kept(rt.state)) do
      io.stderr:write(string.format("vmlua: %s: kept %s (keep_overlay)\n", rt.id, k))
    end
    return 0
  end,
}
