-- vmlua.clh: the cloud-hypervisor builder (CLI, protocol methods).
local clh = require "vmlua.clh"
local params = require "vmlua.params"

local KERNEL = "/guest/vmlinux"

-- A config with a kernel (every VM config needs a payload) plus `t`.
local function config(t)
  t = t or {}
  if t.kernel == nil and t.firmware == nil then t.kernel = KERNEL end
  return clh.config(t)
end

local after, count = require("support.argv").after, require("support.argv").count

local function opt(t, flag) return after(config(t):argv(), flag) end

describe("vmlua.clh builder protocol", function()
  it("says which hypervisor it builds for", function()
    local c = config()
    assert.are.equal("clh", c.hypervisor)
    assert.is_true(clh.is_config(c))
    assert.is_false(clh.is_config({}))
  end)

  it("uses path as the binary, cloud-hypervisor by default, as argv[1]", function()
    assert.are.equal("cloud-hypervisor", config():binary())
    assert.are.equal("cloud-hypervisor", config():argv()[1])
    local c = config { path = "/opt/ch/cloud-hypervisor" }
    assert.are.equal("/opt/ch/cloud-hypervisor", c:binary())
    assert.are.equal("/opt/ch/cloud-hypervisor", c:argv()[1])
  end)

  it("emits the full CLI flow in a fixed order", function()
    local c = clh.config {
      path = "/usr/bin/cloud-hypervisor",
      api_socket = "/run/vmlua/demo/clh-api.sock",
      verbosity = 1,
      log_file = "/run/vmlua/demo/clh.log",
      cpus = { boot = 2 },
      memory = { size = "1G" },
      kernel = "/guest/vmlinux",
      initramfs = "/guest/initrd.gz",
      cmdline = "console=hvc0 quiet",
      disks = { { path = "/img/a.raw" }, { path = "/img/b.qcow2", readonly = true, image_type = "qcow2" } },
      net = { { tap = "vmtap0", mac = "52:54:00:00:00:01" } },
      fs = { { tag = "vmlua", socket = "/run/vmlua/demo/vfsd.sock" } },
      rng = { src = "/dev/urandom" },
      vsock = { cid = 3, socket = "/run/vmlua/demo/vsock.sock" },
      serial = { file = "/run/vmlua/demo/serial.log" },
      console = "off",
    }
    assert.are.same({
      "/usr/bin/cloud-hypervisor",
      "--api-socket", "path=/run/vmlua/demo/clh-api.sock",
      "-v",
      "--log-file", "/run/vmlua/demo/clh.log",
      "--cpus", "boot=2",
      "--memory", "size=1G,shared=on",
      "--kernel", "/guest/vmlinux",
      "--initramfs", "/guest/initrd.gz",
      "--cmdline", "console=hvc0 quiet",
      "--disk", "path=/img/a.raw", "path=/img/b.qcow2,readonly=on,image_type=qcow2",
      "--net", "tap=vmtap0,mac=52:54:00:00:00:01",
      "--fs", "tag=vmlua,socket=/run/vmlua/demo/vfsd.sock",
      "--rng", "src=/dev/urandom",
      "--vsock", "cid=3,socket=/run/vmlua/demo/vsock.sock",
      "--serial", "file=/run/vmlua/demo/serial.log",
      "--console", "off",
    }, c:argv())
  end)

  it("api_argv launches only the VMM with its API socket and VMM options, as Kata does", function()
    local c = config {
      api_socket = "/run/x/clh-api.sock", verbosity = 3, log_file = "/run/x/clh.log", seccomp = false,
      log_format = "{level} {msg}", event_monitor = { fd = 5 },
      cpus = 2, memory = "1G", disks = { { path = "/img" } }, serial = "tty", extra_args = { "--no-such" },
    }
    assert.are.same({
      "cloud-hypervisor", "--api-socket", "path=/run/x/clh-api.sock", "-v", "-v", "-v",
      "--log-file", "/run/x/clh.log", "--log-format", "{level} {msg}", "--seccomp", "false",
      "--event-monitor", "fd=5",
    }, c:api_argv())
  end)

  it("api_argv requires an API socket", function()
    local c = config()
    local ok, err = pcall(c.api_argv, c)
    assert.is_false(ok)
    assert.truthy(err:find("api_socket: missing (required: the REST flow drives cloud-hypervisor " ..
                           "through its API socket)", 1, true), err)
  end)

  it("api_socket can be a path, { path = } or { fd = }", function()
    assert.are.same({ "path=/a.sock" }, opt({ api_socket = "/a.sock" }, "--api-socket"))
    assert.are.same({ "path=/b.sock" }, opt({ api_socket = { path = "/b.sock" } }, "--api-socket"))
    assert.are.same({ "fd=4" }, opt({ api_socket = { fd = 4 } }, "--api-socket"))
  end)

  it("set_control_socket / control_socket", function()
    local c = config()
    assert.is_nil(c:control_socket())
    assert.is_true(c:set_control_socket("/run/vmlua/x/clh-api.sock"))
    assert.are.equal("/run/vmlua/x/clh-api.sock", c:control_socket())
    assert.are.same({ "path=/run/vmlua/x/clh-api.sock" }, after(c:argv(), "--api-socket"))
    assert.are.equal("/p.sock", config({ api_socket = { path = "/p.sock" } }):control_socket())
    assert.is_nil(config({ api_socket = { fd = 3 } }):control_socket())
  end)

  it("set_serial_file / serial_file", function()
    local c = config { serial = "tty" }
    assert.is_nil(c:serial_file())
    assert.is_true(c:set_serial_file("/run/vmlua/x/serial.log"))
    assert.are.equal("/run/vmlua/x/serial.log", c:serial_file())
    assert.are.same({ "file=/run/vmlua/x/serial.log" }, after(c:argv(), "--serial"))
    assert.are.equal("/s.log", config({ serial = { file = "/s.log" } }):serial_file())
    assert.is_nil(config({ serial = { socket = "/s.sock" } }):serial_file())
  end)

  it("add_share overrides an explicit shared = false", function()
    local c = config { memory = { size = "2G", shared = false } }
    assert.are.same({ "size=2G,shared=off" }, after(c:argv(), "--memory"))
    c:add_share { tag = "a", socket = "/a.sock" }
    assert.are.same({ "size=2G,shared=on" }, after(c:argv(), "--memory"))
  end)

  it("add_share forces shared=on whatever memory was", function()
    local c = config()
    assert.is_true(c:add_share { tag = "vmlua", socket = "/run/v.sock", num_queues = 1, queue_size = 512 })
    assert.are.same({ "tag=vmlua,socket=/run/v.sock,num_queues=1,queue_size=512" }, after(c:argv(), "--fs"))
    assert.are.same({ "size=512M,shared=on" }, after(c:argv(), "--memory"))
    assert.is_true(c.fields.memory.shared)

    c = config { memory = "2G" }
    c:add_share { tag = "a", socket = "/a.sock" }
    c:add_share { tag = "b", socket = "/b.sock" }
    assert.are.same({ "size=2G,shared=on" }, after(c:argv(), "--memory"))
    assert.are.same({ "tag=a,socket=/a.sock", "tag=b,socket=/b.sock" }, after(c:argv(), "--fs"))

    c = config { memory = { size = "1G", hugepages = true } }
    c:add_share { tag = "a", socket = "/a.sock" }
    assert.are.same({ "size=1G,shared=on,hugepages=on" }, after(c:argv(), "--memory"))
  end)

  it("copy is deep and independent", function()
    local c = config { cmdline = params "quiet", disks = { { path = "/a" } } }
    local d = c:copy()
    d.fields.disks[1].path = "/b"
    d.fields.cmdline:set("debug")
    d:add_share { tag = "t", socket = "/t.sock" }
    assert.are.same({ "path=/a" }, after(c:argv(), "--disk"))
    assert.are.same({ "quiet" }, after(c:argv(), "--cmdline"))
    assert.is_nil(after(c:argv(), "--fs"))
    assert.are.same({ "path=/b" }, after(d:argv(), "--disk"))
    assert.are.equal("clh", d.hypervisor)
  end)

  it("config{} copies its input: later changes to the table do not leak in", function()
    local t = { kernel = "/k", disks = { { path = "/a" } } }
    local c = clh.config(t)
    t.disks[1].path = "/changed"
    assert.are.same({ "path=/a" }, after(c:argv(), "--disk"))
  end)

  it("validate returns true, or nil and the message after a bad edit", function()
    local c = config { cpus = 2 }
    assert.is_true(c:validate())
    c.fields.cpus = 0
    local ok, err = c:validate()
    assert.is_nil(ok)
    assert.are.equal("cpus: must be >= 1, got 0", err)
    local ok2, err2 = pcall(c.argv, c)
    assert.is_false(ok2)
    assert.truthy(err2:find("cpus: must be >= 1, got 0", 1, true))
  end)

  it("kernel_files lists the files the VM reads at start", function()
    local c = clh.config {
      kernel = "/k/vmlinux", initramfs = "/k/initrd", firmware = "/k/hypervisor-fw",
      disks = { { path = "/img/root.img" }, { socket = "/run/vhost-blk.sock" }, { path = "/img/data.img" } },
      pmem = { { file = "/img/pmem.img", size = "16M" } },
    }
    assert.are.same({
      { field = "kernel", path = "/k/vmlinux" },
      { field = "initramfs", path = "/k/initrd" },
      { field = "firmware", path = "/k/hypervisor-fw" },
      { field = "disks[1].path", path = "/img/root.img" },
      { field = "disks[3].path", path = "/img/data.img" },
      { field = "pmem[1].file", path = "/img/pmem.img" },
    }, c:kernel_files())
  end)

  it("socket_entries / socket_paths list every unix socket the config names", function()
    local c = config {
      api_socket = "/r/api.sock",
      serial = { socket = "/r/serial.sock" }, console = { socket = "/r/console.sock" },
      vsock = { cid = 3, socket = "/r/vsock.sock" }, tpm = { socket = "/r/swtpm.sock" },
      disks = { { path = "/img" }, { socket = "/r/blk.sock" } },
      net = { { socket = "/r/net.sock" } },
      fs = { { tag = "a", socket = "/r/fs.sock" } },
      user_devices = { { socket = "/r/vfio-user.sock" } },
    }
    assert.are.same({
      { field = "api_socket", path = "/r/api.sock" },
      { field = "serial.socket", path = "/r/serial.sock" },
      { field = "console.socket", path = "/r/console.sock" },
      { field = "vsock.socket", path = "/r/vsock.sock" },
      { field = "tpm.socket", path = "/r/swtpm.sock" },
      { field = "disks[2].socket", path = "/r/blk.sock" },
      { field = "net[1].socket", path = "/r/net.sock" },
      { field = "fs[1].socket", path = "/r/fs.sock" },
      { field = "user_devices[1].socket", path = "/r/vfio-user.sock" },
    }, c:socket_entries())
    assert.are.same({ "/r/api.sock", "/r/serial.sock", "/r/console.sock", "/r/vsock.sock", "/r/swtpm.sock",
                      "/r/blk.sock", "/r/net.sock", "/r/fs.sock", "/r/vfio-user.sock" }, c:socket_paths())
    assert.are.same({ { field = "api_socket.path", path = "/p" } },
                    config({ api_socket = { path = "/p" } }):socket_entries())
    assert.are.same({}, config({ api_socket = { fd = 3 } }):socket_paths())
  end)
end)

