-- End to end: the cloud-hypervisor path, with the shipped recipe
-- scripts/recipes/clh-kata.lua, the fake cloud-hypervisor of tests/fakes/
-- (faithful to today's CLI and REST API) and the real virtiofsd. Both the
-- REST flow (Kata's: --api-socket, vm.create, vm.boot, vm.info) and the
-- command-line flow. After every test nothing may be left running, no socket
-- may remain, and gc must leave the run dir empty. The recipe runs without
-- its guest agent here (agent=0: the power button and vmm.shutdown are what
-- these stop with); tests/e2e/agent_clh_spec.lua has the agent.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/scripts/recipes/clh-kata.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

local function args(w, id, extra)
  local a = { "run", RECIPE, "--progress", "--set", "clh=" .. FAKE, "--set", "share=" .. w.share,
              "--set", "id=" .. id, "--set", "agent=0" }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

local function assert_clean(w) assert.are.same({}, E.leftovers(w)) end

describe("vmlua run (cloud-hypervisor, fake VMM, real virtiofsd)", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("REST flow: detached start, api/pause/resume, stop by the power button", function()
    local code, out, err = E.vmlua(w, args(w, "rest", { "-d" }))
    assert.are.equal(0, code, err)
    assert.are.equal("rest\n", out)
    local st = E.state(w, "rest")
    assert.are.equal("running", st.status)
    assert.are.equal("clh", st.hypervisor)
    -- the VMM was started with only its API socket, as Kata does
    local argv = st.processes.hypervisor.argv
    assert.are.equal(FAKE, argv[1])
    assert.are.equal("--api-socket", argv[2])
    assert.is_nil(table.concat(argv, " "):find("--kernel", 1, true))

    local icode, info = E.vmlua(w, { "api", "rest", "vm.info" })
    assert.are.equal(0, icode)
    local vm = core.json.decode(info)
    assert.are.equal("Running", vm.state)
    assert.are.equal("kataShared", vm.config.fs[1].tag)
    assert.is_true(vm.config.memory.shared)

    assert.are.equal(0, (E.vmlua(w, { "pause", "rest" })))
    assert.are.equal("Paused", core.json.decode(select(2, E.vmlua(w, { "api", "rest", "vm.info" }))).state)
    assert.are.equal(0, (E.vmlua(w, { "resume", "rest" })))
    assert.are.equal("Running", core.json.decode(select(2, E.vmlua(w, { "api", "rest", "vm.info" }))).state)

    local scode, sout, serr = E.vmlua(w, { "stop", "rest" })
    assert.are.equal(0, scode, serr)
    assert.truthy(sout:find("rest stopped: powerdown", 1, true), sout)
    assert_clean(w)
  end)

  it("command-line flow: everything on argv; SIGTERM stops it gracefully", function()
    local r = E.start(w, args(w, "cli", { "--set", "flow=cli" }))
    assert.is_true(E.wait_text(r.err, "cli ready", 30))
    local st = E.state(w, "cli")
    local argv = table.concat(st.processes.hypervisor.argv, " ")
    assert.truthy(argv:find("--kernel ", 1, true))
    assert.truthy(argv:find("--fs tag=kataShared,socket=" .. w.run .. "/cli/vfs1.sock", 1, true), argv)
    assert.truthy(argv:find("shared=on", 1, true))
    assert.truthy(argv:find("--vsock cid=3,socket=" .. w.run .. "/cli/clh.sock", 1, true), argv)
    assert.is_true(r:signal("SIGTERM"))
    local code, _, err = r:finish(30)
    assert.are.equal(0, code, err)
    assert.are.equal("powerdown", E.state(w, "cli").stop.step)
    assert_clean(w)
  end)

  it("falls through to vmm.shutdown when the guest ignores the power button", function()
    local code, _, err = E.vmlua(w, args(w, "deaf", { "-d" }), { env = { FAKE_CLH_IGNORE_POWER_BUTTON = "1" } })
    assert.are.equal(0, code, err)
    local scode, sout = E.vmlua(w, { "stop", "deaf" })
    assert.are.equal(0, scode)
    assert.truthy(sout:find("deaf stopped: shutdown", 1, true), sout)
    assert_clean(w)
  end)

  it("fails at once with the VMM's stderr when it exits at start, and stops virtiofsd", function()
    local code, _, err = E.vmlua(w, args(w, "boom"), { env = { FAKE_CLH_FAIL_AT_START = "Error booting VM: boom" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("hypervisor exited with status 1", 1, true), err)
    assert.truthy(err:find("Error booting VM: boom", 1, true), err)
    assert.are.equal("failed", E.state(w, "boom").status)
    assert_clean(w)
  end)

  it("gives up on an API that never answers, naming the call", function()
    local t0 = core.monotonic()
    local code, _, err = E.vmlua(w, args(w, "hang"), { env = { FAKE_CLH_HANG_API = "1" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("vmm.ping failed", 1, true), err)
    assert.truthy(core.monotonic() - t0 < 30)
    assert_clean(w)
  end)

  it("reports a VMM that crashes while running (exit 1, state failed)", function()
    local code, _, err = E.vmlua(w, args(w, "crash"), { env = { FAKE_CLH_CRASH_AFTER_MS = "300" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("killed by SIGABRT", 1, true), err)
    local st = E.state(w, "crash")
    assert.are.equal("failed", st.status)
    assert.are.same({ how = "killed", code = 6 }, st.exit)
    assert_clean(w)
  end)

  it("stops the sandbox when virtiofsd dies while it runs", function()
    local r = E.start(w, args(w, "vfsdie"))
    assert.is_true(E.wait_text(r.err, "vfsdie ready", 30))
    local st = E.state(w, "vfsdie")
    assert.is_true(core.kill(st.processes["virtiofsd-kataShared"].pid, "SIGKILL"))
    local code, _, err = r:finish(30)
    assert.are.equal(1, code)
    assert.truthy(err:find("virtiofsd-kataShared was killed by SIGKILL", 1, true), err)
    assert.are.equal("failed", E.state(w, "vfsdie").status)
    assert_clean(w)
  end)

  it("plans the REST flow: the API-only argv, then vm.create with the body", function()
    local code, out = E.vmlua(w, { "plan", RECIPE, "--set", "clh=" .. FAKE, "--set", "share=" .. w.share })
    assert.are.equal(0, code)
    assert.truthy(out:find("then vm.create with:", 1, true))
    assert.truthy(out:find('"tag": "kataShared"', 1, true))
    local jcode, json = E.vmlua(w, { "plan", "--json", RECIPE, "--set", "clh=" .. FAKE, "--set", "share=" .. w.share })
    assert.are.equal(0, jcode)
    local plan = core.json.decode(json)
    assert.are.equal("api", plan.flow)
    assert.are.equal("virtiofsd-kataShared", plan.processes[1].name)
    assert.are.equal("hypervisor", plan.processes[2].name)
    assert.is_true(plan.vm_config.memory.shared)
    assert.are.same({}, E.run_dir_entries(w)) -- plan creates nothing
  end)
end)
