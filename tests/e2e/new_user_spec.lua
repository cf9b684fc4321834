-- What a new user hit (issue 13), through the vmlua executable, on the fake
-- cloud-hypervisor (it boots at once) and, where the QEMU side differs, on
-- the QEMU recipe's plan: wrong input exits 2 naming file:line and the
-- field, an interrupted `run -d` stops what it started, hooks run on a failed
-- start, states and `ps` tell the truth. Nothing may be left behind.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local FIX = H.root .. "/tests/fixtures/recipes/new-user.lua"
local GUEST = H.root .. "/tests/e2e/recipes/guest.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

-- the line of the fixture's vmlua.sandbox{} call, which recipe errors name
local SANDBOX_LINE = (function()
  local n = 0
  for line in io.lines(FIX) do
    n = n + 1
    if line:find("return vmlua.sandbox", 1, true) then return n end
  end
end)()

local function args(cmd, id, extra)
  local a = { cmd, FIX, "--set", "fake=" .. FAKE, "--set", "id=" .. id }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

describe("what new users hit", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  describe("a value that reaches an option string", function()
    it("a share source with a comma is a recipe error (exit 2), for check and run", function()
      local src = w.dir .. "/a,b"
      assert(core.fs.mkdir(src, tonumber("755", 8)))
      local want = string.format("new-user.lua:%d: shares[1].source: must not contain ','", SANDBOX_LINE)
      for _, cmd in ipairs({ "check", "run" }) do
        local code, _, err = E.vmlua(w, args(cmd, "comma", { "--set", "share=" .. src }))
        assert.are.equal(2, code, err)
        assert.truthy(err:find(want, 1, true), err)
        assert.falsy(err:find("plan.lua", 1, true), err)
      end
      assert.is_nil(E.state(w, "comma"))
    end)

    it("the same on QEMU", function()
      local src = w.dir .. "/a,b"
      assert(core.fs.mkdir(src, tonumber("755", 8)))
      local code, _, err = E.vmlua(w, { "check", GUEST, "--set", "share=" .. src })
      assert.are.equal(2, code, err)
      assert.truthy(err:find("guest.lua:%d+: shares%[1%]%.source: must not contain ','"), err)
    end)

    it("a run dir with a comma: cloud-hypervisor's socket options cannot take it (exit 2)", function()
      local run = w.dir .. "/r,d"
      assert(core.fs.mkdir(run, tonumber("700", 8)))
      local code, _, err = E.vmlua(w, args("run", "rundir"), { env = { VMLUA_RUN_DIR = run } })
      assert.are.equal(2, code, err)
      assert.truthy(err:find("hypervisor: cannot add the control socket: set_control_socket: api_socket: " ..
                             "must not contain ','", 1, true), err)
      assert.are.same({}, core.fs.list(run))
    end)
  end)

  describe("an invalid --id", function()
    it("plan, check and run all say --id: and exit 2, printing no plan", function()
      for _, cmd in ipairs({ "plan", "check", "run" }) do
        local code, out, err = E.vmlua(w, args(cmd, "x", { "--id", ".hidden" }))
        assert.are.equal(2, code, cmd .. ": " .. err)
        assert.are.equal("", out, cmd)
        assert.truthy(err:find("^vmlua: %-%-id: invalid sandbox id '%.hidden'"), cmd .. ": " .. err)
      end
    end)
  end)

  it("a missing share source suggests create = true", function()
    local code, _, err = E.vmlua(w, args("check", "nosrc", { "--set", "share=" .. w.dir .. "/nope" }))
    assert.are.equal(2, code, err)
    assert.truthy(err:find(string.format("new-user.lua:%d: shares[1].source: stat %s/nope: No such file or directory " ..
                                         "(create = true makes it)", SANDBOX_LINE, w.dir), 1, true), err)
  end)

  it("a start that fails after the hypervisor started calls on_exit, then on_failure", function()
    local code, out, err = E.vmlua(w, args("run", "late", { "--set", "want=NEVER-PRINTED", "--set", "timeout=1" }))
    assert.are.equal(1, code, err)
    local hooks = E.lines_of(out, "HOOK")
    assert.are.equal(2, #hooks, out)
    assert.truthy(hooks[1]:find("^HOOK on_exit "), out)
    assert.truthy(hooks[2]:find('^HOOK on_failure ready: serial probe %("NEVER%-PRINTED"%) did not pass'), out)
    local st = E.state(w, "late")
    assert.are.equal("failed", st.status)
    assert.are.equal("table", type(st.exit))
  end)

  it("a step can change a probe's timeout through sb.plan.processes[i].ready[j]", function()
    local t0 = core.monotonic()
    local code, _, err = E.vmlua(w, args("run", "stept", { "--set", "want=NEVER-PRINTED", "--set", "timeout=60",
                                                            "--set", "step_timeout=0.5" }))
    assert.are.equal(1, code, err)
    assert.truthy(err:find("did not pass within 0.5 s", 1, true), err)
    assert.truthy(core.monotonic() - t0 < 30)
  end)

  it("the documented step replacement waits for the agent's socket", function()
    local agent = w.dir .. "/agent.sock"
    local code, _, err = E.vmlua(w, args("run", "docstep", { "--set", "doc_step=" .. agent }))
    assert.are.equal(1, code, err)
    assert.truthy(err:find("socket probe (" .. agent .. ") did not pass within 2", 1, true), err)
    local l = assert(core.socket.listen(agent))
    code, _, err = E.vmlua(w, args("run", "docstep", { "--set", "doc_step=" .. agent }))
    l:close()
    core.fs.remove(agent)
    assert.are.equal(0, code, err)
  end)

  it("plan --json's keys are the ones the plan's documentation maps", function()
    local doc = assert(H.read(H.root .. "/docs/api/vmlua.md"))
    local table_text = assert(doc:match("| `plan %-%-json` key | from the Lua plan |\n(.-)\n\n"))
    local code, out, err = E.vmlua(w, args("plan", "pj", { "--json" }))
    assert.are.equal(0, code, err)
    local keys = {}
    for k in pairs(core.json.decode(out)) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.truthy(#keys >= 10)
    for _, k in ipairs(keys) do
      assert.truthy(table_text:find("`" .. k .. "`", 1, true), "plan --json key '" .. k .. "' is not documented")
    end
  end)

  it("a run whose on_ready raised is recorded as failed, with the error", function()
    local code, _, err = E.vmlua(w, args("run", "raiser", { "--set", "raise=1" }))
    assert.are.equal(1, code)
    assert.truthy(err:find("on_ready hook failed: .*the greeting failed"), err)
    local st = E.state(w, "raiser")
    assert.are.equal("failed", st.status)
    assert.truthy(st.error:find("the greeting failed", 1, true), st.error)
  end)

  it("the loser of a race never names a dead pid", function()
    assert.are.equal(0, (E.vmlua(w, args("run", "race"))))
    local old = E.state(w, "race")
    assert.is_false(core.proc.alive(old.supervisor.pid, old.supervisor.start_time))
    -- another vmlua holds the lock, and has not yet saved its own state
    local store = assert(core.state.open(w.run))
    local lock = assert(store:lock("race"))
    local code, _, err = E.vmlua(w, args("run", "race"))
    lock:close()
    store:close()
    assert.are.equal(1, code)
    assert.are.equal("vmlua: sandbox 'race' is busy: another vmlua is starting or stopping it\n", err)
  end)

  it("a re-run keeps the previous run's logs as NAME.log.1", function()
    assert.are.equal(0, (E.vmlua(w, args("run", "again"))))
    local dir = w.run .. "/again/"
    H.write(dir .. "serial.log", "FIRST RUN\n", "ab")
    assert.are.equal(0, (E.vmlua(w, args("run", "again"))))
    assert.truthy(E.read(dir .. "serial.log.1"):find("FIRST RUN", 1, true))
    assert.falsy(E.read(dir .. "serial.log"):find("FIRST RUN", 1, true))
    assert.truthy(E.read(dir .. "serial.log"):find("VMLUA-GUEST-READY", 1, true))
    assert.truthy(core.fs.exists(dir .. "hypervisor.log.1"))
  end)

  describe("run -d", function()
    it("shows what on_ready printed before it returns; stdout is the id", function()
      local code, out, err = E.vmlua(w, args("run", "det", { "--set", "keep=1", "-d" }))
      assert.are.equal(0, code, err)
      assert.are.equal("det\n", out)
      assert.truthy(err:find("HOOK on_ready det", 1, true), err)
      assert.are.equal(0, (E.vmlua(w, { "stop", "det" })))
    end)

    it("Ctrl-C during the start stops it before run returns 1", function()
      -- the sandbox dir made beforehand, so that the serial log can be followed (a re-used dir)
      local store = assert(core.state.open(w.run))
      local dir = assert(store:dir_of("intr"))
      store:close()
      local r = E.start(w, args("run", "intr", { "--set", "want=NEVER-PRINTED", "--set", "timeout=60", "-d" }))
      assert.is_true(E.wait_text(dir .. "/serial.log", "VMLUA-GUEST-READY", 30))
      assert.is_true(r:signal("SIGINT"))
      local code, out, err = r:finish(30)
      assert.are.equal(1, code, err)
      assert.are.equal("", out)
      assert.truthy(err:find("interrupted by SIGINT during the start; the sandbox was stopped", 1, true), err)
      local st = E.state(w, "intr")
      assert.are.equal("failed", st.status)
      assert.is_false(core.proc.alive(st.supervisor.pid, st.supervisor.start_time))
      assert.is_false(core.proc.alive(st.pid, st.processes.hypervisor.start_time))
    end)

    it("ps shows a paused VM as paused", function()
      assert.are.equal(0, (E.vmlua(w, args("run", "pz", { "--set", "keep=1", "-d" }))))
      assert.are.equal(0, (E.vmlua(w, { "pause", "pz" })))
      local _, ps = E.vmlua(w, { "ps" })
      assert.truthy(ps:find("\npz%s+clh%s+paused%s"), ps)
      local _, json = E.vmlua(w, { "ps", "--json" })
      assert.are.equal("paused", core.json.decode(json)[1].status)
      assert.are.equal(0, (E.vmlua(w, { "resume", "pz" })))
      _, ps = E.vmlua(w, { "ps" })
      assert.truthy(ps:find("\npz%s+clh%s+running%s"), ps)
      -- a pause made another way: ps keeps its recorded status; inspect asks the VM
      assert.are.equal(0, (E.vmlua(w, { "api", "pz", "vm.pause" })))
      local _, insp = E.vmlua(w, { "inspect", "pz" })
      local st = core.json.decode(insp)
      assert.are.equal("paused", st.live_status)
      assert.are.equal("Paused", st.vm_state)
      assert.are.equal(0, (E.vmlua(w, { "resume", "pz" })))
      assert.are.equal(0, (E.vmlua(w, { "stop", "pz" })))
    end)
  end)
end)
