-- `vmlua run --detach` in a pipeline whose writer fd the caller handed down
-- (issue 12 finding 9): the supervisor must not keep it, or the pipeline
-- never ends. A sandbox on the fake cloud-hypervisor (no VM).
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local FIX = H.root .. "/tests/fixtures/recipes/"

describe("vmlua run --detach 9>&1 | cat", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  it("finishes once vmlua has: the supervisor does not hold the caller's pipe", function()
    local id = "pipe9"
    local env = { VMLUA_RUN_DIR = w.run }
    local preload = os.getenv("VMLUA_ASAN_PRELOAD")
    if preload and preload ~= "" then env.LD_PRELOAD = false end
    local p = assert(core.spawn {
      argv = { "sh", "-c", '"$@" 9>&1 | cat', "sh", H.bin, "run", FIX .. "fake-clh.lua", "--detach",
               "--set", "fake=" .. H.fakes .. "/fake-cloud-hypervisor", "--set", "vmm=" .. H.fakes .. "/fake-vmm",
               "--set", "id=" .. id, "--set", "keep=1" },
      env = env, stdin = "null", stdout = { file = w.dir .. "/out" }, stderr = "stdout",
    })
    local how, code = p:wait(15)
    p:close()
    finally(function() E.vmlua(w, { "stop", id }) end)
    assert.same({ "exited", 0 }, { how, code }, E.read(w.dir .. "/out"))
    local st = assert(E.state(w, id))
    assert.is_true(core.proc.alive(st.supervisor.pid, st.supervisor.start_time), "the sandbox runs")
  end)
end)
