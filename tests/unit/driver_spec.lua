-- Drivers (docs/drivers.md): the registry, the contract each driver keeps,
-- and the vocabulary a driver gives a sandbox (its probe kinds, stop steps
-- and flows). A third hypervisor is one builder and one driver file: a
-- stand-in on package.path proves it.
local drivers = require "vmlua.driver"
local sandbox = require "vmlua.sandbox"
local plan_mod = require "vmlua.sandbox.plan"
local qemu = require "vmlua.qemu"
local clh = require "vmlua.clh"
local H = require "support.h"

local CONTRACT = {
  fields = { "name", "title", "builder", "control", "default_stop", "quick_actions", "actions", "probes",
             "pause_how", "paused_state", "network_modes", "creates_tap", "disk_modes" },
  functions = { "connect", "vm_state", "pause", "resume", "default_ready", "launch", "boot", "boot_calls",
                "add_network", "add_disk", "start_failures" },
}

describe("the driver registry", function()
  it("finds every driver on package.path, by name and by builder", function()
    local names = drivers.names()
    assert.truthy(#names >= 2)
    assert.are.same({ "clh", "qemu" }, { names[1], names[#names] })
    assert.are.equal("qemu", drivers.of(qemu.config {}).name)
    assert.are.equal("clh", drivers.of(clh.config { kernel = "/k" }).name)
  end)

  it("returns nil and a message for an unknown name or a value that is no builder", function()
    assert.are.same({ nil, "no hypervisor driver named 'kvm' (no module vmlua.driver.kvm)" }, { drivers.named("kvm") })
    assert.are.same({ nil, "no hypervisor driver named '../x'" }, { drivers.named("../x") })
    assert.are.same({ nil, "no hypervisor driver named number" }, { drivers.named(3) })
    assert.are.same({ nil, "not a hypervisor builder" }, { drivers.of({ hypervisor = "qemu" }) })
  end)

  it("drivers.speaking finds who speaks a protocol", function()
    assert.are.equal("qemu", drivers.speaking("qmp")[1].name)
    assert.are.equal("clh", drivers.speaking("api")[1].name)
    assert.are.same({}, drivers.speaking("gopher"))
  end)
end)

for _, name in ipairs { "qemu", "clh" } do
  describe("the " .. name .. " driver keeps the contract", function()
    local d = assert(drivers.named(name))
    it("has every field and function", function()
      for _, f in ipairs(CONTRACT.fields) do assert.is_not_nil(d[f], f) end
      for _, f in ipairs(CONTRACT.functions) do assert.are.equal("function", type(d[f]), f) end
      assert.are.equal(name, d.name)
      assert.truthy(d.control.file:match("%.sock$"))
      for _, k in ipairs { "protocol", "label" } do assert.are.equal("string", type(d.control[k])) end
      for kind, p in pairs(d.probes) do
        assert.are.equal("function", type(p.run), kind)
        assert.are.equal("function", type(p.normalize), kind)
        assert.is_not_nil(p.schema, kind)
      end
    end)

    it("its default stop policy uses only steps it has", function()
      local steps = sandbox.stop_steps(d)
      for _, s in ipairs(d.default_stop) do
        assert.truthy(sandbox.check_stop_step(d, s, "stop"), s)
      end
      for _, s in ipairs(d.quick_actions) do assert.is_function(d.actions[s], s) end
      assert.are.same({ "term", "kill" }, { steps[#steps - 1], steps[#steps] })
    end)

    it("says which network and disk modes it has: true, or why not", function()
      for mode, how in pairs(d.network_modes) do
        assert.truthy(mode == "user" or mode == "tap", mode)
        assert.truthy(how == true or (type(how) == "string" and #how > 0), mode)
      end
      for mode, how in pairs(d.disk_modes) do
        assert.truthy(mode == "overlay" or mode == "ephemeral", mode)
        assert.truthy(how == true or (type(how) == "string" and #how > 0), mode)
      end
      assert.are.equal("boolean", type(d.creates_tap))
      assert.are.equal("table", type(d.start_failures("nothing to see")))
    end)

    it("its default readiness is a probe of its own kind", function()
      local ready = d.default_ready(7)
      assert.are.equal(1, #ready)
      assert.is_not_nil(d.probes[ready[1].kind])
      assert.are.equal(7, ready[1].timeout)
    end)
  end)
end

describe("a sandbox's vocabulary comes from its driver", function()
  local function err_of(spec)
    local ok, err = pcall(sandbox.new, spec, {}, "r.lua:3")
    assert.is_false(ok)
    return err
  end

  it("a probe kind of another driver is an unknown field", function()
    assert.are.equal("r.lua:3: ready.qmp: unknown field", err_of {
      id = "x", hypervisor = clh.config { kernel = "/k" }, ready = { qmp = true } })
    assert.are.equal("r.lua:3: ready.api: unknown field", err_of {
      id = "x", hypervisor = qemu.config {}, ready = { api = "Running" } })
  end)

  it("a stop step of another driver is unknown, with the driver's steps", function()
    assert.are.equal("r.lua:3: stop[1]: unknown stop step \"quit\" (cloud-hypervisor stop steps: " ..
                     "powerdown, shutdown, term, kill)", err_of {
      id = "x", hypervisor = clh.config { kernel = "/k" }, stop = { "quit" } })
    assert.are.equal("r.lua:3: stop[2]: unknown stop step \"shutdown\" (QEMU stop steps: " ..
                     "powerdown, quit, term, kill)", err_of {
      id = "x", hypervisor = qemu.config {}, stop = { "quit", "shutdown" } })
    assert.are.equal("r.lua:3: stop[1]: unknown stop step \"powerdwn\" (did you mean 'powerdown'?)", err_of {
      id = "x", hypervisor = qemu.config {}, stop = { "powerdwn" } })
  end)

  it("flow needs a driver with a choice of flows", function()
    assert.are.equal("r.lua:3: flow: only applies to hypervisors with a choice of launch flow, not QEMU", err_of {
      id = "x", hypervisor = qemu.config {}, flow = "api" })
    assert.are.equal('r.lua:3: flow: must be one of api, cli; got "rest"', err_of {
      id = "x", hypervisor = clh.config { kernel = "/k" }, flow = "rest" })
  end)

  it("hypervisor must be a builder with a driver", function()
    assert.are.equal("r.lua:3: hypervisor: expected a hypervisor builder (clh.config{...} or qemu.config{...}), " ..
                     "got \"qemu\"", err_of { id = "x", hypervisor = "qemu" })
    assert.are.equal("r.lua:3: hypervisor: missing (required)", err_of { id = "x" })
    local fake = { hypervisor = "nope", argv = function() return { "nope" } end }
    assert.truthy(err_of { id = "x", hypervisor = fake }:find("no hypervisor driver named 'nope'", 1, true))
  end)

  it("defaults: the driver's readiness, stop policy and flow", function()
    local q = sandbox.new({ id = "q", hypervisor = qemu.config {} }, {})
    assert.are.equal("qmp", q.ready[1].kind)
    assert.are.same({ "powerdown", "quit", "term", "kill" }, { q.stop[1].name, q.stop[2].name, q.stop[3].name,
                                                               q.stop[4].name })
    assert.is_nil(q.flow)
    local c = sandbox.new({ id = "c", hypervisor = clh.config { kernel = "/k" } }, {})
    assert.are.equal("api", c.ready[1].kind)
    assert.are.equal("Running", c.ready[1].state)
    assert.are.equal("api", c.flow)
  end)
end)

describe("a third hypervisor is one builder and one driver file", function()
  local saved_path
  before_each(function()
    saved_path = package.path
    local dir = H.tmpdir()
    assert(require("vmlua.core").fs.mkdir(dir .. "/vmlua", tonumber("755", 8)))
    assert(require("vmlua.core").fs.mkdir(dir .. "/vmlua/driver", tonumber("755", 8)))
    H.write(dir .. "/vmlua/driver/toyvmm.lua", [[
local D = {
  name = "toyvmm", title = "ToyVMM", builder = "toy.config{...}",
  control = { file = "toy.sock", protocol = "toy", label = "the toy protocol" },
  default_stop = { "poweroff", "term", "kill" }, quick_actions = {},
  pause_how = { pause = "toy pause", resume = "toy resume" }, paused_state = "asleep",
  probes = {}, actions = { poweroff = function() return true end },
}
function D.connect() return nil, "no toy" end
function D.vm_state() return "up" end
function D.pause() return true end
function D.resume() return true end
function D.default_ready(t) return { { kind = "socket", path = "toy.sock", timeout = t } } end
function D.launch(cfg) return { argv = cfg:argv(), fds = {} } end
function D.boot() return true end
function D.boot_calls() return {} end
return D
]])
    package.path = dir .. "/?.lua;" .. package.path
  end)
  after_each(function()
    package.path = saved_path
    package.loaded["vmlua.driver.toyvmm"] = nil
    H.cleanup_tmp()
  end)

  it("plans a sandbox with no change to vmlua", function()
    local fields = {}
    local Toy = {
      hypervisor = "toyvmm",
      argv = function() return { "toyvmm", "--ctl", fields.ctl, "--serial", fields.serial } end,
      copy = function(self) return self end,
      validate = function() return true end,
      control_socket = function() return fields.ctl end,
      set_control_socket = function(_, p) fields.ctl = p; return true end,
      serial_file = function() return fields.serial end,
      set_serial_file = function(_, p) fields.serial = p; return true end,
      add_share = function() return nil, "toyvmm has no shares" end,
      kernel_files = function() return {} end,
      socket_entries = function() return {} end,
      fds = function() return {} end,
    }
    assert.truthy(table.concat(drivers.names(), ","):find("toyvmm", 1, true))
    local sb = sandbox.new({ id = "toy", hypervisor = Toy, stop = { "poweroff", "kill" } }, {})
    assert.are.equal("toyvmm", sb.kind)
    local plan = plan_mod.plan(sb, { run_dir = "/run/t" })
    assert.are.same({}, plan.errors)
    assert.are.same({ "toyvmm", "--ctl", "/run/t/toy/toy.sock", "--serial", "/run/t/toy/serial.log" },
                    plan.hypervisor.argv)
    assert.are.equal("/run/t/toy/toy.sock", plan.sockets.toy)
    assert.are.equal("socket", plan.ready[1].kind)
    assert.are.equal("/run/t/toy/toy.sock", plan.ready[1].path)
    -- a driver without network or disk modes: no network, plain disks only
    local ok, err = pcall(sandbox.new, { id = "toy", hypervisor = Toy, network = { mode = "user" } }, {}, "r.lua:1")
    assert.is_false(ok)
    assert.are.equal('r.lua:1: network.mode: "user" networking is not available on ToyVMM: its driver has no such'
                     .. " mode", err)
    ok, err = pcall(sandbox.new, { id = "toy", hypervisor = Toy, disks = { { image = "a", overlay = true } } }, {},
                    "r.lua:1")
    assert.is_false(ok)
    assert.are.equal("r.lua:1: disks[1].overlay: not available on ToyVMM: its driver has no such disk mode", err)
    local dplan = plan_mod.plan(sandbox.new({ id = "toy", hypervisor = Toy, disks = { { image = "/a" } } }, {}),
                                { run_dir = "/run/t" })
    assert.are.same({ "disks[1]: ToyVMM's driver cannot wire disks (it has no add_disk)" }, dplan.errors)
  end)
end)
