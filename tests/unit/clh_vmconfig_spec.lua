-- vmlua.clh :vm_config(): the vm.create body, checked against VmConfig in
-- tests/fixtures/reference/cloud-hypervisor-openapi.yaml (required keys, types,
-- enum spellings, no key the schema does not know).
local clh = require "vmlua.clh"
local params = require "vmlua.params"
local openapi = require "support.openapi"
local H = require "support.h"

local doc = openapi.load(H.root .. "/tests/fixtures/reference/cloud-hypervisor-openapi.yaml")

local function assert_valid(body)
  local errs = openapi.errors(doc, "VmConfig", body)
  assert.are.same({}, errs)
end

-- Everything a recipe can put in a VM, once.
local function everything()
  return clh.config {
    api_socket = "/run/x/clh-api.sock",
    kernel = "/k/vmlinux", initramfs = "/k/initrd", cmdline = params "console=hvc0 quiet",
    cpus = { boot = 2, max = 4, topology = "1:2:1:2", kvm_hyperv = false, max_phys_bits = 40,
             affinity = { { vcpu = 0, host_cpus = { 0, 1 } } }, features = { "amx" }, nested = true,
             core_scheduling = "vm" },
    memory = { size = "1G", mergeable = false, hugepages = true, hugepage_size = "2M", hotplug_method = "virtio-mem",
               hotplug_size = "2G", hotplugged_size = "512M", prefault = true, reserve = false, thp = true },
    memory_zones = { { id = "z0", size = "256M", file = "/dev/shm/z0", shared = true, host_numa_node = 0,
                       hugepages = false, hotplug_size = "1G", hotplugged_size = "0", prefault = false,
                       reserve = false, mergeable = false } },
    disks = { { path = "/img/root.raw", readonly = true, direct = true, iommu = false, num_queues = 2,
                queue_size = 128, serial = "root", backing_files = false, sparse = true, image_type = "raw",
                lock_granularity = "full", id = "disk0", pci_segment = 1, pci_device_id = 3,
                bw_size = 1000000, bw_one_time_burst = 500, bw_refill_time = 100, ops_size = 100,
                ops_refill_time = 1000 },
              { socket = "/run/vhost-blk.sock", num_queues = 1, image_type = "vhd" },
              { path = "/img/b.qcow2", image_type = "qcow2", lock_granularity = "byte-range" },
              { path = "/img/c.vhdx", image_type = "vhdx" } },
    net = { { tap = "tap0", ip = "10.0.0.1", mask = "255.255.255.0", mac = "52:54:00:00:00:01",
              host_mac = "52:54:00:00:00:02", mtu = 1400, num_queues = 2, queue_size = 256, iommu = false,
              id = "net0", offload_tso = true, offload_ufo = false, offload_csum = true,
              ops_size = 10, ops_refill_time = 10 },
            { socket = "/run/vhost-net.sock", vhost_mode = "server" },
            { fd = { 3, 4 }, num_queues = 4 } },
    fs = { { tag = "vmlua", socket = "/run/vfsd.sock", id = "fs0" }, { tag = "b", socket = "/run/b.sock",
             num_queues = 2, queue_size = 512, pci_segment = 1 } },
    pmem = { { file = "/img/pmem", size = "64M", discard_writes = true, iommu = false, id = "pmem0" } },
    devices = { { path = "/sys/bus/pci/devices/0000:00:01.0", iommu = true, id = "vfio0" } },
    vdpa = { { path = "/dev/vhost-vdpa-0", num_queues = 2, id = "vdpa0" } },
    user_devices = { { socket = "/run/vfio-user.sock", id = "user0" } },
    rng = { src = "/dev/urandom", iommu = false },
    vsock = { cid = 3, socket = "/run/vsock.sock", iommu = false, id = "vsock0" },
    balloon = { size = "128M", deflate_on_oom = true, free_page_reporting = true, id = "balloon0" },
    serial = { file = "/run/serial.log" },
    console = { mode = "pty", iommu = false, id = "console0" },
    debug_console = { mode = "file", file = "/run/dbg.log", iobase = 0xe9 },
    platform = { num_pci_segments = 2, iommu_segments = { 1 }, iommu_address_width = 48, system_uuid = "u",
                 system_serial_number = "s", oem_strings = { "x" }, tdx = false, sev_snp = false,
                 iommufd = false, vfio_p2p_dma = true, system_manufacturer = "m", system_product_name = "p",
                 system_version = "v", system_family = "f", system_sku_number = "k", chassis_asset_tag = "t" },
    tpm = { socket = "/run/swtpm.sock" },
    pvpanic = true, watchdog = true, landlock = true,
    landlock_rules = { { path = "/data", access = "rw" } },
  }
