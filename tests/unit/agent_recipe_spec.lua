-- The guest agent in a recipe (vmlua.sandbox.agent): the `agent` field, the
-- defaults it brings, the agent probe and stop step, and how the plan wires
-- the channel through each driver (QEMU's virtio-serial port, cloud-
-- hypervisor's hybrid vsock) and records it for state.json. No hypervisor
-- runs here.
local sandbox = require "vmlua.sandbox"
local plan_mod = require "vmlua.sandbox.plan"
local agent = require "vmlua.sandbox.agent"
local qemu = require "vmlua.qemu"
local clh = require "vmlua.clh"

local function q() return qemu.config { memory = { size = "256M" }, kernel = { path = "/k" } } end
local function c(extra)
  local t = { kernel = "/k", cmdline = "console=ttyS0", memory = { size = "256M" } }
  for k, v in pairs(extra or {}) do t[k] = v end
  return clh.config(t)
end

local function new(spec)
  spec.id = spec.id or "a"
  return sandbox.new(spec, {}, "r.lua:3")
end

local function err_of(spec)
  local ok, err = pcall(new, spec)
  assert.is_false(ok)
  return err
end

local function names(steps)
  local out = {}
  for i, s in ipairs(steps) do out[i] = s.name end
  return out
end

describe("agent = ... in a recipe", function()
  it("true: ready once the agent answers, stopped through it first, 10 s a call", function()
    local sb = new { hypervisor = q(), agent = true }
    assert.are.same({ timeout = 10 }, sb.agent)
    assert.are.equal("agent", sb.ready[1].kind)
    assert.are.equal(60, sb.ready[1].timeout)
    assert.truthy(sb.ready[1].hint:find("is qemu-ga in the guest", 1, true))
    assert.are.same({ "agent", "powerdown", "quit", "term", "kill" }, names(sb.stop))
    local sc = new { hypervisor = c(), agent = true }
    assert.are.same({ port = 1024, timeout = 10 }, sc.agent)
    assert.are.same({ "agent", "powerdown", "shutdown", "term", "kill" }, names(sc.stop))
  end)

  it("the recipe's own ready and stop win; false is no agent", function()
    local sb = new { hypervisor = q(), agent = { timeout = 3 }, ready = { serial = "UP" }, stop = { "quit" } }
    assert.are.same({ timeout = 3 }, sb.agent)
    assert.are.equal("serial", sb.ready[1].kind)
    assert.are.same({ "quit" }, names(sb.stop))
    assert.is_nil(new({ hypervisor = q(), agent = false }).agent)
    assert.are.equal("qmp", new({ hypervisor = q(), agent = false }).ready[1].kind)
  end)

  it("port: where the agent is reached over vsock only", function()
    assert.are.same({ port = 2000, timeout = 10 }, new({ hypervisor = c(), agent = { port = 2000 } }).agent)
    assert.are.equal("r.lua:3: agent.port: only applies where the agent is reached over vsock, not to QEMU "
                     .. "(its agent channel is a virtio-serial port org.qemu.guest_agent.0)",
                     err_of { hypervisor = q(), agent = { port = 2000 } })
    assert.are.equal("r.lua:3: agent.port: must be >= 1, got 0", err_of { hypervisor = c(), agent = { port = 0 } })
  end)

  it("refuses what is neither true nor a table of port and timeout", function()
    assert.are.equal('r.lua:3: agent: expected true or { port =, timeout = }, got "yes"',
                     err_of { hypervisor = q(), agent = "yes" })
    assert.are.equal("r.lua:3: agent.prot: unknown field",
                     err_of { hypervisor = c(), agent = { prot = 1 } })
  end)

  it("an agent probe or stop step without the agent names the field to add", function()
    assert.are.equal("r.lua:3: ready: an agent probe needs the guest agent: add agent = true to the recipe",
                     err_of { hypervisor = q(), ready = { agent = true } })
    assert.are.equal("r.lua:3: ready: an agent probe needs the guest agent: add agent = true to the recipe",
                     err_of { hypervisor = q(), ready = { { serial = "x" }, { agent = true } } })
    assert.are.equal("r.lua:3: stop: the agent stop step needs the guest agent: add agent = true to the recipe",
                     err_of { hypervisor = q(), stop = { "agent", "kill" } })
    assert.are.equal("r.lua:3: helpers[1].ready: the agent probe is for the sandbox's ready, not a helper's",
                     err_of { hypervisor = q(), agent = true,
                              helpers = { { name = "h", argv = { "/bin/true" }, ready = { agent = true } } } })
  end)
end)

describe("the plan wires the agent's channel through the driver", function()
  it("QEMU: a virtio-serial port on qga.sock in the sandbox dir, recorded for the state", function()
    local plan = plan_mod.plan(new { hypervisor = q(), agent = true }, { run_dir = "/run/t" })
    assert.are.same({}, plan.errors)
    assert.are.same({ socket = "/run/t/a/qga.sock", timeout = 10 }, plan.agent)
    assert.are.equal("/run/t/a/qga.sock", plan.sockets.agent)
    local argv = table.concat(plan.hypervisor.argv, " ")
    assert.truthy(argv:find("-device virtio-serial-pci,disable-modern=false,id=vmlua-virtio-serial", 1, true))
    assert.truthy(argv:find("name=org.qemu.guest_agent.0", 1, true))
  end)

  it("QEMU microvm: the virtio-serial controller on virtio-mmio", function()
    local cfg = qemu.config { machine = { type = "microvm" }, memory = { size = "256M" }, kernel = { path = "/k" } }
    local plan = plan_mod.plan(new { hypervisor = cfg, agent = true }, { run_dir = "/run/t" })
    assert.truthy(table.concat(plan.hypervisor.argv, " "):find("-device virtio-serial-device,id=vmlua-virtio-serial",
                                                                1, true))
  end)

  it("cloud-hypervisor: the hybrid vsock in the sandbox dir and the port as a kernel parameter", function()
    local plan = plan_mod.plan(new { hypervisor = c(), agent = { port = 77 }, flow = "cli" }, { run_dir = "/run/t" })
    assert.are.same({}, plan.errors)
    assert.are.same({ socket = "/run/t/a/vsock.sock", port = 77, timeout = 10 }, plan.agent)
    local argv = table.concat(plan.hypervisor.argv, " ")
    assert.truthy(argv:find("--vsock cid=3,socket=/run/t/a/vsock.sock", 1, true))
    assert.truthy(argv:find("console=ttyS0 vmlua.agent=vsock:77", 1, true))
  end)

  it("cloud-hypervisor: the recipe's own vsock is the one used", function()
    local plan = plan_mod.plan(new { hypervisor = c { vsock = { cid = 9, socket = "/run/t/a/clh.sock" } },
                                     agent = true }, { run_dir = "/run/t" })
    assert.are.same({ socket = "/run/t/a/clh.sock", port = 1024, timeout = 10 }, plan.agent)
    assert.are.equal(9, plan.vm_config.vsock.cid)
  end)

  it("the serial console: QEMU serves it on console.sock and logs it; cloud-hypervisor cannot, and says why", function()
    local pq = plan_mod.plan(new { hypervisor = q() }, { run_dir = "/run/t" })
    assert.are.equal("/run/t/a/console.sock", pq.console_socket)
    assert.are.equal("/run/t/a/serial.log", pq.serial_log)
    local pc = plan_mod.plan(new { hypervisor = c() }, { run_dir = "/run/t" })
    assert.is_nil(pc.console_socket)
    assert.are.equal("/run/t/a/serial.log", pc.serial_log)
    assert.are.equal("cloud-hypervisor writes the serial port to a file or serves it on a socket, not both, so a "
                     .. "console socket would leave the serial log empty", pc.console_note)
  end)

  it("a socket path over sun_path is a plan error naming the agent", function()
    local long = "/run/" .. string.rep("d", 100)
    local plan = plan_mod.plan(new { hypervisor = q(), agent = true }, { run_dir = long })
    local found
    for _, e in ipairs(plan.errors) do found = found or e:find("^agent: cannot wire the guest agent's channel: ") end
    assert.truthy(found, table.concat(plan.errors, "\n"))
  end)
end)

describe("exit statuses of a command run through the agent", function()
  it("are the command's, 128+N for a signal, and timeout(1)'s for the rest", function()
    assert.are.equal(3, agent.exit_status { status = 3 })
    assert.are.equal(137, agent.exit_status { signal = 9 })
    assert.are.equal(124, agent.exit_status(nil, "timeout"))
    assert.are.equal(126, agent.exit_status(nil, "noexec"))
    assert.are.equal(127, agent.exit_status(nil, "notfound"))
    assert.are.equal(125, agent.exit_status(nil, "disconnected"))
    assert.are.equal(125, agent.exit_status(nil, "truncated"))
  end)
end)
