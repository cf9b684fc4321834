-- Packaging: `make install` (PREFIX, DESTDIR) and `make uninstall`, and the
-- rockspec through `luarocks make --local`: the installed executable runs
-- from its prefix (`vmlua test` too, on the example spec next to a recipe),
-- and a plain lua5.4 loads the installed vmlua.core.
local core = require "vmlua.core"
local H = require "support.h"

local function run(argv, opts)
  opts = opts or {}
  local out = os.tmpname()
  local p = assert(core.spawn { argv = argv, env = opts.env, cwd = opts.cwd or H.root, stdin = "null",
                                stdout = { file = out, append = false }, stderr = "stdout" })
  local how, code = p:wait(300)
  p:close()
  local text = H.read(out) or ""
  os.remove(out)
  return how == "exited" and code == 0, text
end

-- What is installed is the normal build (make install, luarocks make):
-- children need no sanitizer runtime, and no LUA_PATH/LUA_CPATH of the tests.
local function lua_env(extra)
  local env = { LD_PRELOAD = false, LUA_PATH = false, LUA_CPATH = false }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

describe("installation", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup_tmp() end)

  it("make install puts a relocatable vmlua, vmlua.core and the scripts under DESTDIR/PREFIX; uninstall removes them", function()
    local ok, out = run({ "make", "--no-print-directory", "install", "DESTDIR=" .. dir, "PREFIX=/opt/vmlua" })
    assert.is_true(ok, out)
    local prefix = dir .. "/opt/vmlua"
    for _, f in ipairs({ "/bin/vmlua", "/lib/lua/5.4/vmlua/core.so", "/share/lua/5.4/vmlua/init.lua",
                         "/share/lua/5.4/vmlua/sandbox/launch.lua", "/share/lua/5.4/vmlua/scripts/params/qemu-serial.lua",
                         "/share/lua/5.4/vmlua/scripts/recipes/qemu-demo.lua", "/share/man/man1/vmlua.1" }) do
      assert.is_true(core.fs.exists(prefix .. f), f)
    end

    -- the executable finds its Lua library next to it, not in the source tree
    local vok, version = run({ prefix .. "/bin/vmlua", "version" }, { cwd = dir, env = lua_env() })
    assert.is_true(vok, version)
    assert.truthy(version:find("^vmlua "))
    local pok, plan = run({ prefix .. "/bin/vmlua", "plan", prefix .. "/share/lua/5.4/vmlua/scripts/recipes/qemu-demo.lua" },
                          { cwd = dir, env = lua_env({ VMLUA_RUN_DIR = dir .. "/run" }) })
    assert.is_true(pok, plan)
    assert.truthy(plan:find("console=ttyS0", 1, true), plan) -- params.load found the installed set

    -- vmlua test runs the example spec next to a copy of the installed demo
    -- recipe, with the installed library
    local user = dir .. "/my-recipes"
    assert(core.fs.mkdir(user, tonumber("755", 8)))
    H.write(user .. "/qemu-demo.lua", assert(H.read(prefix .. "/share/lua/5.4/vmlua/scripts/recipes/qemu-demo.lua")))
    local example = assert(H.read(H.root .. "/tests/unit/recipe_example_spec.lua"))
    H.write(user .. "/recipe_example_spec.lua", example)
    local tok, tested = run({ prefix .. "/bin/vmlua", "test" }, { cwd = user, env = lua_env() })
    assert.is_true(tok, tested)
    local count = select(2, example:gsub("\n%s*it%(", "")) -- one `it` per test
    assert.truthy(tested:find(count .. " successes / 0 failures / 0 errors", 1, true), tested)

    -- a plain lua5.4 loads the installed module
    local lok, loaded = run({ "lua5.4", "-e", "local c = require 'vmlua.core'; io.write(c.version, ' ', package.searchpath('vmlua.core', package.cpath))" },
                            { cwd = dir, env = lua_env({ LUA_CPATH = prefix .. "/lib/lua/5.4/?.so" }) })
    assert.is_true(lok, loaded)
    assert.truthy(loaded:find(prefix .. "/lib/lua/5.4/vmlua/core.so", 1, true), loaded)

    local uok, uout = run({ "make", "--no-print-directory", "uninstall", "DESTDIR=" .. dir, "PREFIX=/opt/vmlua" })
    assert.is_true(uok, uout)
    assert.is_false(core.fs.exists(prefix .. "/bin/vmlua"))
    assert.is_false(core.fs.exists(prefix .. "/lib/lua/5.4/vmlua/core.so"))
    assert.is_false(core.fs.exists(prefix .. "/share/lua/5.4/vmlua"))
  end)

  it("luarocks make --local builds and installs the rock; the installed module loads", function()
    local env = lua_env({ HOME = dir })
    local ok, out = run({ "luarocks", "--lua-version=5.4", "make", "--local", "vmlua-scm-1.rockspec" }, { env = env })
    assert.is_true(ok, out)
    local tree = dir .. "/.luarocks"
    assert.is_true(core.fs.exists(tree .. "/lib/lua/5.4/vmlua/core.so"))
    assert.is_true(core.fs.exists(tree .. "/share/lua/5.4/vmlua/qemu.lua"))
    local lok, loaded = run({ "lua5.4", "-e",
      "local c = require 'vmlua.core'; local q = require 'vmlua.qemu'; io.write(c.version, ' ', package.searchpath('vmlua.core', package.cpath))" },
      { cwd = dir, env = lua_env({ HOME = dir, LUA_CPATH = tree .. "/lib/lua/5.4/?.so",
                                   LUA_PATH = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua" }) })
    assert.is_true(lok, loaded)
    assert.truthy(loaded:find(tree .. "/lib/lua/5.4/vmlua/core.so", 1, true), loaded)
    local vok, version = run({ tree .. "/bin/vmlua", "version" }, { cwd = dir, env = env })
    assert.is_true(vok, version)
    assert.truthy(version:find("^vmlua "))
  end)
end)