describe("vmlua.clh argv", function()
  describe("payload", function()
    it("kernel, initramfs and cmdline", function()
      local argv = config({ initramfs = "/g/initrd", cmdline = "console=ttyS0" }):argv()
      assert.are.same({ KERNEL }, after(argv, "--kernel"))
      assert.are.same({ "/g/initrd" }, after(argv, "--initramfs"))
      assert.are.same({ "console=ttyS0" }, after(argv, "--cmdline"))
    end)

    it("firmware instead of a kernel", function()
      local argv = clh.config({ firmware = "/fw/hypervisor-fw", disks = { { path = "/img" } } }):argv()
      assert.are.same({ "/fw/hypervisor-fw" }, after(argv, "--firmware"))
      assert.is_nil(after(argv, "--kernel"))
    end)

    it("cmdline from a params object, a list or a string; one argv element, quoted values", function()
      assert.are.same({ "root=/dev/vda1 quiet" }, opt({ cmdline = params "root=/dev/vda1 quiet" }, "--cmdline"))
      assert.are.same({ 'a=1 b dm-mod.create="x y"' },
                      opt({ cmdline = { { "a", "1" }, "b", { key = "dm-mod.create", value = "x y" } } }, "--cmdline"))
      assert.are.same({ "panic=1 no_timer_check" }, opt({ cmdline = "panic=1  no_timer_check" }, "--cmdline"))
    end)

    it("a params object given to config{} is copied", function()
      local p = params "quiet"
      local c = config { cmdline = p }
      p:set("debug")
      assert.are.same({ "quiet" }, after(c:argv(), "--cmdline"))
    end)
  end)

  describe("cpus", function()
    it("a number means boot=N (a bare --cpus N is rejected by cloud-hypervisor)", function()
      assert.are.same({ "boot=4" }, opt({ cpus = 4 }, "--cpus"))
    end)

    it("boot, max, topology (string or table) and the other keys", function()
      assert.are.same({ "boot=2,max=4,topology=1:2:1:2,kvm_hyperv=on,max_phys_bits=39," ..
                        "affinity=[0@[0,2],1@[1,3]],features=[amx],nested=off,core_scheduling=vcpu" },
        opt({ cpus = { boot = 2, max = 4, topology = "1:2:1:2", kvm_hyperv = true, max_phys_bits = 39,
                       affinity = { { vcpu = 0, host_cpus = { 0, 2 } }, { vcpu = 1, host_cpus = { 1, 3 } } },
                       features = { "amx" }, nested = false, core_scheduling = "vcpu" } }, "--cpus"))
      assert.are.same({ "boot=4,topology=2:2:1:1" },
        opt({ cpus = { boot = 4, topology = { threads_per_core = 2, cores_per_die = 2, dies_per_package = 1,
                                              packages = 1 } } }, "--cpus"))
    end)
  end)

  describe("memory", function()
    it("sizes in cloud-hypervisor's spelling: upper-case K/M/G, T as G, integers as bytes", function()
      assert.are.same({ "size=512M" }, opt({ memory = "512m" }, "--memory"))
      assert.are.same({ "size=2048G" }, opt({ memory = "2t" }, "--memory"))
      assert.are.same({ "size=1073741824" }, opt({ memory = 1073741824 }, "--memory"))
      assert.are.same({ "size=64K" }, opt({ memory = { size = "64k" } }, "--memory"))
    end)

    it("every memory key", function()
      assert.are.same({ "size=1G,mergeable=on,shared=off,hugepages=on,hugepage_size=2M," ..
                        "hotplug_method=virtio-mem,hotplug_size=4G,hotplugged_size=1G,prefault=on,reserve=off," ..
                        "thp=off" },
        opt({ memory = { size = "1G", mergeable = true, shared = false, hugepages = true, hugepage_size = "2M",
                         hotplug_method = "virtio-mem", hotplug_size = "4G", hotplugged_size = "1G",
                         prefault = true, reserve = false, thp = false } }, "--memory"))
    end)

    it("shared=on whenever virtio-fs or any vhost-user device is used; never file=", function()
      assert.are.same({ "size=512M,shared=on" }, opt({ fs = { { tag = "t", socket = "/s" } } }, "--memory"))
      assert.are.same({ "size=256M,shared=on" },
                      opt({ memory = "256M", disks = { { socket = "/vhost-blk.sock" } } }, "--memory"))
      assert.are.same({ "size=256M,shared=on" },
                      opt({ memory = "256M", net = { { socket = "/vhost-net.sock" } } }, "--memory"))
      assert.are.same({ "size=256M" }, opt({ memory = "256M", disks = { { path = "/img" } } }, "--memory"))
      assert.is_nil(opt({ disks = { { path = "/img" } } }, "--memory"))
      for _, a in ipairs(config({ fs = { { tag = "t", socket = "/s" } } }):argv()) do
        assert.is_nil(a:find("file=/dev/shm", 1, true))
      end
    end)

    it("an explicit shared = false stays with hugepages (cloud-hypervisor accepts huge pages for vhost-user)",
       function()
      assert.are.same({ "size=1G,shared=off,hugepages=on" },
                      opt({ memory = { size = "1G", shared = false, hugepages = true },
                            fs = { { tag = "t", socket = "/s" } } }, "--memory"))
    end)

    it("memory zones: one --memory-zone flag, zones shared when vhost-user is used, size 0", function()
      local argv = config({
        memory_zones = { { id = "mem0", size = "1G", file = "/dev/hugepages/x", hugepages = true },
                         { id = "mem1", size = "512M", host_numa_node = 1 } },
        fs = { { tag = "t", socket = "/s" } },
      }):argv()
      assert.are.same({ "size=0,shared=on" }, after(argv, "--memory"))
      assert.are.same({ "id=mem0,size=1G,file=/dev/hugepages/x,hugepages=on",
                        "id=mem1,size=512M,shared=on,host_numa_node=1" }, after(argv, "--memory-zone"))
      assert.are.equal(1, count(argv, "--memory-zone"))
    end)
  end)

  describe("devices", function()
    it("several disks: one --disk flag, one element each, every key", function()
      local argv = config({ disks = {
        { path = "/a.img", readonly = true, direct = true, num_queues = 2, queue_size = 256, serial = "ROOT",
          backing_files = false, sparse = false, image_type = "raw", lock_granularity = "byte-range",
          iommu = true, id = "disk0", pci_segment = 0, pci_device_id = 5 },
        { path = "/b.img", bw_size = 1048576, bw_one_time_burst = 0, bw_refill_time = 100,
          ops_size = 1000, ops_refill_time = 1000 },
        { socket = "/run/vhost-blk.sock", num_queues = 4 },
      } }):argv()
      assert.are.equal(1, count(argv, "--disk"))
      assert.are.same({
        "path=/a.img,readonly=on,direct=on,num_queues=2,queue_size=256,serial=ROOT,backing_files=off,sparse=off," ..
          "image_type=raw,lock_granularity=byte-range,iommu=on,id=disk0,pci_segment=0,pci_device_id=5",
        "path=/b.img,bw_size=1048576,bw_one_time_burst=0,bw_refill_time=100,ops_size=1000,ops_refill_time=1000",
        "num_queues=4,vhost_user=on,socket=/run/vhost-blk.sock",
      }, after(argv, "--disk"))
    end)

    it("several nets: one --net flag, one element per NIC (the seed joined them into one)", function()
      local argv = config({ net = {
        { tap = "tap0", ip = "192.168.10.1", mask = "255.255.255.0", mac = "52:54:00:00:00:01",
          host_mac = "52:54:00:00:00:02", mtu = 1500, num_queues = 4, queue_size = 256,
          offload_tso = false, offload_ufo = false, offload_csum = true, iommu = false, id = "net0" },
        { fd = { 3, 4 }, num_queues = 4, mac = "52:54:00:00:00:03" },
        { fd = 5 },
        { socket = "/run/vhost-net.sock", vhost_mode = "server" },
        { tap = "tap9", bw_size = 100, bw_refill_time = 10 },
      } }):argv()
      assert.are.equal(1, count(argv, "--net"))
      assert.are.same({
        "tap=tap0,ip=192.168.10.1,mask=255.255.255.0,mac=52:54:00:00:00:01,host_mac=52:54:00:00:00:02,mtu=1500," ..
          "num_queues=4,queue_size=256,offload_tso=off,offload_ufo=off,offload_csum=on,iommu=off,id=net0",
        "mac=52:54:00:00:00:03,fd=[3,4],num_queues=4",
        "fd=[5]",
        "vhost_user=on,socket=/run/vhost-net.sock,vhost_mode=server",
        "tap=tap9,bw_size=100,bw_refill_time=10",
      }, after(argv, "--net"))
    end)

    it("several shares: one --fs flag, socket= (never sock=)", function()
      assert.are.same({ "tag=a,socket=/a.sock,num_queues=1,queue_size=1024,id=fs0,pci_segment=0",
                        "tag=b,socket=/b.sock" },
        opt({ fs = { { tag = "a", socket = "/a.sock", num_queues = 1, queue_size = 1024, id = "fs0", pci_segment = 0 },
                     { tag = "b", socket = "/b.sock" } } }, "--fs"))
    end)

    it("pmem", function()
      assert.are.same({ "file=/p.img,size=128M,discard_writes=on,iommu=off", "file=/q.img" },
        opt({ pmem = { { file = "/p.img", size = "128M", discard_writes = true, iommu = false },
                       { file = "/q.img" } } }, "--pmem"))
    end)

    it("VFIO devices", function()
      assert.are.same({ "path=/sys/bus/pci/devices/0000:01:00.0,iommu=on,id=gpu0",
                        "path=/sys/bus/pci/devices/0000:02:00.0" },
        opt({ devices = { { path = "/sys/bus/pci/devices/0000:01:00.0", iommu = true, id = "gpu0" },
                          { path = "/sys/bus/pci/devices/0000:02:00.0" } } }, "--device"))
    end)

    it("vDPA and vfio-user devices", function()
      local argv = config({ vdpa = { { path = "/dev/vhost-vdpa-0", num_queues = 2 } },
                            user_devices = { { socket = "/run/vfio-user.sock", id = "u0" } } }):argv()
      assert.are.same({ "path=/dev/vhost-vdpa-0,num_queues=2" }, after(argv, "--vdpa"))
      assert.are.same({ "socket=/run/vfio-user.sock,id=u0" }, after(argv, "--user-device"))
    end)

    it("rng, vsock, balloon, tpm", function()
      local argv = config({
        rng = { src = "/dev/random", iommu = false },
        vsock = { cid = 42, socket = "/run/vsock.sock", iommu = false, id = "vsock0" },
        balloon = { size = "256M", deflate_on_oom = true, free_page_reporting = true },
        tpm = { socket = "/run/swtpm.sock" },
      }):argv()
      assert.are.same({ "src=/dev/random,iommu=off" }, after(argv, "--rng"))
      assert.are.same({ "cid=42,socket=/run/vsock.sock,iommu=off,id=vsock0" }, after(argv, "--vsock"))
      assert.are.same({ "size=256M,deflate_on_oom=on,free_page_reporting=on" }, after(argv, "--balloon"))
      assert.are.same({ "socket=/run/swtpm.sock" }, after(argv, "--tpm"))
    end)

    it("serial and console in every mode", function()
      for _, mode in ipairs { "off", "null", "pty", "tty" } do
        assert.are.same({ mode }, opt({ serial = mode }, "--serial"))
        assert.are.same({ mode }, opt({ console = { mode = mode } }, "--console"))
      end
      assert.are.same({ "file=/s.log" }, opt({ serial = { mode = "file", file = "/s.log" } }, "--serial"))
      assert.are.same({ "socket=/s.sock" }, opt({ serial = { socket = "/s.sock" } }, "--serial"))
      assert.are.same({ "file=/c.log,iommu=on" }, opt({ console = { file = "/c.log", iommu = true } }, "--console"))
      assert.are.same({ "pty,iommu=on,id=con0" },
                      opt({ console = { mode = "pty", iommu = true, id = "con0" } }, "--console"))
    end)

    it("debug console", function()
      assert.are.same({ "file=/dbg.log,iobase=0xe9" },
                      opt({ debug_console = { file = "/dbg.log", iobase = 0xe9 } }, "--debug-console"))
      assert.are.same({ "tty" }, opt({ debug_console = "tty" }, "--debug-console"))
    end)

    it("platform", function()
      assert.are.same({ "num_pci_segments=2,iommu_segments=[1],iommu_address_width=48,iommufd=off," ..
                        "system_manufacturer=vmlua,system_serial_number=SN1,system_uuid=1234-5678," ..
                        "oem_strings=[a,b c],tdx=off" },
        opt({ platform = { num_pci_segments = 2, iommu_segments = { 1 }, iommu_address_width = 48, iommufd = false,
                           system_manufacturer = "vmlua", system_serial_number = "SN1", system_uuid = "1234-5678",
                           oem_strings = { "a", "b c" }, tdx = false } }, "--platform"))
    end)

    it("flags: pvpanic, watchdog, landlock, no_shutdown; false means absent", function()
      local argv = config({ pvpanic = true, watchdog = true, landlock = true, no_shutdown = true,
                            landlock_rules = { { path = "/data", access = "rw" }, { path = "/ro", access = "r" } } })
        :argv()
      for _, f in ipairs { "--pvpanic", "--watchdog", "--landlock", "--no-shutdown" } do
        assert.are.equal(1, count(argv, f), f)
      end
      assert.are.same({ "path=/data,access=rw", "path=/ro,access=r" }, after(argv, "--landlock-rules"))
      argv = config({ pvpanic = false, watchdog = false, landlock = false, no_shutdown = false }):argv()
      for _, f in ipairs { "--pvpanic", "--watchdog", "--landlock", "--no-shutdown" } do
        assert.are.equal(0, count(argv, f), f)
      end
    end)

    it("VMM options: -v repeated, --log-file, --seccomp, --event-monitor", function()
      local argv = config({ verbosity = 2, log_file = "/l.log", seccomp = "log",
                            event_monitor = "/run/events.fifo" }):argv()
      assert.are.equal(2, count(argv, "-v"))
      assert.are.same({ "/l.log" }, after(argv, "--log-file"))
      assert.are.same({ "log" }, after(argv, "--seccomp"))
      assert.are.same({ "path=/run/events.fifo" }, after(argv, "--event-monitor"))
      assert.are.same({ "true" }, opt({ seccomp = true }, "--seccomp"))
      assert.are.equal(0, count(config():argv(), "-v"))
    end)

    it("extra_args go last, verbatim", function()
      local argv = config({ extra_args = { "--rtc", "--gdb", "path=/g.sock" } }):argv()
      assert.are.same({ "--rtc", "--gdb", "path=/g.sock" }, { table.unpack(argv, #argv - 2) })
    end)
  end)

  it("net_hotplug returns the fd nets for vm.add-net; tap nets stay in vm.create", function()
    local c = config { net = { { tap = "tap0" }, { fd = { 7, 8 }, num_queues = 4, mac = "52:54:00:00:00:09" } } }
    assert.are.same({ { body = { mac = "52:54:00:00:00:09", num_queues = 4 }, fds = { 7, 8 } } }, c:net_hotplug())
    assert.are.same({ { tap = "tap0" } }, c:vm_config().net)
  end)
end)
