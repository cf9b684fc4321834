-- What a detached supervisor keeps open while the sandbox runs: once the
-- sandbox is ready, no followed log (serial, hypervisor output, helpers'
-- output) nor its inotify instance. Closing those costs an RCU grace
-- period (~15 ms on a busy host); kept until the end, it delayed every
-- `vmlua stop` and every supervisor exit by that much.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local FIX = H.root .. "/tests/fixtures/recipes/"

--- The targets of the supervisor's open fds.
local function open_files(pid)
  local out = {}
  for _, fd in ipairs(core.fs.list("/proc/" .. pid .. "/fd") or {}) do
    local target = core.fs.readlink("/proc/" .. pid .. "/fd/" .. fd)
    if target then out[#out + 1] = target end
  end
  return out
end

--- Fails unless the files show no followed log and at most one inotify
-- instance: core.wait's own for socket conditions (whose watches are gone
-- once a wait returns, so it closes at once).
local function assert_released(files)
  local inotify = 0
  for _, f in ipairs(files) do
    if f:find("inotify", 1, true) then inotify = inotify + 1 end
    assert.is_true(f:find("%.log$") == nil or f:find("/supervisor%.log$") ~= nil, f .. " is still open")
  end
  assert.is_true(inotify <= 1, inotify .. " inotify instances")
end

describe("the supervisor after ready", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  for _, ready in ipairs({ "serial", "line" }) do
    it("run --detach follows no log any more (" .. ready .. " probe, a helper with a socket probe)", function()
      local id = "fd" .. ready
      local code, _, err = E.vmlua(w, { "run", FIX .. "fake-clh.lua", "--detach",
        "--set", "fake=" .. H.fakes .. "/fake-cloud-hypervisor", "--set", "vmm=" .. H.fakes .. "/fake-vmm",
        "--set", "id=" .. id, "--set", "ready=" .. ready, "--set", "helper=socket", "--set", "keep=1" })
      assert.are.equal(0, code, err)
      finally(function() E.vmlua(w, { "stop", id }) end)
      local st = E.state(w, id)
      -- "ready" goes out first, the release follows: a SIGHUP, which the
      -- supervision loop logs and ignores, tells us it is supervising
      assert.is_true(core.kill(st.supervisor.pid, "SIGHUP"))
      assert.is_true(E.wait_text(w.run .. "/" .. id .. "/supervisor.log", "SIGHUP ignored", 10))
      local files = open_files(st.supervisor.pid)
      assert_released(files)
      -- what it does keep: the sandbox's lock and a pidfd on each process
      local joined = table.concat(files, "\n")
      assert.truthy(joined:find(w.run .. "/" .. id .. "/lock", 1, true), joined)
      assert.truthy(joined:find("[pidfd]", 1, true), joined)
    end)
  end

  it("a foreground run follows no log any more either", function()
    local r = E.start(w, { "run", FIX .. "fake-clh.lua", "--set", "fake=" .. H.fakes .. "/fake-cloud-hypervisor",
                           "--set", "id=fg", "--set", "keep=1" })
    assert.is_true(E.wait_text(r.out, "HOOK on_ready", 10))
    assert.is_true(r:signal("SIGHUP"))
    assert.is_true(E.wait_text(r.err, "SIGHUP ignored", 10))
    assert_released(open_files(r.pid))
    assert.is_true(r:signal("SIGTERM"))
    local code, _, err = r:finish(30)
    assert.are.equal(0, code, err)
  end)
end)
