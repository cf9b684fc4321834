--- vmlua qmp ID COMMAND [JSON-ARGS]: one QMP command, the reply as JSON.
local cli = require "vmlua.cli"
local ctl = require "vmlua.cli.control_socket"

--- The command names QEMU knows (query-commands), or nil.
local function known_commands(c)
  local list = c:execute("query-commands")
  if type(list) ~= "table" then return nil end
  local names = {}
  for _, e in ipairs(list) do
    if type(e) == "table" and type(e.name) == "string" then names[#names + 1] = e.name end
  end
  return names
end

local function is_member(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

return {
  summary = "send one QMP command to a QEMU sandbox and print the reply",
  usage = "qmp {ID | --socket PATH} COMMAND [JSON-ARGS]",
  description = table.concat({
    "Connects to the sandbox's QMP socket, negotiates capabilities, runs COMMAND",
    "with JSON-ARGS (a JSON object, e.g. '{\"id\":\"dev0\"}') and prints QEMU's",
    "\"return\" value as pretty JSON. Events that arrive meanwhile are not printed.",
    "QEMU serves one QMP client at a time: while another client holds the monitor,",
    "this waits up to --timeout for the greeting.",
    "",
    "Exit status: 0 with the reply; 1 when QEMU answers with an error (printed as",
    "'QMP error CLASS: description'), the socket cannot be reached or no reply",
    "arrives in time; 2 for an unknown sandbox, a sandbox that is not QEMU's,",
    "malformed JSON-ARGS or a command QEMU does not have.",
    "",
    "Examples:",
    "  vmlua qmp demo query-status",
    "  vmlua qmp demo device_del '{\"id\":\"rng1\"}'",
    "  vmlua qmp --socket /run/vmlua/demo/qmp.sock query-version",
  }, "\n"),
  args = {},
  variadic = true,
  options = ctl.options(),
  run = function(opts, pos)
    local qmp = require "vmlua.qmp"
    local t, rest = ctl.target("qmp", opts, pos, "qmp")
    local cmd, args_text = ctl.verb_and_json("qmp", rest, "COMMAND", "JSON-ARGS")
    local args = args_text and ctl.json_object("qmp", "JSON-ARGS", args_text) or nil
    local c, err = qmp.connect(t.socket, { timeout = t.timeout })
    if not c then ctl.fail(t, err) end
    local res, qerr, class = c:execute(cmd, args)
    if res == nil and class == "CommandNotFound" then
      local names = known_commands(c)
      if names and not is_member(names, cmd) then
        c:close()
        local near = ctl.suggest(cmd, names)
        local hint = near and (" (did you mean '" .. near .. "'?)") or " (see 'vmlua qmp ID query-commands')"
        cli.usage(string.format("qmp: QEMU has no command '%s'%s", cmd, hint))
      end
    end
    c:close()
    if res == nil then cli.fail(qerr) end
    ctl.print_json(res)
    return 0
  end,
}
