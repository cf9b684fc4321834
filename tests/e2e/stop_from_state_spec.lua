-- `vmlua stop` of a sandbox whose supervisor is gone works from state.json
-- alone: it never loads the recipe, uses the stop policy the state
-- recorded, and acts only on what is provably the sandbox's — processes
-- that /proc shows as this user's, running the recorded program, with the
-- recorded start time; sockets in the sandbox's own dir.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local FIXTURE = H.root .. "/tests/fixtures/recipes/fake-clh.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"
local VMM = H.fakes .. "/fake-vmm"

describe("vmlua stop without a supervisor", function()
  local w, recipe, marker
  before_each(function()
    w = E.world()
    recipe = w.dir .. "/recipe.lua"
    marker = w.dir .. "/recipe-was-loaded"
    H.write(recipe, H.read(FIXTURE))
  end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  -- Start a sandbox detached, then SIGKILL its supervisor: the VM stays up.
  local function orphan(id)
    local code, _, err = E.vmlua(w, { "run", "-d", recipe, "--set", "fake=" .. FAKE, "--set", "vmm=" .. VMM,
                                      "--set", "id=" .. id, "--set", "keep=1" })
    assert.are.equal(0, code, err)
    local st = E.state(w, id)
    assert.is_true(core.kill(st.supervisor.pid, "SIGKILL"))
    local sup = core.proc.attach(st.supervisor.pid, st.supervisor.start_time)
    if sup then sup:wait(10); sup:close() end
    -- from now on, loading the recipe leaves a mark and fails
    H.write(recipe, string.format("io.open(%q, 'w'):close()\nerror('the recipe was loaded')\n", marker))
    return st
  end

  it("uses the recorded stop policy and never loads the recipe", function()
    local st = orphan("nosup")
    local hv = st.processes.hypervisor
    assert.is_true(core.proc.alive(hv.pid, hv.start_time))
    local code, out, err = E.vmlua(w, { "stop", "nosup" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("nosup stopped: powerdown", 1, true), out)
    assert.is_false(core.fs.exists(marker))
    assert.is_false(core.proc.alive(hv.pid, hv.start_time))
    assert.are.equal("stopped", E.state(w, "nosup").status)
  end)

  it("leaves alone a process the state names that is not the sandbox's, and paths outside its dir", function()
    local st = orphan("forged")
    -- a process of ours running another program, recorded as a helper
    local other = assert(core.spawn { argv = { VMM, "--socket", w.dir .. "/other.sock" }, stdin = "null" })
    local foreign_dir = w.dir .. "/elsewhere"
    assert(core.fs.mkdir(foreign_dir, tonumber("700", 8)))
    local listener = assert(core.socket.listen(foreign_dir .. "/keep.sock"))
    st.processes.imposter = { pid = other.pid, start_time = other.start_time, role = "helper",
                              argv = { "/usr/bin/virtiofsd" } }
    st.sockets.imposter = foreign_dir .. "/keep.sock"
    st.dir = foreign_dir
    st.recipe = recipe
    local store = assert(core.state.open(w.run))
    assert(store:save("forged", st))

    local code, out, err = E.vmlua(w, { "stop", "forged" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("forged stopped:", 1, true), out)
    assert.is_true(other:alive())
    assert.is_true(core.fs.exists(foreign_dir .. "/keep.sock"))
    assert.is_false(core.fs.exists(marker))
    local hv = st.processes.hypervisor
    assert.is_false(core.proc.alive(hv.pid, hv.start_time))
    other:terminate { grace = 2 }
    listener:close()
  end)

  it("says so when the only live process it records is not its own", function()
    local other = assert(core.spawn { argv = { VMM, "--socket", w.dir .. "/other2.sock" }, stdin = "null" })
    local store = assert(core.state.open(w.run))
    assert(store:save("ghost", {
      id = "ghost", hypervisor = "clh", status = "running", recipe = recipe,
      processes = { hypervisor = { pid = other.pid, start_time = other.start_time, role = "hypervisor",
                                   argv = { "cloud-hypervisor" } } },
      stop_policy = { { step = "kill", name = "kill", grace = 1 } },
    }))
    local code, out, err = E.vmlua(w, { "stop", "ghost" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("ghost is not running", 1, true), out)
    assert.truthy(out:find("pid " .. other.pid .. " is not its process: left alone", 1, true), out)
    assert.is_true(other:alive())
    assert.is_false(core.fs.exists(marker))
    other:terminate { grace = 2 }
    store:remove("ghost")
  end)
end)
