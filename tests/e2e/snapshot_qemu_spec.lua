-- End to end, real QEMU (TCG), the guest kit without a share: `vmlua
-- snapshot ID DIR` and `vmlua run RECIPE --restore DIR`. One sandbox boots
-- once (setup); the tests save it and start new sandboxes from the saves.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/e2e/recipes/noshare.lua"

local function qmp_state(w, id)
  local code, out, err = E.vmlua(w, { "qmp", id, "query-status" })
  assert.are.equal(0, code, err)
  return core.json.decode(out).status
end

-- A copy of snapshot dir `from` in `to`, its state file cut to `size`
-- bytes; with `record`, the manifest says so too.
local function truncated_copy(from, to, size, record)
  assert(core.fs.mkdir(to, tonumber("700", 8)))
  H.write(to .. "/state", assert(H.read(from .. "/state")):sub(1, size))
  local m = core.json.decode(assert(H.read(from .. "/vmlua-snapshot.json")))
  if record then m.files[1].size = size end
  H.write(to .. "/vmlua-snapshot.json", core.json.encode(m))
end

describe("snapshots (QEMU, real guest)", function()
  local w
  setup(function()
    w = E.world()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=s0", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
  end)
  teardown(function()
    if w then
      E.vmlua(w, { "stop", "s0" })
      local problems = E.leftovers(w)
      H.cleanup_tmp()
      assert.are.same({}, problems)
    end
  end)

  it("saves a running sandbox and resumes it; run --restore starts a new sandbox from there", function()
    local dir = w.dir .. "/snap"
    local code, out, err = E.vmlua(w, { "snapshot", "s0", dir })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("^s0 saved in " .. dir:gsub("%p", "%%%0") .. " %(%d+%.%d MiB, %d+%.%d+ s%); running\n$"), out)
    assert.are.equal("running", qmp_state(w, "s0"))
    local m = core.json.decode(assert(H.read(dir .. "/vmlua-snapshot.json")))
    assert.are.equal(1, m.format)
    assert.are.equal("snapshot", m.kind)
    assert.are.equal("qemu", m.hypervisor)
    assert.are.equal("s0", m.source.id)
    assert.are.equal("state", m.files[1].name)
    assert.are.equal(core.fs.stat(dir .. "/state").size, m.files[1].size)
    assert.are.equal("<sandbox dir>/qmp.sock", m.config.fingerprint.qmp_sockets[1].name)
    -- the plan shows how the state comes in
    local pcode, plan = E.vmlua(w, { "plan", RECIPE, "--restore", dir, "--set", "id=r0" })
    assert.are.equal(0, pcode)
    assert.truthy(plan:find("-incoming defer", 1, true), plan)
    assert.truthy(plan:find("then migrate-incoming with:", 1, true), plan)
    assert.truthy(plan:find("ready: qmp probe (state running)", 1, true), plan)
    code, out, err = E.vmlua(w, { "run", RECIPE, "--restore", dir, "--set", "id=r0", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    assert.are.equal("r0\n", out)
    local st = E.state(w, "r0")
    assert.are.equal("running", st.status)
    assert.are.same({ mode = "restore", dir = dir }, st.snapshot)
    assert.is_false(E.booted(w.run .. "/r0/serial.log"))
    code, out, err = E.vmlua(w, { "stop", "r0" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("r0 stopped: powerdown", 1, true), out)
    assert.truthy(E.read(w.run .. "/r0/serial.log"):find("powering off (ACPI power button)", 1, true))
  end)

  it("leaves a paused VM paused, and saves it again", function()
    assert.are.equal(0, (E.vmlua(w, { "pause", "s0" })))
    local code, out, err = E.vmlua(w, { "snapshot", "s0", w.dir .. "/paused" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("; running\n", 1, true), out)
    assert.are.equal("postmigrate", qmp_state(w, "s0")) -- QEMU's "paused since a migration"
    code, out, err = E.vmlua(w, { "snapshot", "s0", w.dir .. "/paused2" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("s0 saved in", 1, true), out)
    assert.are.equal(0, (E.vmlua(w, { "resume", "s0" })))
    assert.are.equal("running", qmp_state(w, "s0"))
  end)

  it("refuses a dir that is not empty, an unknown sandbox, a sandbox with shares", function()
    H.write(w.dir .. "/full", "")
    assert(core.fs.mkdir(w.dir .. "/notempty"))
    H.write(w.dir .. "/notempty/x", "x")
    local code, _, err = E.vmlua(w, { "snapshot", "s0", w.dir .. "/notempty" })
    assert.are.equal(2, code)
    assert.truthy(err:find("notempty: not empty (a snapshot goes into a new or an empty dir)", 1, true), err)
    code, _, err = E.vmlua(w, { "snapshot", "s0", w.dir .. "/full" })
    assert.are.equal(2, code)
    assert.truthy(err:find("full: not a directory", 1, true), err)
    code, _, err = E.vmlua(w, { "snapshot", "nosuch", w.dir .. "/n" })
    assert.are.equal(2, code)
    assert.truthy(err:find("no sandbox 'nosuch'", 1, true), err)
    -- a running sandbox with a share, as its state says (the supervisor:
    -- this process)
    local store = assert(core.state.open(w.run))
    local me = { pid = core.getpid(), start_time = core.proc.start_time(core.getpid()) }
    assert(store:save("shared", { id = "shared", status = "running", hypervisor = "qemu", supervisor = me,
                                  control_socket = w.run .. "/shared/qmp.sock",
                                  processes = { ["virtiofsd-vmlua"] = { role = "share", pid = me.pid,
                                                                        start_time = me.start_time } } }))
    code, _, err = E.vmlua(w, { "snapshot", "shared", w.dir .. "/sh" })
    assert.are.equal(2, code)
    assert.truthy(err:find("sandbox 'shared' has shares and cannot be saved: virtio-fs", 1, true), err)
    assert(store:remove("shared"))
    assert.is_false(core.fs.exists(w.dir .. "/n"))
    assert.is_false(core.fs.exists(w.dir .. "/sh"))
  end)

  it("refuses to restore: no snapshot, another config, a truncated state; QEMU's own refusal leaves nothing", function()
    local dir = w.dir .. "/snap"
    local code, _, err = E.vmlua(w, { "check", RECIPE, "--restore", w.dir })
    assert.are.equal(2, code)
    assert.truthy(err:find("restore: " .. w.dir .. ": not a vmlua snapshot (no vmlua-snapshot.json)", 1, true), err)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--restore", dir, "--set", "id=other", "--set", "machine=microvm" })
    assert.are.equal(2, code)
    assert.truthy(err:find("restore: cannot start from snapshot " .. dir .. ": its hypervisor config differs in", 1,
                           true), err)
    assert.truthy(err:find('machine.type (saved: "q35", here: "microvm")', 1, true), err)
    truncated_copy(dir, w.dir .. "/cut", 65536, false)
    code, _, err = E.vmlua(w, { "check", RECIPE, "--restore", w.dir .. "/cut" })
    assert.are.equal(2, code)
    assert.truthy(err:find("cut/state is 65536 bytes, the save recorded %d+ %(truncated%?%)"), err)
    truncated_copy(dir, w.dir .. "/cut2", 65536, true)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--restore", w.dir .. "/cut2", "--set", "id=cut2" })
    assert.are.equal(1, code)
    assert.truthy(err:find("loading the saved state from " .. w.dir .. "/cut2 failed: hypervisor exited with status 1",
                           1, true), err)
    assert.truthy(err:find("load of migration failed", 1, true), err)
    assert.are.equal("failed", E.state(w, "cut2").status)
    assert.is_nil(E.state(w, "other"))
    assert.are.same({}, E.strays(w.dir .. "/run/cut2"))
  end)

  it("--stop ends the sandbox once saved; the save restores", function()
    local dir = w.dir .. "/final"
    local code, out, err = E.vmlua(w, { "snapshot", "s0", dir, "--stop" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("; stopped\n", 1, true), out)
    local st = E.state(w, "s0")
    assert.are.equal("stopped", st.status)
    assert.are.same({ how = "exited", code = 0 }, st.exit)
    code, out, err = E.vmlua(w, { "run", RECIPE, "--restore", dir, "--set", "id=s0", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    assert.are.equal("s0\n", out)
    assert.are.equal("running", qmp_state(w, "s0"))
  end)
end)
