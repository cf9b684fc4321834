-- The builder contract (docs/drivers.md), tested once against each builder:
-- the fields live in cfg.fields; cfg.hypervisor names the driver; setters
-- return true, or nil and a message for a value the config cannot take, and
-- raise only for an argument of the wrong type; a failed setter changes
-- nothing; copies are independent.
local qemu = require "vmlua.qemu"
local clh = require "vmlua.clh"
local drivers = require "vmlua.driver"

local BUILDERS = {
  {
    name = "qemu",
    make = function() return qemu.config { memory = { size = "256M" }, kernel = { path = "/k/vmlinux" } } end,
    field = "memory",
    kernel_field = "kernel.path",
    user_net = true,
    bare = function() return qemu.config { memory = { size = "256M" } } end,
  },
  {
    name = "clh",
    make = function() return clh.config { memory = { size = "256M" }, kernel = "/k/vmlinux" } end,
    field = "memory",
    kernel_field = "kernel",
    bare = function() return clh.config { memory = { size = "256M" }, firmware = "/fw" } end,
  },
}

local function has(argv, text)
  return table.concat(argv, " "):find(text, 1, true) ~= nil
end

for _, B in ipairs(BUILDERS) do
  describe("the builder contract: " .. B.name, function()
    it("names its driver, keeps the recipe's table in fields, validates", function()
      local cfg = B.make()
      assert.are.equal(B.name, cfg.hypervisor)
      assert.are.equal(B.name, assert(drivers.of(cfg)).name)
      assert.are.equal("table", type(cfg.fields))
      assert.is_not_nil(cfg.fields[B.field])
      assert.is_true(cfg:validate())
      assert.are.equal("string", type(cfg:binary()))
      assert.are.equal(cfg:binary(), cfg:argv()[1])
      assert.are.same({}, cfg:fds())
    end)

    it("control socket: nil until set; set returns true; a second path is refused or replaced", function()
      local cfg = B.make()
      assert.is_nil(cfg:control_socket())
      assert.is_true(cfg:set_control_socket("/run/x/ctl.sock"))
      assert.are.equal("/run/x/ctl.sock", cfg:control_socket())
      assert.truthy(has(cfg:argv(), "/run/x/ctl.sock"))
      local entries = cfg:socket_entries()
      assert.are.equal("/run/x/ctl.sock", entries[1].path)
      assert.are.same({ "/run/x/ctl.sock" }, cfg:socket_paths())
    end)

    it("serial file: set returns true and the argv writes the console there", function()
      local cfg = B.make()
      assert.is_nil(cfg:serial_file())
      assert.is_true(cfg:set_serial_file("/run/x/serial.log"))
      assert.are.equal("/run/x/serial.log", cfg:serial_file())
      assert.truthy(has(cfg:argv(), "/run/x/serial.log"))
    end)

    it("add_share: true, shared memory and the device; a duplicate tag is nil, message and changes nothing", function()
      local cfg = B.make()
      assert.is_true(cfg:add_share { tag = "vmlua", socket = "/run/x/vfs1.sock" })
      local argv = cfg:argv()
      assert.truthy(has(argv, "/run/x/vfs1.sock"))
      assert.truthy(has(argv, "share=on") or has(argv, "shared=on"), table.concat(argv, " "))
      local before = table.concat(cfg:argv(), " ")
      local ok, err = cfg:add_share { tag = "vmlua", socket = "/run/x/vfs2.sock" }
      assert.is_nil(ok)
      assert.truthy(err:find("^add_share: .*vmlua"), err)
      assert.are.equal(before, table.concat(cfg:argv(), " "))
    end)

    it("setters raise at the caller for an argument of the wrong type", function()
      local cfg = B.make()
      for _, call in ipairs {
        function() local r = cfg:set_control_socket(42); return r end,
        function() local r = cfg:set_serial_file({}); return r end,
        function() local r = cfg:add_share("vmlua"); return r end,
        function() local r = cfg:add_disk("/img/a.raw"); return r end,
        function() local r = cfg:add_network("user"); return r end,
        function() local r = cfg:set_kernel_param(7, "x"); return r end,
      } do
        local line = debug.getinfo(call, "S").linedefined
        local ok, err = pcall(call)
        assert.is_false(ok)
        assert.truthy(err:find("builder_contract_spec.lua:" .. line .. ":", 1, true), err)
      end
    end)

    it("setters return nil and a message for a value the config cannot take", function()
      local cfg = B.make()
      local ok, err = cfg:set_control_socket("")
      assert.is_nil(ok)
      assert.truthy(err:find("^set_control_socket: .*must not be empty"), err)
      assert.is_nil(cfg:control_socket())
    end)

    it("kernel_files names the kernel with its field", function()
      local files = B.make():kernel_files()
      assert.are.same({ field = B.kernel_field, path = "/k/vmlinux" }, files[1])
    end)

    it("add_disk: true and the image on the command line; a bad value is nil, message and changes nothing", function()
      local cfg = B.make()
      assert.is_true(cfg:add_disk { path = "/img/base.qcow2", format = "qcow2", read_only = true, serial = "d1" })
      local argv = cfg:argv()
      assert.truthy(has(argv, "/img/base.qcow2"), table.concat(argv, " "))
      assert.truthy(has(argv, "readonly=on") and has(argv, "d1"), table.concat(argv, " "))
      assert.is_true(cfg:add_disk { path = "/img/o.qcow2", format = "qcow2", backing_files = true })
      local before = table.concat(cfg:argv(), " ")
      local ok, err = cfg:add_disk { format = "raw" }
      assert.is_nil(ok)
      assert.are.equal("add_disk.path: missing (required)", err)
      ok, err = cfg:add_disk { path = "/img/x", format = "vmdk" }
      assert.is_nil(ok)
      assert.truthy(err:find("^add_disk.format: must be one of raw, qcow2"), err)
      assert.are.equal(before, table.concat(cfg:argv(), " "))
    end)

    it("add_network: a tap by name with a MAC; user-mode networking only where the hypervisor has it", function()
      local cfg = B.make()
      assert.is_true(cfg:add_network { mode = "tap", ifname = "vltest0", mac = "02:00:00:00:00:07" })
      local argv = table.concat(cfg:argv(), " ")
      assert.truthy(argv:find("vltest0", 1, true) and argv:find("02:00:00:00:00:07", 1, true), argv)
      local ok, err = cfg:add_network { mode = "user", forward = { "tcp:127.0.0.1:2222-:22" } }
      if B.user_net then
        assert.is_true(ok, err)
        assert.truthy(has(cfg:argv(), "hostfwd=tcp:127.0.0.1:2222-:22"))
      else
        assert.is_nil(ok)
        assert.truthy(err:find("^add_network.mode: .*no user%-mode network"), err)
      end
      local before = table.concat(cfg:argv(), " ")
      ok, err = cfg:add_network { mode = "tap" }
      assert.is_nil(ok)
      assert.truthy(err:find("exactly one of ifname", 1, true), err)
      assert.are.equal(before, table.concat(cfg:argv(), " "))
    end)

    it("set_kernel_param: set or replaced on the kernel command line; nil, message without a kernel", function()
      local cfg = B.make()
      assert.is_true(cfg:set_kernel_param("ip", "10.0.0.2::10.0.0.1:255.255.255.0:::off"))
      assert.is_true(cfg:set_kernel_param("ip", "dhcp"))
      local argv = table.concat(cfg:argv(), " ")
      assert.truthy(argv:find("ip=dhcp", 1, true) and not argv:find("10.0.0.2", 1, true), argv)
      local bare = B.bare()
      local ok, err = bare:set_kernel_param("ip", "dhcp")
      assert.is_nil(ok)
      assert.truthy(err:find("^set_kernel_param: no kernel to pass parameters to"), err)
    end)

    it("copy is deep: a change to the copy leaves the original alone", function()
      local cfg = B.make()
      local c = cfg:copy()
      assert.are.equal(B.name, c.hypervisor)
      assert.is_true(c:set_serial_file("/run/x/copy.log"))
      assert.is_nil(cfg:serial_file())
      assert.are_not.equal(cfg.fields, c.fields)
    end)
  end)
end
