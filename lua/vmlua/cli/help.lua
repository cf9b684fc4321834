--- vmlua help [COMMAND]
local cli = require "vmlua.cli"

return {
  summary = "show the commands, or one command's options",
  usage = "help [COMMAND]",
  args = { "[COMMAND]" },
  run = function(_, pos)
    local name = pos[1]
    if not name then
      io.stdout:write(cli.help_text())
      return 0
    end
    for _, c in ipairs(cli.available()) do
      if c.name == name then
        io.stdout:write(cli.command_help(name, c.mod))
        return 0
      end
    end
    cli.usage(string.format("help: unknown command '%s' (see 'vmlua --help')", name))
  end,
}
