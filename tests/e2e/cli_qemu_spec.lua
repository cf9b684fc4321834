-- `vmlua qmp`, `vmlua pause`, `vmlua resume` against a real QEMU started by
-- the spec (q35, accel=tcg, -S), by --socket and through a sandbox state in
-- a temp VMLUA_RUN_DIR.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"

local run_dir

local function vmlua(...)
  return S.vmlua({ ... }, { VMLUA_RUN_DIR = run_dir })
end

local function expect(code, out, err, ...)
  assert.same({ code, out, err }, { vmlua(...) })
end

local function status(...)
  local code, out, err = vmlua("qmp", ...)
  assert.same({ 0, "" }, { code, err })
  return core.json.decode(out).status
end

before_each(function()
  run_dir = H.tmpdir() .. "/run"
end)

after_each(function()
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

describe("vmlua qmp/pause/resume on the real QEMU", function()
  it("by --socket: status, pause, resume, errors, quit", function()
    local path, qemu = S.qemu("q35")
    expect(0, '{\n  "running": false,\n  "singlestep": false,\n  "status": "prelaunch"\n}\n', "",
           "qmp", "--socket", path, "query-status")
    expect(0, path .. " resumed\n", "", "resume", "--socket", path, "--hypervisor", "qemu")
    assert.equal("running", status("--socket", path, "query-status"))
    expect(0, path .. " paused\n", "", "pause", "--socket", path, "--hypervisor", "qemu")
    assert.equal("paused", status("--socket", path, "query-status"))
    expect(1, "", "vmlua: QMP error DeviceNotFound: Device 'nope' not found\n",
           "qmp", "--socket", path, "device_del", '{"id":"nope"}')
    expect(1, "", "vmlua: QMP error CommandNotFound: Capabilities negotiation is already complete, command ignored\n",
           "qmp", "--socket", path, "qmp_capabilities")
    expect(2, "", "vmlua: qmp: QEMU has no command 'query-stauts' (did you mean 'query-status'?)\n",
           "qmp", "--socket", path, "query-stauts")
    expect(2, "", "vmlua: qmp: QEMU has no command 'frobnicate-everything' (see 'vmlua qmp ID query-commands')\n",
           "qmp", "--socket", path, "frobnicate-everything")
    expect(0, "{}\n", "", "qmp", "--socket", path, "quit")
    assert.same({ "exited", 0 }, { qemu:wait(20) })
  end)

  it("by ID, from the sandbox's state", function()
    local path, qemu = S.qemu("microvm")
    local store = assert(core.state.open(run_dir))
    assert(store:save("demo", { id = "demo", hypervisor = "qemu", control_socket = path, status = "running",
                                processes = { hypervisor = { pid = qemu.pid, start_time = qemu.start_time } } }))
    assert.equal("prelaunch", status("demo", "query-status"))
    expect(0, "demo resumed\n", "", "resume", "demo")
    assert.equal("running", status("demo", "query-status"))
    expect(0, "demo paused\n", "", "pause", "demo")
    assert.equal("paused", status("demo", "query-status"))
    expect(2, "", "vmlua: api: sandbox 'demo' runs QEMU, not cloud-hypervisor: use 'vmlua qmp'\n",
           "api", "demo", "vm.info")
    local code, out = vmlua("qmp", "demo", "qom-get", '{"path":"/machine","property":"type"}')
    assert.same({ 0, '"microvm-machine"\n' }, { code, out })
    expect(0, "{}\n", "", "qmp", "demo", "quit")
    assert.same({ "exited", 0 }, { qemu:wait(20) })
    -- QEMU is gone, its socket with it: exit 1, with the sandbox's status
    local c2, o2, e2 = vmlua("qmp", "demo", "query-status")
    assert.same({ 1, "" }, { c2, o2 })
    assert.equal("vmlua: qmp: connect " .. path .. ": No such file or directory (sandbox 'demo' status: dead)\n", e2)
  end)
end)
