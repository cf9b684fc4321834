--- vmlua test [PATH...] [-- BUSTED-OPTION...]: run busted specs (a recipe's
-- tests) inside vmlua's own Lua 5.4, where `require "vmlua"` finds the
-- library this executable runs (source tree or install prefix).
--
-- Debian's /usr/bin/busted runs Lua 5.1, but lua-busted also installs its
-- modules for 5.4 (/usr/share/lua/5.4, on liblua5.4's default path): so
-- busted's runner is required here instead of run as a program.
local cli = require "vmlua.cli"

local INSTALL_HINT = "apt-get install lua-busted"

--- PATHs are the arguments up to the first that starts with "-": vmlua's
-- parser accepts such an argument only after `--`, so it and what follows
-- are busted's. Without a PATH, the current directory.
local function split(pos)
  local paths, rest = {}, {}
  for _, a in ipairs(pos) do
    if #rest == 0 and a:sub(1, 1) ~= "-" then paths[#paths + 1] = a else rest[#rest + 1] = a end
  end
  if #paths == 0 then paths[1] = "." end
  return paths, rest
end

--- Where `luarocks --local install busted` puts it, searched after the
-- default path; a LUA_PATH or LUA_CPATH the user set is used as it is.
local function add_user_rocks()
  local home = os.getenv("HOME")
  if not home or home == "" then return end
  local tree = home .. "/.luarocks"
  if not (os.getenv("LUA_PATH_5_4") or os.getenv("LUA_PATH")) then
    package.path = package.path .. ";" .. tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"
  end
  if not (os.getenv("LUA_CPATH_5_4") or os.getenv("LUA_CPATH")) then
    package.cpath = package.cpath .. ";" .. tree .. "/lib/lua/5.4/?.so"
  end
end

--- busted's runner, or a failure (exit 2) that says what to install.
local function load_runner()
  add_user_rocks()
  if not package.searchpath("busted.runner", package.path) then
    cli.fail("test: busted is not installed for Lua 5.4 (" .. INSTALL_HINT .. "); searched: " .. package.path,
      cli.EXIT_USAGE)
  end
  local ok, runner = pcall(require, "busted.runner")
  if not ok then
    cli.fail(string.format("test: cannot load busted (%s): %s", INSTALL_HINT, tostring(runner)), cli.EXIT_USAGE)
  end
  return runner
end

return {
  summary = "run busted specs (recipe tests) with vmlua's Lua 5.4 and modules",
  usage = "test [PATH...] [-- BUSTED-OPTION...]",
  description = table.concat({
    "Runs busted on the spec files (*_spec.lua) in each PATH (default: the current",
    "directory, recursively) inside vmlua's own Lua 5.4: require \"vmlua\" and its modules",
    "load as recipes see them, and nothing is started unless a spec starts it. Arguments",
    "after -- go to busted unchanged (vmlua test specs -- --filter=share -o TAP; see",
    "vmlua test -- --help). Needs busted for Lua 5.4: " .. INSTALL_HINT .. ".",
    "Exit status: busted's (0 when every test passed, 1 otherwise); 2 when busted is",
    "missing.",
  }, "\n"),
  args = { "[PATH...]" },
  variadic = true,
  run = function(_, pos)
    local runner = load_runner()
    local paths, busted_args = split(pos)
    local argv = { [0] = "vmlua test" }
    table.move(paths, 1, #paths, 1, argv)
    table.move(busted_args, 1, #busted_args, #argv + 1, argv)
    -- busted reads its arguments from `arg`, and names itself after the
    -- file that called the runner: so call it from a chunk named "vmlua test"
    -- (not a tail call, which would hide that chunk).
    _G.arg = argv
    local call = assert(load("local runner = ... local r = runner({ standalone = false }) return r",
      "@vmlua test"))
    -- On a failed test busted exits by itself (os.exit(1)); it returns only
    -- when everything passed.
    call(runner)
    return cli.EXIT_OK
  end,
}
