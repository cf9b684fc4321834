--- The vmlua command line: option parsing, help and dispatch.
-- Each command lives in its own module `vmlua.cli.<name>` that returns
-- `{ summary = "...", usage = "...", options = {...}, args = {...}, run = function(opts, args) }`.
-- Errors raised as `cli.fail(msg, code)` exit with that code; any other Lua error
-- exits 1 with its message (and a traceback when VMLUA_LOG=debug).

local cli = {}

cli.EXIT_OK, cli.EXIT_RUNTIME, cli.EXIT_USAGE = 0, 1, 2

--- Commands in the order `vmlua --help` lists them.
cli.commands = {
  "run", "plan", "check", "test", "ps", "inspect", "stop", "gc",
  "qmp", "api", "pause", "resume", "version", "help",
}

local failure_mt = { __tostring = function(e) return e.message end }

--- Raise an error that ends the command with `code` (default 1) and prints `msg`.
function cli.fail(msg, code)
  error(setmetatable({ message = msg, exit = code or cli.EXIT_RUNTIME }, failure_mt), 0)
end

--- Raise a usage error (exit 2).
function cli.usage(msg)
  cli.fail(msg, cli.EXIT_USAGE)
end

local known = {}
for _, c in ipairs(cli.commands) do known[c] = true end

local function load_command(name)
  if type(name) ~= "string" or not known[name] then return nil end
  local ok, mod = pcall(require, "vmlua.cli." .. name)
  if ok then return mod end
  if type(mod) == "string" and mod:find("module 'vmlua.cli." .. name .. "' not found", 1, true) then
    return nil
  end
  error(mod, 0)
end

--- The commands that are available in this build, each with its module.
function cli.available()
  local out = {}
  for _, name in ipairs(cli.commands) do
    local mod = load_command(name)
    if mod then out[#out + 1] = { name = name, mod = mod } end
  end
  return out
end

function cli.help_text()
  local lines = {
    "vmlua " .. require("vmlua").version .. ": a Lua-scriptable VM launcher",
    "",
    "usage: vmlua COMMAND [OPTIONS] [ARGS]",
    "",
    "commands:",
  }
  for _, c in ipairs(cli.available()) do
    lines[#lines + 1] = string.format("  %-9s %s", c.name, c.mod.summary or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Run 'vmlua help COMMAND' for a command's options."
  lines[#lines + 1] = "Exit status: 0 success, 1 runtime failure, 2 usage or recipe error."
  lines[#lines + 1] = "Environment: VMLUA_RUN_DIR, VMLUA_PATH, VMLUA_LOG (debug|info|warn|error|off),"
  lines[#lines + 1] = "VMLUA_LOG_FORMAT (text|json), NOTIFY_SOCKET."
  return table.concat(lines, "\n") .. "\n"
end

function cli.command_help(name, mod)
  local lines = { "usage: vmlua " .. (mod.usage or name), "" }
  if mod.summary then lines[#lines + 1] = mod.summary end
  if mod.description then lines[#lines + 1] = ""; lines[#lines + 1] = mod.description end
  if mod.options and #mod.options > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    for _, o in ipairs(mod.options) do
      local flag = o.long
      if o.short then flag = o.short .. ", " .. flag end
      if o.arg then flag = flag .. " " .. o.arg end
      lines[#lines + 1] = string.format("  %-24s %s", flag, o.help or "")
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

--- Parse `argv` against a command's option list.
-- Options: `{ long = "--set", short = "-s", arg = "KEY=VALUE", multi = true, key = "set",
-- number = true }`. Returns `opts, positional`; raises a usage error on bad input.
function cli.parse(name, mod, argv)
  local opts, pos = {}, {}
  local by_flag = {}
  for _, o in ipairs(mod.options or {}) do
    by_flag[o.long] = o
    if o.short then by_flag[o.short] = o end
  end
  local i = 1
  local only_positional = false
  while i <= #argv do
    local a = argv[i]
    if only_positional or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_positional = true
    else
      local flag, inline = a:match("^(%-%-[^=]+)=(.*)$")
      flag = flag or a
      local o = by_flag[flag]
      if not o then
        cli.usage(string.format("%s: unknown option '%s' (see 'vmlua help %s')", name, flag, name))
      end
      local key = o.key or o.long:gsub("^%-%-", ""):gsub("%-", "_")
      local value = true
      if o.arg then
        if inline then
          value = inline
        else
          i = i + 1
          value = argv[i]
          if value == nil then cli.usage(string.format("%s: option %s needs %s", name, flag, o.arg)) end
        end
        if o.number then
          local n = tonumber(value)
          if not n or n < 0 then
            cli.usage(string.format("%s: option %s needs a number >= 0, got '%s'", name, flag, value))
          end
          value = n
        end
      elseif inline then
        cli.usage(string.format("%s: option %s takes no value", name, flag))
      end
      if o.multi then
        opts[key] = opts[key] or {}
        table.insert(opts[key], value)
      else
        opts[key] = value
      end
    end
    i = i + 1
  end
  local want = mod.args or {}
  local required = 0
  for _, a in ipairs(want) do if not a:match("^%[") then required = required + 1 end end
  if #pos < required then
    cli.usage(string.format("%s: missing %s (usage: vmlua %s)", name, want[#pos + 1], mod.usage or name))
  end
  if not mod.variadic and #pos > #want then
    cli.usage(string.format("%s: unexpected argument '%s' (usage: vmlua %s)", name, pos[#want + 1], mod.usage or name))
  end
  return opts, pos
end

--- Parse `--set KEY=VALUE` values into a table; raises a usage error.
function cli.parse_sets(list)
  local args = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([%w_%.%-]+)=(.*)$")
    if not k then cli.usage(string.format("--set: expected KEY=VALUE, got '%s'", kv)) end
    args[k] = v
  end
  return args
end

local function run_command(argv)
  local name = argv[1]
  if name == nil then
    io.stderr:write(cli.help_text())
    return cli.EXIT_USAGE
  end
  if name == "--help" or name == "-h" then
    io.stdout:write(cli.help_text())
    return cli.EXIT_OK
  end
  if name == "--version" or name == "-V" then name = "version" end
  local mod = load_command(name)
  if not mod then
    cli.usage(string.format("unknown command '%s' (see 'vmlua --help')", name))
  end
  -- The executable starts with the supervised signals blocked (they are
  -- read through core.wait). Only commands that supervise keep them so;
  -- for the others Ctrl-C must simply work.
  if not mod.supervises then require("vmlua.core").signals.unblock() end
  local rest = table.move(argv, 2, #argv, 1, {})
  for _, a in ipairs(rest) do
    if a == "--help" or a == "-h" then
      io.stdout:write(cli.command_help(name, mod))
      return cli.EXIT_OK
    end
    if a == "--" then break end
  end
  local opts, pos = cli.parse(name, mod, rest)
  local code = mod.run(opts, pos)
  if code == nil or code == true then return cli.EXIT_OK end
  if code == false then return cli.EXIT_RUNTIME end
  return code
end

--- Entry point used by core/main.c: returns the exit status.
function cli.main(argv)
  local ok, res = xpcall(run_command, function(e)
    if type(e) == "table" and getmetatable(e) == failure_mt then return e end
    return { message = require("vmlua").error_message(e), exit = cli.EXIT_RUNTIME }
  end, argv)
  if ok then return res end
  io.stdout:flush()
  if res.message and res.message ~= "" then
    io.stderr:write("vmlua: ", res.message, "\n")
  end
  return res.exit or cli.EXIT_RUNTIME
end

return cli
