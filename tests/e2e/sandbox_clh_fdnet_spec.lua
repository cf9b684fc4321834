-- A cloud-hypervisor network given as open fds (Kata's way) reaches the VMM:
-- in the REST flow through vm.add-net with the fd attached (SCM_RIGHTS), in
-- the command-line flow as an inherited fd named by --net fd=[N]. The fake
-- VMM keeps the fds it receives; /proc shows which file each one is.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/fixtures/recipes/clh-fd-net.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

describe("a cloud-hypervisor network given as fds", function()
  local w, tap
  before_each(function()
    w = E.world()
    tap = w.dir .. "/tap-stand-in"
    H.write(tap, "")
  end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  local function run(flow, id)
    local code, out, err = E.vmlua(w, { "run", "-d", RECIPE, "--set", "fake=" .. FAKE, "--set", "tap=" .. tap,
                                        "--set", "flow=" .. flow, "--set", "id=" .. id })
    assert.are.equal(0, code, err)
    assert.are.equal(id .. "\n", out)
    local _, info = E.vmlua(w, { "api", id, "vm.info" })
    local vm = core.json.decode(info)
    return vm, E.state(w, id).processes.hypervisor.pid
  end

  it("REST flow: vm.add-net carries the fd; the VM boots with the network", function()
    local vm, pid = run("api", "fdapi")
    assert.are.equal("Running", vm.state)
    local net = vm.config.net
    assert.are.equal(1, #net)
    assert.are.equal("52:54:00:12:34:56", net[1].mac)
    assert.are.equal(1, #net[1].fds)
    -- the fd the VMM holds is the file the recipe opened
    assert.are.equal(tap, core.fs.readlink(string.format("/proc/%d/fd/%d", pid, net[1].fds[1])))
    local code, out, err = E.vmlua(w, { "stop", "fdapi" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("fdapi stopped: powerdown", 1, true), out)
  end)

  it("command-line flow: the fd is passed to the VMM as fd 3 and named by --net fd=[3]", function()
    local vm, pid = run("cli", "fdcli")
    assert.are.equal("Running", vm.state)
    local argv = E.state(w, "fdcli").processes.hypervisor.argv
    assert.truthy(table.concat(argv, " "):find("--net mac=52:54:00:12:34:56,fd=[3]", 1, true), table.concat(argv, " "))
    assert.are.same({ 3 }, vm.config.net[1].fds)
    assert.are.equal(tap, core.fs.readlink(string.format("/proc/%d/fd/3", pid)))
    assert.are.equal(0, (E.vmlua(w, { "stop", "fdcli" })))
  end)

  it("an fd number the caller handed down reaches the VMM, through a detached supervisor too", function()
    -- the detached supervisor closes what its caller handed down, except the
    -- fds the recipe gives the hypervisor (core.fork_detached keep_fds)
    local env = { VMLUA_RUN_DIR = w.run }
    local preload = os.getenv("VMLUA_ASAN_PRELOAD")
    if preload and preload ~= "" then env.LD_PRELOAD = false end
    local p = assert(core.spawn {
      argv = { "sh", "-c", 'exec 9<"$0"; exec "$@"', tap, H.bin, "run", "-d", RECIPE, "--set", "fake=" .. FAKE,
               "--set", "tapfd=9", "--set", "id=fdinh" },
      env = env, stdin = "null", stdout = { file = w.dir .. "/out" }, stderr = "stdout",
    })
    local how, code = p:wait(60)
    p:close()
    assert.are.same({ "exited", 0 }, { how, code }, E.read(w.dir .. "/out"))
    local _, info = E.vmlua(w, { "api", "fdinh", "vm.info" })
    local vm = core.json.decode(info)
    assert.are.equal("Running", vm.state)
    local pid = E.state(w, "fdinh").processes.hypervisor.pid
    assert.are.equal(tap, core.fs.readlink(string.format("/proc/%d/fd/%d", pid, vm.config.net[1].fds[1])))
    assert.are.equal(0, (E.vmlua(w, { "stop", "fdinh" })))
  end)

  it("plan shows the vm.add-net call and the fd it carries", function()
    local code, out = E.vmlua(w, { "plan", RECIPE, "--set", "fake=" .. FAKE, "--set", "tap=" .. tap })
    assert.are.equal(0, code)
    assert.truthy(out:find("then vm.create with:", 1, true), out)
    assert.truthy(out:find("then vm.add-net (with 1 fd) with:", 1, true), out)
    assert.truthy(out:find("then vm.boot", 1, true), out)
    local _, json = E.vmlua(w, { "plan", "--json", RECIPE, "--set", "fake=" .. FAKE, "--set", "tap=" .. tap })
    local plan = core.json.decode(json)
    assert.are.same({ "vm.create", "vm.add-net", "vm.boot" }, { plan.boot[1].call, plan.boot[2].call, plan.boot[3].call })
    assert.are.equal(1, plan.boot[2].fds)
    assert.is_nil(plan.vm_config.net) -- an fd net never goes into vm.create
  end)
end)
