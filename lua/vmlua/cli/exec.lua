--- vmlua exec ID [--timeout S] [--env K=V]... [-i] -- CMD ARGS...: run a
-- command in a running sandbox through its guest agent.
local cli = require "vmlua.cli"
local control = require "vmlua.sandbox.control"
local agent = require "vmlua.sandbox.agent"

local M = {}

--- The command after the first `first - 1` positional arguments (ID, or
-- RECIPE): what follows them, with a '--' (needed when CMD or its
-- arguments start with '-') right before it or not. `usage` is the
-- command's usage line for messages.
function M.command(name, opts, pos, first, usage)
  local dd = opts["--"]
  if dd and dd < first - 1 then
    cli.usage(string.format("%s: the command goes after %s (usage: vmlua %s)", name,
                            first == 2 and "the first argument" or "the arguments", usage))
  end
  local argv = table.move(pos, first, #pos, 1, {})
  if #argv == 0 then cli.usage(string.format("%s: missing CMD (usage: vmlua %s)", name, usage)) end
  return argv
end

--- `--env K=V` values as a table; usage error for a malformed one.
function M.env(name, list)
  if not list then return nil end
  local env = {}
  for _, kv in ipairs(list) do
    local k, v = kv:match("^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    if not k then cli.usage(string.format("%s: --env: expected NAME=VALUE, got '%s'", name, kv)) end
    env[k] = v
  end
  return env
end

M.usage = "exec ID [--timeout SEC] [--env NAME=VALUE]... [-i] -- CMD [ARG]..."

M.summary = "run a command in a sandbox through its guest agent; exit with its status"

M.description = table.concat({
  "Runs CMD with its ARGs in the guest (qemu-ga's guest-exec; the sandbox needs",
  "agent = true), waits for it, prints its stdout and stderr on vmlua's, and exits",
  "with its exit status. Nothing comes back before the command ends: the guest agent",
  "returns the output at once (at most 16 MiB of each). Without --env the command",
  "gets the agent's environment; with it, exactly the given variables (and a default",
  "PATH unless given). A '--' is needed when CMD or its arguments start with '-'.",
  "",
  "Exit status: the command's; 128+N when signal N ended it; 124 when it ran past",
  "--timeout (it is killed in the guest); 126 when the guest cannot execute CMD; 127",
  "when the guest cannot find it; 125 when vmlua could not run it or get its result",
  "whole (the sandbox is not running, the agent does not answer, the VM stopped, the",
  "output was over the agent's 16 MiB cap); 2 for a usage error (bad options, an",
  "unknown sandbox, a sandbox without a guest agent).",
  "",
  "Examples:",
  "  vmlua exec demo -- uname -a",
  "  echo hello | vmlua exec demo -i -- cat",
  "  vmlua exec demo --timeout 5 --env LANG=C -- sh -c 'ls /mnt/share'",
}, "\n")

M.args = { "ID" }
M.variadic = true
--- Options end at CMD: `vmlua exec demo ls -l` gives -l to ls.
M.positional_after = 2
M.options = {
  { long = "--timeout", arg = "SEC", number = true, help = "kill the command in the guest after SEC seconds (124)" },
  { long = "--env", arg = "NAME=VALUE", multi = true, help = "the command's environment (repeat for more)" },
  { long = "--stdin", short = "-i", key = "stdin", help = "pass vmlua's stdin to the command (read to its end first)" },
}

function M.run(opts, pos)
  local env = M.env("exec", opts.env)
  local argv = M.command("exec", opts, pos, 2, M.usage)
  local sb, err, code = control.attach(pos[1])
  if not sb then cli.fail(err, code == control.USAGE and cli.EXIT_USAGE or agent.EXIT.failed) end
  local spec = table.move(argv, 1, #argv, 1, {})
  spec.env, spec.timeout = env, opts.timeout
  if opts.stdin then
    spec.input = io.stdin:read("a") or ""
    if #spec.input > require("vmlua.qga").INPUT_MAX then
      cli.usage(string.format("exec: -i: stdin has %d bytes, over the guest agent's %d-byte limit", #spec.input,
                              require("vmlua.qga").INPUT_MAX))
    end
  end
  local res, xerr, class, partial = sb:exec(spec)
  if res or partial then agent.write_output(res or partial) end
  if res then return agent.exit_status(res) end
  if class == "noagent" then cli.usage(xerr) end
  cli.fail(xerr, agent.exit_status(nil, class))
end

return M
