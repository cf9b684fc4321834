-- `vmlua test` (the executable under test) as a user runs it: busted's
-- runner inside vmlua's own Lua 5.4, on the example spec copied next to a
-- recipe in a directory outside the repository, with busted's options after
-- --, and the message of every error a user can hit. After `make install`:
-- tests/e2e/install_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

-- A user's shell: none of the test run's LUA_PATH/LUA_CPATH, no preload.
local USER_ENV = { LUA_PATH = false, LUA_CPATH = false, LD_PRELOAD = false }
local EXAMPLE = H.root .. "/tests/unit/recipe_example_spec.lua"

local function env(extra)
  local t = {}
  for k, v in pairs(USER_ENV) do t[k] = v end
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function mkdir(path)
  assert(core.fs.mkdir(path, tonumber("755", 8)))
  return path
end

--- The number of tests in the example spec (one `it` each).
local function example_count()
  return select(2, H.read(EXAMPLE):gsub("\n%s*it%(", ""))
end

--- A user's recipe folder: the demo recipe and the example spec beside it.
local function user_dir(w)
  local dir = mkdir(w.dir .. "/my-recipes")
  H.write(dir .. "/qemu-demo.lua", assert(H.read(H.root .. "/scripts/recipes/qemu-demo.lua")))
  H.write(dir .. "/recipe_example_spec.lua", assert(H.read(EXAMPLE)))
  return dir
end

local function vmlua_test(w, args, opts)
  local argv = { "test" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return E.vmlua(w, argv, { cwd = opts and opts.cwd or w.dir, env = env(opts and opts.env), timeout = 120 })
end

describe("vmlua test", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function() H.cleanup_tmp() end)

  it("passes the example spec copied next to a recipe outside the repository (PATH defaults to .)", function()
    local dir = user_dir(w)
    assert.is_nil(dir:find(H.root, 1, true))
    local code, out, err = vmlua_test(w, {}, { cwd = dir })
    assert.are.same({ 0, "" }, { code, err }, out)
    assert.truthy(out:find(string.format("\n%d successes / 0 failures / 0 errors / 0 pending", example_count()), 1, true),
      out)
  end)

  it("takes the folder as PATH from any working directory", function()
    local dir = user_dir(w)
    local code, out = vmlua_test(w, { dir }, { cwd = "/" })
    assert.are.equal(0, code, out)
    assert.truthy(out:find(example_count() .. " successes / 0 failures", 1, true), out)
  end)

  it("passes the arguments after -- to busted (output handler, filter)", function()
    local dir = mkdir(w.dir .. "/specs")
    H.write(dir .. "/two_spec.lua", [[
describe("two", function()
  it("alpha", function() assert.is_true(require("vmlua.core").version ~= nil) end)
  it("beta", function() assert.are.equal(4, 2 + 2) end)
end)
]])
    local code, out = vmlua_test(w, { dir, "--", "-o", "TAP", "--filter=beta" })
    assert.are.equal(0, code, out)
    assert.are.equal("ok 1 - two beta\n1..1\n", out)
  end)

  it("exits 1 with busted's report when a test fails", function()
    local dir = mkdir(w.dir .. "/specs")
    H.write(dir .. "/fails_spec.lua", 'it("adds", function() assert.are.equal(5, 2 + 2) end)\n')
    local code, out = vmlua_test(w, { dir })
    assert.are.equal(1, code, out)
    assert.truthy(out:find("0 successes / 1 failure / 0 errors", 1, true), out)
    assert.truthy(out:find("Failure -> " .. dir .. "/fails_spec.lua @ 1", 1, true), out)
  end)

  it("exits 1 naming a PATH that does not exist", function()
    local code, out = vmlua_test(w, { "no-such-specs" })
    assert.are.equal(1, code, out)
    assert.truthy(out:find("Error -> Cannot find file or directory: no-such-specs", 1, true), out)
  end)

  it("rejects busted's options before -- with a usage error", function()
    local code, out, err = vmlua_test(w, { "-o", "TAP" })
    assert.are.same({ 2, "", "vmlua: test: unknown option '-o' (see 'vmlua help test')\n" }, { code, out, err })
  end)

  it("says which package to install when busted is not on the Lua path (LUA_PATH is honoured)", function()
    local code, out, err = vmlua_test(w, {}, { env = { LUA_PATH = "/nonexistent/?.lua" } })
    assert.are.same({ 2, "" }, { code, out })
    assert.truthy(err:find("^vmlua: test: busted is not installed for Lua 5%.4 %(apt%-get install lua%-busted%); " ..
      "searched: [^\n]*/nonexistent/%?%.lua\n$"), err)
  end)

  it("says which package to install when busted does not load", function()
    local fake = mkdir(w.dir .. "/fake")
    mkdir(fake .. "/busted")
    H.write(fake .. "/busted/runner.lua", 'error("module \'term\' not found", 0)\n')
    local code, out, err = vmlua_test(w, {}, { env = { VMLUA_PATH = fake } })
    assert.are.same({ 2, "", "vmlua: test: cannot load busted (apt-get install lua-busted): module 'term' not found\n" },
      { code, out, err })
  end)

  it("is listed by vmlua --help and explained by vmlua help test", function()
    local code, out = E.vmlua(w, { "--help" })
    assert.are.equal(0, code)
    assert.truthy(out:find("\n  test      run busted specs (recipe tests) with vmlua's Lua 5.4 and modules\n", 1, true), out)
    code, out = E.vmlua(w, { "help", "test" })
    assert.are.equal(0, code)
    assert.are.equal("usage: vmlua test [PATH...] [-- BUSTED-OPTION...]\n", out:match("^[^\n]*\n"))
    assert.truthy(out:find("apt-get install lua-busted", 1, true), out)
  end)
end)