end

describe("vmlua.clh vm_config against the OpenAPI VmConfig schema", function()
  it("the schema file is the one we expect (VmConfig requires payload)", function()
    assert.are.same({ "payload" }, doc.components.schemas.VmConfig.required)
    assert.are.same({ "Off", "Pty", "Tty", "File", "Socket", "Null" }, doc.components.schemas.ConsoleMode.enum)
  end)

  it("a minimal config gives just the payload", function()
    local body = clh.config({ kernel = "/k/vmlinux" }):vm_config()
    assert.are.same({ payload = { kernel = "/k/vmlinux" } }, body)
    assert_valid(body)
  end)

  it("a config with every option validates", function()
    assert_valid(everything():vm_config())
  end)

  it("the checker catches a wrong body (it is not vacuous)", function()
    local body = everything():vm_config()
    body.fs[1].sock = body.fs[1].socket
    body.fs[1].socket = nil
    body.serial.mode = "file"
    body.cpus.boot_vcpus = "2"
    local errs = openapi.errors(doc, "VmConfig", body)
    table.sort(errs)
    assert.are.same({
      "VmConfig.cpus.boot_vcpus: expected an integer, got string",
      "VmConfig.fs[1]: key sock is not in the schema",
      "VmConfig.fs[1]: required key socket missing",
      "VmConfig.serial.mode: file is not one of Off, Pty, Tty, File, Socket, Null",
    }, errs)
  end)

  describe("values", function()
    local body
    setup(function() body = everything():vm_config() end)

    it("payload: kernel, initramfs, cmdline (rendered)", function()
      assert.are.same({ kernel = "/k/vmlinux", initramfs = "/k/initrd", cmdline = "console=hvc0 quiet" }, body.payload)
    end)

    it("sizes are integers in bytes", function()
      assert.are.equal(1073741824, body.memory.size)
      assert.are.equal("integer", math.type(body.memory.size))
      assert.are.equal(2097152, body.memory.hugepage_size)
      assert.are.equal(2147483648, body.memory.hotplug_size)
      assert.are.equal(536870912, body.memory.hotplugged_size)
      assert.are.equal(268435456, body.memory.zones[1].size)
      assert.are.equal(67108864, body.pmem[1].size)
      assert.are.equal(134217728, body.balloon.size)
    end)

    it("enum spellings: Acpi/VirtioMem, Raw/Qcow2/FixedVhd/Vhdx, ByteRange/Full, Client/Server, Vm, modes", function()
      assert.are.equal("VirtioMem", body.memory.hotplug_method)
      assert.are.same({ "Raw", "FixedVhd", "Qcow2", "Vhdx" },
                      { body.disks[1].image_type, body.disks[2].image_type, body.disks[3].image_type,
                        body.disks[4].image_type })
      assert.are.equal("Full", body.disks[1].lock_granularity)
      assert.are.equal("ByteRange", body.disks[3].lock_granularity)
      assert.are.equal("Server", body.net[2].vhost_mode)
      assert.are.equal("Vm", body.cpus.core_scheduling)
      assert.are.same({ mode = "File", file = "/run/serial.log" }, body.serial)
      assert.are.same({ mode = "Pty", iommu = false, id = "console0" }, body.console)
      assert.are.same({ mode = "File", file = "/run/dbg.log", iobase = 0xe9 }, body.debug_console)
    end)

    it("vhost-user sockets are vhost_socket; fs keeps socket", function()
      assert.are.same({ vhost_user = true, vhost_socket = "/run/vhost-blk.sock", num_queues = 1,
                        image_type = "FixedVhd" }, body.disks[2])
      assert.are.same({ vhost_user = true, vhost_socket = "/run/vhost-net.sock", vhost_mode = "Server" }, body.net[2])
      assert.are.equal("/run/vfsd.sock", body.fs[1].socket)
    end)

    it("fs gets the required num_queues/queue_size (defaults 1/1024)", function()
      assert.are.same({ tag = "vmlua", socket = "/run/vfsd.sock", num_queues = 1, queue_size = 1024, id = "fs0" },
                      body.fs[1])
      assert.are.same({ tag = "b", socket = "/run/b.sock", num_queues = 2, queue_size = 512, pci_segment = 1 },
                      body.fs[2])
    end)

    it("memory is shared because of virtio-fs and vhost-user", function()
      assert.is_true(body.memory.shared)
    end)

    it("cpus: boot/max vcpus, topology object, affinity, features", function()
      assert.are.same({ boot_vcpus = 2, max_vcpus = 4, kvm_hyperv = false, max_phys_bits = 40, nested = true,
                        core_scheduling = "Vm",
                        topology = { threads_per_core = 1, cores_per_die = 2, dies_per_package = 1, packages = 2 },
                        affinity = { { vcpu = 0, host_cpus = { 0, 1 } } }, features = { amx = true } }, body.cpus)
    end)

    it("rate limits become rate_limiter_config token buckets", function()
      assert.are.same({ bandwidth = { size = 1000000, one_time_burst = 500, refill_time = 100 },
                        ops = { size = 100, refill_time = 1000 } }, body.disks[1].rate_limiter_config)
      assert.are.same({ ops = { size = 10, refill_time = 10 } }, body.net[1].rate_limiter_config)
      assert.is_nil(body.disks[1].bw_size)
    end)

    it("nets with fds are left out of vm.create (cloud-hypervisor ignores fds there)", function()
      assert.are.equal(2, #body.net)
      for _, n in ipairs(body.net) do assert.is_nil(n.fd) assert.is_nil(n.fds) end
    end)

    it("platform: iommu_address_width is iommu_address_width_bits in JSON", function()
      assert.are.equal(48, body.platform.iommu_address_width_bits)
      assert.is_nil(body.platform.iommu_address_width)
      assert.are.same({ 1 }, body.platform.iommu_segments)
    end)

    it("flags: pvpanic, watchdog, landlock_enable, landlock_rules", function()
      assert.is_true(body.pvpanic)
      assert.is_true(body.watchdog)
      assert.is_true(body.landlock_enable)
      assert.are.same({ { path = "/data", access = "rw" } }, body.landlock_rules)
    end)

    it("VMM-only options (api socket, logs) are not in the body", function()
      assert.is_nil(body.api_socket)
      assert.is_nil(body.log_file)
      assert.is_nil(body.verbosity)
    end)
  end)

  it("defaults for required keys: max_vcpus, memory size, rng src, vdpa num_queues", function()
    local body = clh.config({ kernel = "/k", cpus = 3, memory = { shared = true }, rng = {},
                              vdpa = { { path = "/dev/vhost-vdpa-1" } } }):vm_config()
    assert.are.same({ boot_vcpus = 3, max_vcpus = 3 }, body.cpus)
    assert.are.same({ size = 536870912, shared = true }, body.memory)
    assert.are.same({ src = "/dev/urandom" }, body.rng)
    assert.are.same({ { path = "/dev/vhost-vdpa-1", num_queues = 1 } }, body.vdpa)
    assert_valid(body)
  end)

  it("firmware payload and memory zones with size 0", function()
    local body = clh.config({ firmware = "/fw/hypervisor-fw",
                              memory_zones = { { id = "mem0", size = "1G" } } }):vm_config()
    assert.are.same({ firmware = "/fw/hypervisor-fw" }, body.payload)
    assert.are.same({ size = 0, zones = { { id = "mem0", size = 1073741824 } } }, body.memory)
    assert_valid(body)
  end)

  it("add_share then vm_config: Kata's fs entry and shared memory", function()
    local c = clh.config { kernel = "/k", memory = "2048M", cpus = { boot = 1, max = 4 } }
    c:add_share { tag = "kataShared", socket = "/run/vc/vm/sb/virtiofsd.sock" }
    local body = c:vm_config()
    assert.are.same({ { tag = "kataShared", socket = "/run/vc/vm/sb/virtiofsd.sock", num_queues = 1,
                        queue_size = 1024 } }, body.fs)
    assert.are.same({ size = 2147483648, shared = true }, body.memory)
    assert_valid(body)
  end)
end)
