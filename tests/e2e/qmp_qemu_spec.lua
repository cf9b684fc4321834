-- vmlua.qmp against the real QEMU (qemu-system-x86_64, accel=tcg, -S, no
-- display, no default devices), on q35 and on microvm.
--
-- Hot-unplug: device_del completes (DEVICE_DELETED) without the guest only
-- for devices whose bus unplugs them itself. A virtserialport on a
-- virtio-serial bus is such a device, so it is the one plugged and
-- unplugged here (virtio-serial-pci on q35, virtio-serial-device on
-- microvm's virtio-mmio). A PCIe device on a root port (q35) plugs fine,
-- but its unplug waits for the guest's acknowledgement (pciehp), which a
-- paused machine with no OS never gives: that case is asserted as the
-- timeout it is.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local qmp = require "vmlua.qmp"

local MACHINES = {
  q35 = { "-device", "virtio-serial-pci,id=vser0", "-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1" },
  microvm = { "-device", "virtio-serial-device,id=vser0" },
}

local clients = {}
local function connect(path, opts)
  local c, err = qmp.connect(path, opts or { timeout = 20 })
  if c then clients[#clients + 1] = c end
  return c, err
end

local function peripherals(c)
  local names = {}
  for _, p in ipairs(assert(c:execute("qom-list", { path = "/machine/peripheral" }))) do
    if p.type:match("^child<") then names[#names + 1] = p.name end
  end
  table.sort(names)
  return names
end

after_each(function()
  for _, c in ipairs(clients) do c:close() end
  clients = {}
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

for _, machine in ipairs { "q35", "microvm" } do
  local extra = MACHINES[machine]

  describe("QMP on the real QEMU (" .. machine .. ")", function()
    local path, proc, dir
    before_each(function()
      path, proc, dir = S.qemu(machine, extra)
    end)

    it("greets, negotiates, reports version and status, refuses unknown commands", function()
      local c = assert(connect(path))
      local v = c:version()
      assert.equal("integer", math.type(v.major))
      assert.equal("integer", math.type(v.minor))
      assert.equal("integer", math.type(v.micro))
      assert.equal("string", type(v.package))
      assert.same({ status = "prelaunch", running = false, singlestep = false }, c:query_status())
      assert.same({ nil, "QMP error CommandNotFound: The command foo has not been found", "CommandNotFound" },
                  { c:execute("foo") })
      assert.same({ nil, "QMP error CommandNotFound: Capabilities negotiation is already complete, command ignored",
                    "CommandNotFound" }, { c:execute("qmp_capabilities") })
      local res, err, class = c:execute("device_del", { id = "nope" })
      assert.is_nil(res)
      assert.equal("DeviceNotFound", class)
      assert.equal("QMP error DeviceNotFound: Device 'nope' not found", err)
    end)

    it("cont and stop change the run state, with RESUME and STOP events", function()
      local c = assert(connect(path))
      assert.same({}, c:cont())
      assert.equal("RESUME", assert(c:wait_event("RESUME", 10)).event)
      assert.same({ status = "running", running = true, singlestep = false }, c:query_status())
      assert.same({}, c:stop())
      local ev = assert(c:wait_event("STOP", 10))
      assert.equal("number", type(ev.time))
      assert.same({ status = "paused", running = false, singlestep = false }, c:query_status())
      -- stop on a paused VM is no error
      assert.same({}, c:stop())
      assert.same({}, c:events())
    end)

    it("hot-plugs and unplugs a virtserialport on a unix-socket chardev (no guest needed)", function()
      local c = assert(connect(path))
      local sock = dir .. "/port0.sock"
      assert.same({}, c:chardev_add_unix_socket("ch0", sock, { server = true }))
      assert.equal("socket", core.fs.stat(sock).type)
      assert.same({}, c:device_add { driver = "virtserialport", id = "port0", bus = "vser0.0",
                                     chardev = "ch0", name = "org.vmlua.test" })
      assert.truthy(table.concat(peripherals(c), ","):find("port0", 1, true))
      -- the chardev is in use while the port exists
      local _, busy = c:chardev_remove("ch0")
      assert.equal("QMP error GenericError: Chardev 'ch0' is busy", busy)
      local res, ev = c:device_del("port0", { timeout = 20 })
      assert.same({}, res)
      assert.same({ "DEVICE_DELETED", "port0", "/machine/peripheral/port0" },
                  { ev.event, ev.data.device, ev.data.path })
      assert.is_nil(table.concat(peripherals(c), ","):find("port0", 1, true))
      assert.same({}, c:chardev_remove("ch0"))
      assert.same({ nil, "QMP error GenericError: Chardev 'ch0' not found", "GenericError" },
                  { c:chardev_remove("ch0") })
    end)

    if machine == "q35" then
      it("plugs a PCIe device on a root port; its unplug waits for a guest that never answers", function()
        local c = assert(connect(path))
        assert.same({}, c:device_add { driver = "virtio-rng-pci", id = "rng0", bus = "rp0" })
        local res, err, class = c:device_del("rng0", { timeout = 0.5 })
        assert.is_nil(res)
        assert.equal("timeout", class)
        assert.equal("qmp: device_del: no DEVICE_DELETED event for 'rng0' within 0.5 s "
                     .. "(a PCI device goes only once the guest acknowledges the unplug)", err)
        -- the client is still usable, the device still there
        assert.equal("prelaunch", c:query_status().status)
        assert.same({ "rng0", "rp0", "vser0" }, peripherals(c))
      end)
    end

    it("adds and deletes a memory backend object", function()
      local c = assert(connect(path))
      assert.same({}, c:object_add("memory-backend-ram", "mem0", { size = 4 * 1024 * 1024 }))
      assert.equal(4 * 1024 * 1024, c:qom_get("/objects/mem0", "size"))
      assert.same({}, c:object_del("mem0"))
      local res, err, class = c:qom_get("/objects/mem0", "size")
      assert.is_nil(res)
      assert.equal("DeviceNotFound", class)
      assert.equal("QMP error DeviceNotFound: Device '/objects/mem0' not found", err)
    end)

    it("getfd hands QEMU a real fd by SCM_RIGHTS", function()
      local c = assert(connect(path))
      local f = assert(io.open("/dev/null", "rb"))
      assert.same({}, c:getfd("fd0", f))
      f:close()
      assert.same({}, c:closefd("fd0"))
      assert.same({ nil, "QMP error GenericError: File descriptor named 'fd0' not found", "GenericError" },
                  { c:closefd("fd0") })
      -- the same command without an fd
      assert.same({ nil, "QMP error GenericError: No file descriptor supplied via SCM_RIGHTS", "GenericError" },
                  { c:execute("getfd", { fdname = "fd1" }) })
    end)

    it("block and net backends, properties, CPUs, balloon", function()
      local c = assert(connect(path))
      assert.same({}, c:blockdev_add { driver = "null-co", ["node-name"] = "nb0", size = 1024 * 1024 })
      assert.same({}, c:blockdev_del("nb0"))
      assert.same({}, c:netdev_add { type = "user", id = "net0" })
      assert.same({}, c:netdev_del("net0"))
      -- a boolean property: qom_get gives false (not a failure)
      assert.same({}, c:qom_set("/machine", "dump-guest-core", false))
      assert.is_false(c:qom_get("/machine", "dump-guest-core"))
      local cpus = assert(c:query_cpus_fast())
      assert.equal(1, #cpus)
      assert.equal(0, cpus[1]["cpu-index"])
      local hp, herr = c:query_hotpluggable_cpus()
      if machine == "q35" then
        assert.equal(1, #hp)
      else
        assert.equal("QMP error GenericError: The feature 'query-hotpluggable-cpus' is not enabled", herr)
      end
      assert.same({ nil, "QMP error DeviceNotActive: No balloon device has been activated", "DeviceNotActive" },
                  { c:balloon(32 * 1024 * 1024) })
    end)

    it("query-qmp-schema: a reply line of hundreds of KiB", function()
      local c = assert(connect(path))
      local schema = assert(c:query_qmp_schema())
      assert.is_true(#schema > 500)
      assert.is_true(#core.json.encode(schema) > 100 * 1024)
      assert.equal("prelaunch", c:query_status().status)
    end)

    it("migrates into a second QEMU (capabilities, migrate_incoming, migrate, events)", function()
      local dst_extra = { "-incoming", "defer" }
      for _, a in ipairs(extra) do dst_extra[#dst_extra + 1] = a end
      local dst_path = S.qemu(machine, dst_extra)
      local src, dst = assert(connect(path)), assert(connect(dst_path))
      assert.equal("inmigrate", dst:query_status().status)
      local uri = "unix:" .. dir .. "/mig.sock"
      assert.same({}, dst:migrate_set_capabilities { events = true })
      assert.same({}, dst:migrate_incoming(uri))
      assert.same({}, src:migrate_set_capabilities { events = true })
      local caps = {}
      for _, e in ipairs(assert(src:execute("query-migrate-capabilities"))) do caps[e.capability] = e.state end
      assert.is_true(caps.events)
      assert.same({}, src:migrate(uri))
      assert(src:wait_event("MIGRATION", 30, { status = "completed" }))
      assert.equal("completed", src:query_migrate().status)
      -- (the source's run state moves on to postmigrate a moment later)
      -- The destination reports completed after it took over the source's
      -- run state: prelaunch, as the source never ran.
      assert(dst:wait_event("MIGRATION", 30, { status = "completed" }))
      assert.equal("completed", dst:query_migrate().status)
      assert.equal("prelaunch", dst:query_status().status)
    end)

    it("dump-guest-memory writes an ELF core", function()
      local c = assert(connect(path))
      local file = dir .. "/core.elf"
      assert.same({}, c:dump_guest_memory("file:" .. file, { format = "elf" }, { timeout = 60 }))
      local f = assert(io.open(file, "rb"))
      assert.equal("\127ELF", f:read(4))
      f:close()
    end)

    it("a second client waits: QEMU serves one QMP client at a time", function()
      local c = assert(connect(path))
      local c2, err = qmp.connect(path, { timeout = 0.3 })
      assert.is_nil(c2)
      assert.matches("no greeting from .* within 0%.3 s %(QEMU serves one QMP client at a time", err)
      c:close()
      local c3 = assert(connect(path))
      assert.equal("prelaunch", c3:query_status().status)
    end)

    it("system_powerdown waits for POWERDOWN; quit ends QEMU", function()
      local c = assert(connect(path))
      local res, ev = c:system_powerdown { timeout = 10 }
      assert.same({}, res)
      assert.equal("POWERDOWN", ev.event)
      assert.same({}, c:quit())
      assert.same({ "exited", 0 }, { proc:wait(20) })
      local r2, err, class = c:execute("query-status")
      assert.same({ nil, "disconnected" }, { r2, class })
      assert.matches("^qmp: connection to .* lost", err)
    end)
  end)
end
