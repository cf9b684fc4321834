-- How to test a guest with busted: vmlua.testing starts a sandbox from a
-- recipe in `setup`, the tests run commands in it through its guest agent,
-- and `teardown` stops it and removes everything it left -- also when a test
-- fails or errors. Copy this file next to your recipe, point RECIPE at it and
-- run it with `vmlua test` (busted inside vmlua's own Lua 5.4):
--
--   vmlua test tests/e2e/testing_example_spec.lua       # build/vmlua from a checkout
--
-- The recipe needs `agent = true` (scripts/recipes/qemu-demo.lua has it).
local testing = require "vmlua.testing"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = require("vmlua.core").fs.realpath(here .. "/../..")
local RECIPE = root .. "/scripts/recipes/qemu-demo.lua"
local guest_kit = os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local share = os.tmpname() -- a file name nobody else uses: the share dir is this plus ".d"

local seen = {} -- what the last describe checks: the sandbox's run dir and id

describe("the demo guest, through vmlua.testing", function()
  local sb = testing.sandbox(RECIPE, { set = { guest = guest_kit, share = share .. ".d" } })
  setup(function()
    sb:start()
    seen.run_dir, seen.id = sb.run_dir, sb.id
  end)
  teardown(function() sb:stop() end)

  it("runs a command and gets its output and exit status", function()
    local r = assert(sb:exec { "sh", "-c", "echo hello; echo oops >&2; exit 3" })
    assert.are.same({ status = 3, stdout = "hello\n", stderr = "oops\n" },
                    { status = r.status, stdout = r.stdout, stderr = r.stderr })
  end)

  it("passes input and environment", function()
    local r = assert(sb:exec { "sh", "-c", "tr a-z A-Z; echo $GREETING", input = "abc\n",
                               env = { GREETING = "hi" } })
    assert.are.equal("ABC\nhi\n", r.stdout)
  end)

  it("copies files in and out", function()
    local host = share .. ".in"
    local f = assert(io.open(host, "wb"))
    f:write(string.rep("0123456789", 100000))
    f:close()
    assert.are.equal(1000000, sb:push(host, "/tmp/copied"))
    assert.are.equal("1000000\n", assert(sb:exec { "sh", "-c", "wc -c </tmp/copied" }).stdout)
    assert.are.equal(1000000, sb:pull("/tmp/copied", host .. ".back"))
    assert.are.equal(string.rep("0123456789", 100000), io.open(host .. ".back", "rb"):read("a"))
    os.remove(host)
    os.remove(host .. ".back")
  end)

  it("sees the share the recipe wired in", function()
    local r = assert(sb:exec { "cat", "/mnt/share/hello-from-guest.txt" })
    assert.truthy(r.stdout:find("hello from the vmlua guest", 1, true))
  end)
end)

describe("after the teardown", function()
  it("nothing of the sandbox runs and its run dir is gone", function()
    local core = require "vmlua.core"
    assert.is_string(seen.run_dir)
    assert.is_false(core.fs.exists(seen.run_dir))
    for _, name in ipairs(core.fs.list("/proc") or {}) do
      local f = tonumber(name) and io.open("/proc/" .. name .. "/cmdline", "rb")
      if f then
        local cmd = f:read("a") or ""
        f:close()
        assert.is_nil(cmd:find(seen.run_dir, 1, true), "still running: " .. cmd:gsub("%z", " "))
      end
    end
    os.remove(share)
    core.fs.remove_tree(share .. ".d")
  end)
end)
