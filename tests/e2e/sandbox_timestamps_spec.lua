-- The CLOCK_MONOTONIC stamps a sandbox's state records for latency
-- measurements (bench/): ready_mono when vmlua decided the VM was ready,
-- exit_noticed_mono when it noticed the hypervisor's exit, on every path
-- (the VM exits by itself, `vmlua stop`, `run` interrupted). The fake VMM
-- (bench/recipes/fake-vmm.lua) records its own bind and exit times.
-- Bounds are generous: they prove "event-driven", not a speed.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/bench/recipes/fake-vmm.lua"

local function run_args(w, id, extra)
  local a = { "run", RECIPE, "--set", "vmm=" .. H.fakes .. "/fake-vmm", "--set", "id=" .. id,
              "--set", "ready_file=" .. w.dir .. "/bound-" .. id, "--set", "exit_file=" .. w.dir .. "/exit-" .. id }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

local function stamp(w, what, id)
  return tonumber(E.read(w.dir .. "/" .. what .. "-" .. id):match("^[%d.]+"))
end

describe("state timestamps (CLOCK_MONOTONIC)", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  it("ready_mono follows the socket's bind; vmlua stop records exit_noticed_mono", function()
    local code, out, err = E.vmlua(w, run_args(w, "t1", { "--detach", "--set", "delay=100" }))
    assert.are.equal(0, code, err)
    assert.are.equal("t1\n", out)
    local st = E.state(w, "t1")
    local bound = stamp(w, "bound", "t1")
    assert.is_number(st.ready_mono)
    assert.is_true(st.ready_mono >= bound and st.ready_mono - bound < 0.05, st.ready_mono - bound)
    code, out, err = E.vmlua(w, { "stop", "t1" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("t1 stopped: term", 1, true), out)
    st = E.state(w, "t1")
    local exited = stamp(w, "exit", "t1")
    assert.is_number(st.exit_noticed_mono)
    assert.is_true(st.exit_noticed_mono >= exited and st.exit_noticed_mono - exited < 0.05,
                   st.exit_noticed_mono - exited)
  end)

  it("a hypervisor that exits by itself: exit_noticed_mono right after its exit", function()
    local code, _, err = E.vmlua(w, run_args(w, "t2", { "--set", "exit=300" }))
    -- the fake exits 0: a clean shutdown of a foreground run
    assert.are.equal(0, code, err)
    local st = E.state(w, "t2")
    local exited = stamp(w, "exit", "t2")
    assert.are.equal("stopped", st.status)
    assert.is_true(st.ready_mono < exited)
    assert.is_true(st.exit_noticed_mono >= exited and st.exit_noticed_mono - exited < 0.05,
                   st.exit_noticed_mono - exited)
  end)

  it("run interrupted (SIGTERM): the stop policy's exit is stamped too", function()
    local r = E.start(w, run_args(w, "t3"))
    assert.is_true(E.wait_file(w.dir .. "/bound-t3", 10))
    assert.is_true(E.wait_text(w.run .. "/t3/state.json", '"running"', 10))
    r:signal("SIGTERM")
    local code, _, err = r:finish(30)
    assert.are.equal(0, code, err)
    local st = E.state(w, "t3")
    assert.are.equal("term", st.stop.step)
    assert.is_true(st.exit_noticed_mono >= stamp(w, "exit", "t3"))
  end)

  it("a stop that needs SIGKILL stamps the kill's exit", function()
    local code, _, err = E.vmlua(w, run_args(w, "t4", { "--detach" }))
    assert.are.equal(0, code, err)
    local st = E.state(w, "t4")
    assert.is_number(st.ready_mono)
    -- --force skips the policy: SIGKILL, then the exit is waited for
    code, _, err = E.vmlua(w, { "stop", "t4", "--force" })
    assert.are.equal(1, code, err) -- killed: not a clean exit
    st = E.state(w, "t4")
    assert.are.equal("kill", st.stop.step)
    assert.is_number(st.exit_noticed_mono)
    assert.is_true(st.exit_noticed_mono >= st.ready_mono)
    assert.is_nil(core.fs.stat(w.run .. "/t4/qmp.sock"))
  end)
end)
