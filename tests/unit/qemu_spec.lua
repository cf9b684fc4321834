-- vmlua.qemu: every Config field, knob, device kind and object type, the
-- transports, fd numbering, the helpers and the builder protocol.
local qemu = require "vmlua.qemu"
local cases = require "support.qemu_cases"

-- The argv of a config without the binary, joined with spaces.
local function args(t)
  local a = qemu.config(t):argv()
  return table.concat(a, " ", 2)
end

local function dev(d, extra)
  local t = { devices = { d } }
  for k, v in pairs(extra or {}) do t[k] = v end
  return args(t)
end

local opened = {}
local function devnull()
  local f = assert(io.open("/dev/null", "rb"))
  opened[#opened + 1] = f
  return f
end

describe("vmlua.qemu", function()
  after_each(function()
    for _, f in ipairs(opened) do
      if io.type(f) == "file" then f:close() end
    end
    opened = {}
  end)

  describe("the shared x86 cases (also run on the real QEMU by tests/e2e)", function()
    for _, c in ipairs(cases) do
      it(c.name, function()
        local P = { D = "/d", tap = "tap0", listener = devnull(), stream = devnull() }
        local cfg = cases.build(c, P)
        assert.are.equal(cases.expand(c.expect, P), table.concat(cfg:argv(), " ", 2))
      end)
    end
  end)

  describe("Config fields", function()
    it("path is argv[1]; the default binary is qemu-system-x86_64", function()
      assert.are.equal("qemu-system-x86_64", qemu.config({}):argv()[1])
      assert.are.same({ "/opt/qemu/bin/qemu-system-x86_64" },
                      qemu.config({ path = "/opt/qemu/bin/qemu-system-x86_64" }):argv())
    end)

    it("an empty config gives no options", function()
      assert.are.equal("", args {})
    end)

    it("name, with debug-threads from debug", function()
      assert.are.equal("-name vm", args { name = "vm" })
      assert.are.equal("-name vm,debug-threads=on", args { name = "vm", debug = true })
      assert.are.equal("-name debug-threads=on", args { debug = true })
      assert.are.equal("-name a,,b", args { name = "a,b" })
    end)

    it("uuid, cpu_model, seccomp_sandbox, vga, display, pid_file, log_file, bios", function()
      assert.are.equal("-uuid 4cb19522-1e18-439a-883a-f9b2a3a95f5e", args { uuid = "4cb19522-1e18-439a-883a-f9b2a3a95f5e" })
      assert.are.equal("-cpu host,+vmx", args { cpu_model = "host,+vmx" })
      assert.are.equal("-sandbox on,obsolete=deny", args { seccomp_sandbox = "on,obsolete=deny" })
      assert.are.equal("-vga std", args { vga = "std" })
      assert.are.equal("-display none", args { display = "none" })
      assert.are.equal("-pidfile /run/q.pid", args { pid_file = "/run/q.pid" })
      assert.are.equal("-D /run/q.log", args { log_file = "/run/q.log" })
      assert.are.equal("-bios /usr/share/qemu/bios.bin", args { bios = "/usr/share/qemu/bios.bin" })
    end)

    it("machine: type, accel and options; accel and options without a type", function()
      assert.are.equal("-machine q35", args { machine = { type = "q35" } })
      assert.are.equal("-machine pc-lite,accel=kvm,kernel_irqchip,nvdimm,gic-version=host",
                       args { machine = { type = "pc-lite", accel = "kvm,kernel_irqchip,nvdimm", options = "gic-version=host" } })
      assert.are.equal("-machine accel=tcg", args { machine = { accel = "tcg" } })
      assert.are.equal("-machine usb=off", args { machine = { options = "usb=off" } })
      assert.are.equal("", args { machine = {} })
    end)

    it("qmp_sockets: server or client, by path or fd, the three protocols; monitor", function()
      assert.are.equal("-qmp unix:path=/q.sock", args { qmp_sockets = { { name = "/q.sock" } } })
      assert.are.equal("-qmp unix:path=/q.sock,server=on", args { qmp_sockets = { { name = "/q.sock", server = true } } })
      assert.are.equal("-qmp-pretty unix:path=/q,,1.sock,server=on,wait=off",
                       args { qmp_sockets = { { protocol = "qmp-pretty", name = "/q,1.sock", server = true, no_wait = true } } })
      assert.are.equal("-monitor unix:path=/h.sock,server=on,wait=off",
                       args { qmp_sockets = { { type = "unix", protocol = "hmp", name = "/h.sock", server = true, no_wait = true } } })
      local f = devnull()
      assert.are.equal("-qmp unix:fd=3,server=on,wait=off -qmp unix:fd=3",
                       args { fds = { f }, qmp_sockets = { { fd = f, server = true, no_wait = true }, { fd = 1 } } })
      assert.are.equal("-monitor none", args { monitor = "none" })
    end)

    it("memory: size, slots, max_mem; integer sizes are bytes; a bare string is MiB", function()
      assert.are.equal("-m 2G,slots=2,maxmem=3G", args { memory = { size = "2G", slots = 2, max_mem = "3G" } })
      assert.are.equal("-m 512M,maxmem=4G", args { memory = { size = 512 * 1024 * 1024, max_mem = 4 << 30 } })
      assert.are.equal("-m 256", args { memory = { size = "256", path = "/dev/shm" } })
    end)

    it("smp: cpus, cores, threads, sockets, max_cpus (always last)", function()
      assert.are.equal("-smp 2,cores=1,threads=2,sockets=2,maxcpus=6 -no-hpet",
                       args { smp = { cpus = 2, sockets = 2, cores = 1, threads = 2, max_cpus = 6 }, extra_params = { "-no-hpet" } })
      assert.are.equal("-smp 1", args { smp = { cpus = 1 } })
    end)

    it("rtc: any subset of base, drift_fix, clock", function()
      assert.are.equal("-rtc base=utc,driftfix=slew,clock=host", args { rtc = { base = "utc", clock = "host", drift_fix = "slew" } })
      assert.are.equal("-rtc clock=vm", args { rtc = { clock = "vm" } })
      assert.are.equal("-rtc base=2006-06-17T16:01:21,driftfix=none", args { rtc = { base = "2006-06-17T16:01:21", drift_fix = "none" } })
      assert.are.equal("", args { rtc = {} })
    end)

    it("kernel: path, initrd (or initrd_path), params as a string, list or object", function()
      assert.are.equal("-kernel /k", args { kernel = { path = "/k" } })
      assert.are.equal("-kernel /k -initrd /i", args { kernel = { path = "/k", initrd_path = "/i", params = "" } })
      assert.are.equal("-kernel /k -append a b=1", args { kernel = { path = "/k", params = { "a", "b=1" } } })
      local obj = setmetatable({}, { __index = { render = function() return "console=hvc0 quiet" end } })
      local a = qemu.config({ kernel = { path = "/k", params = obj } }):argv()
      assert.are.same({ "qemu-system-x86_64", "-kernel", "/k", "-append", "console=hvc0 quiet" }, a)
    end)

    it("global_param as a string or a list; pflash", function()
      assert.are.equal("-global kvm-pit.lost_tick_policy=discard", args { global_param = "kvm-pit.lost_tick_policy=discard" })
      assert.are.equal("-global a.b=1 -global c.d=2", args { global_param = { "a.b=1", "c.d=2" } })
      assert.are.equal("-pflash flash0 -pflash flash1", args { pflash = { "flash0", "flash1" } })
    end)

    it("incoming: fd, exec, defer; no second -S when knobs.stopped wrote one", function()
      assert.are.equal("-S -incoming fd:3", args { incoming = { migration_type = "fd", fd = io.stdout } })
      assert.are.equal("-S -incoming exec:test migration cmd", args { incoming = { migration_type = "exec", exec = "test migration cmd" } })
      assert.are.equal("-S -incoming defer", args { incoming = { migration_type = "defer" } })
      assert.are.equal("-S -incoming defer", args { knobs = { stopped = true }, incoming = { migration_type = "defer" } })
    end)

    it("fw_cfg: one -fw_cfg per entry (govmm repeats earlier entries)", function()
      assert.are.equal("-fw_cfg name=opt/a,file=./a.bin -fw_cfg name=opt/b,string=x,,y -fw_cfg name=opt/c,file=/c",
                       args { fw_cfg = { { name = "opt/a", file = "./a.bin" }, { name = "opt/b", str = "x,y" },
                                         { name = "opt/c", file = "/c" } } })
    end)

    it("iothreads as ids or tables", function()
      assert.are.equal("-object iothread,id=io0 -object iothread,id=io1", args { iothreads = { "io0", { id = "io1" } } })
    end)

    it("numa_nodes and numa_dists (govmm's multi-node memory)", function()
      assert.are.equal("-m 2G -object memory-backend-ram,id=numa-mem0,size=1G,host-nodes=0,policy=bind,share=on,prealloc=on"
        .. " -numa node,nodeid=0,memdev=numa-mem0,cpus=0-3"
        .. " -object memory-backend-file,id=numa-mem1,size=1073741824,mem-path=/dev/shm,share=on,prealloc=on"
        .. " -numa node,nodeid=1,memdev=numa-mem1 -numa dist,src=0,dst=1,val=20",
        args { memory = { size = "2G" }, knobs = { mem_shared = true, mem_prealloc = true },
               numa_nodes = { { node_id = 0, cpus = "0-3", mem_size = "1G", host_nodes = "0" },
                              { node_id = 1, mem_size = 1 << 30, mem_backend_type = "memory-backend-file",
                                mem_backend_path = "/dev/shm" } },
               numa_dists = { { src = 0, dst = 1, val = 20 } } })
    end)

    it("extra_params come last, verbatim", function()
      assert.are.equal("-name vm -smp 1 -device virtio-rng-pci,rng=r -object rng-builtin,id=r",
                       args { name = "vm", smp = { cpus = 1 }, extra_params = { "-device", "virtio-rng-pci,rng=r", "-object", "rng-builtin,id=r" } })
    end)

    it("emits the sections in govmm's LaunchQemu order", function()
      local f = devnull()
      local got = args {
        extra_params = { "-no-hpet" }, smp = { cpus = 1 }, seccomp_sandbox = "on", fw_cfg = { { name = "n", str = "s" } },
        log_file = "/l", pid_file = "/p", incoming = { migration_type = "defer" }, iothreads = { "io0" }, bios = "/b",
        kernel = { path = "/k" }, knobs = { no_defaults = true }, display = "none", vga = "none", pflash = { "/f" },
        global_param = "a.b=1", rtc = { base = "utc" }, objects = { { type = "rng-builtin", id = "r" } },
        devices = { { kind = "pvpanic" } }, memory = { size = "1G" }, monitor = "none",
        qmp_sockets = { { fd = f } }, cpu_model = "host", machine = { type = "pc" }, uuid = "4cb19522-1e18-439a-883a-f9b2a3a95f5e",
        name = "vm",
      }
      assert.are.equal("-name vm -uuid 4cb19522-1e18-439a-883a-f9b2a3a95f5e -machine pc -cpu host -qmp unix:fd=3"
        .. " -monitor none -m 1G -device pvpanic -object rng-builtin,id=r -rtc base=utc -global a.b=1 -pflash /f"
        .. " -vga none -display none -nodefaults -kernel /k -bios /b -object iothread,id=io0 -S -incoming defer"
        .. " -pidfile /p -D /l -fw_cfg name=n,string=s -sandbox on -smp 1 -no-hpet", got)
    end)
  end)

  describe("knobs", function()
    local flags = {
      { "no_user_config", "-no-user-config" }, { "no_defaults", "-nodefaults" }, { "no_graphic", "-nographic" },
      { "no_reboot", "--no-reboot" }, { "no_shutdown", "-no-shutdown" }, { "mlock", "-overcommit mem-lock=on" },
      { "stopped", "-S" },
    }
    for _, kf in ipairs(flags) do
      it(kf[1] .. " gives " .. kf[2], function()
        assert.are.equal(kf[2], args { knobs = { [kf[1]] = true } })
        assert.are.equal("", args { knobs = { [kf[1]] = false } })
      end)
    end

    it("in govmm's order: flags, memory backend, -overcommit, -S", function()
      assert.are.equal("-m 1G -no-user-config -nodefaults -nographic --no-reboot -no-shutdown"
        .. " -object memory-backend-ram,id=dimm1,size=1G,prealloc=on -numa node,memdev=dimm1 -overcommit mem-lock=on -S",
        args { memory = { size = "1G" }, knobs = { no_user_config = true, no_defaults = true, no_graphic = true,
               no_reboot = true, no_shutdown = true, mem_prealloc = true, mlock = true, stopped = true } })
    end)

    it("the memory knobs choose the guest-RAM backend (huge_pages > file_backed_mem > ram)", function()
      local mem = { size = "1G", path = "/dev/shm/vm" }
      assert.are.equal("-m 1G -object memory-backend-file,id=dimm1,size=1G,mem-path=/dev/hugepages,share=on -numa node,memdev=dimm1",
                       args { memory = mem, knobs = { huge_pages = true, file_backed_mem = true, mem_shared = true } })
      assert.are.equal("-m 1G -object memory-backend-file,id=dimm1,size=1G,mem-path=/dev/shm/vm -numa node,memdev=dimm1",
                       args { memory = mem, knobs = { file_backed_mem = true } })
      assert.are.equal("-m 1G -object memory-backend-ram,id=dimm1,size=1G,share=on -numa node,memdev=dimm1",
                       args { memory = mem, knobs = { mem_shared = true } })
      assert.are.equal("-m 1G", args { memory = mem })
      assert.are.equal("-m 512 -object memory-backend-ram,id=dimm1,size=512M,prealloc=on -numa node,memdev=dimm1",
                       args { memory = { size = "512" }, knobs = { mem_prealloc = true } })
    end)

    it("iommu_platform: iommu_platform=on on every virtio device (with disable-legacy=on on PCI)", function()
      local k = { iommu_platform = true }
      assert.are.equal("-device virtio-9p-pci,disable-modern=false,fsdev=f,mount_tag=t,disable-legacy=on,iommu_platform=on"
        .. " -fsdev local,id=f,path=/s,security_model=none", dev({ kind = "fs", id = "f", path = "/s", mount_tag = "t" }, { knobs = k }))
      assert.are.equal("-machine microvm -device vhost-vsock-device,id=v,guest-cid=3,iommu_platform=on -global virtio-mmio.force-legacy=false",
                       dev({ kind = "vsock", id = "v", context_id = 3 }, { knobs = k, machine = { type = "microvm" } }))
      assert.are.equal("-machine q35 -chardev socket,id=fs-t,path=/s"
        .. " -device vhost-user-fs-pci,chardev=fs-t,tag=t,queue-size=1024,disable-legacy=on,iommu_platform=on,bus=pcie.0"
        .. " -chardev socket,id=b,path=/b -device vhost-user-blk-pci,chardev=b,bus=pcie.0,disable-legacy=on,iommu_platform=on",
        args { machine = { type = "q35" }, knobs = k, devices = { qemu.virtiofs { tag = "t", socket = "/s" },
               { kind = "vhost_user", vhost_user_type = "blk", socket_path = "/b", char_dev_id = "b" } } })
    end)
  end)

  describe("device kinds (pc machine: PCI transport, no PCIe root)", function()
    local rom = "efi-virtio.rom"
    local kinds = {
      { "fs", { kind = "fs", driver = "virtio-9p", fs_driver = "local", id = "fs0", path = "/srv", mount_tag = "root",
                security_model = "none", multidev = "warn", disable_modern = true, romfile = rom },
        "-device virtio-9p-pci,disable-modern=true,fsdev=fs0,mount_tag=root,romfile=efi-virtio.rom"
          .. " -fsdev local,id=fs0,path=/srv,security_model=none,multidevs=warn" },
      { "char (virtserialport on a socket)", { kind = "char", backend = "socket", id = "c0", device_id = "p0", path = "/c.sock",
                name = "org.qemu.guest_agent.0", bus = "vser0.0" },
        "-device virtserialport,bus=vser0.0,chardev=c0,id=p0,name=org.qemu.guest_agent.0"
          .. " -chardev socket,id=c0,path=/c.sock,server=on,wait=off" },
      { "char (virtconsole on a pty)", { kind = "char", driver = "virtconsole", backend = "pty", id = "c1" },
        "-device virtconsole,chardev=c1 -chardev pty,id=c1" },
      { "char (chardev only, for a legacy serial port)", { kind = "char", driver = "serial", backend = "file", id = "c2", path = "/s.log" },
        "-chardev file,id=c2,path=/s.log" },
      { "legacy_serial on a chardev", { kind = "legacy_serial", chardev = "c2" }, "-serial chardev:c2" },
      { "legacy_serial on a file", { kind = "legacy_serial", file = "/s.log", id = "con" },
        "-chardev file,id=con,path=/s.log -serial chardev:con" },
      { "serial (virtio-serial controller)", { kind = "serial", driver = "virtio-serial", id = "vser0", max_ports = 2, romfile = rom },
        "-device virtio-serial-pci,disable-modern=false,id=vser0,romfile=efi-virtio.rom,max_ports=2" },
      { "net (tap by ifname)", { kind = "net", type = "tap", driver = "virtio-net", id = "tap0", ifname = "ceth0", script = "no",
                down_script = "no", vhost = true, mac_address = "01:02:de:ad:be:ef", disable_modern = true, romfile = rom,
                bus = "/pci-bus/pcie.0", addr = 255 },
        "-netdev tap,id=tap0,vhost=on,ifname=ceth0,downscript=no,script=no -device driver=virtio-net-pci,netdev=tap0,"
          .. "mac=01:02:de:ad:be:ef,bus=/pci-bus/pcie.0,addr=ff,disable-modern=true,romfile=efi-virtio.rom" },
      { "block", { kind = "block", driver = "virtio-blk", id = "hd0", file = "/vm.img", aio = "io_uring", format = "qcow2",
                   interface = "none", wce = false, disable_modern = true, romfile = rom, share_rw = true, read_only = true,
                   discard_unmap = true },
        "-device virtio-blk-pci,disable-modern=true,drive=hd0,config-wce=off,romfile=efi-virtio.rom,share-rw=on,discard=on,serial=hd0"
          .. " -drive id=hd0,file=/vm.img,aio=io_uring,format=qcow2,if=none,readonly=on,discard=unmap" },
      { "block (minimal)", { kind = "block", id = "hd1", file = "/a,b.img", wce = true },
        "-device virtio-blk-pci,disable-modern=false,drive=hd1,serial=hd1 -drive id=hd1,file=/a,,b.img,if=none" },
      { "block (cache, snapshot, serial)", { kind = "block", id = "hd2", file = "/b.img", format = "raw", wce = true,
                                             cache = "none", snapshot = true, serial = "data-1" },
        "-device virtio-blk-pci,disable-modern=false,drive=hd2,serial=data-1"
          .. " -drive id=hd2,file=/b.img,format=raw,if=none,cache=none,snapshot=on" },
      { "user_net", { kind = "user_net", id = "n0", mac_address = "02:00:00:00:00:01", restrict = true,
                      forwards = { "tcp:127.0.0.1:2222-:22", "udp::5353-10.0.2.15:53" } },
        "-netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-10.0.2.15:53"
          .. " -device driver=virtio-net-pci,netdev=n0,mac=02:00:00:00:00:01,disable-modern=false" },
      { "pvpanic", { kind = "pvpanic" }, "-device pvpanic" },
      { "loader", { kind = "loader", file = "f", id = "id" }, "-device loader,file=f,id=id" },
      { "vhost_user fs", { kind = "vhost_user", vhost_user_type = "fs", socket_path = "/v.sock", char_dev_id = "char0",
                           tag = "kataShared", cache_size = 8192, queue_size = 512, romfile = rom },
        "-chardev socket,id=char0,path=/v.sock -device vhost-user-fs-pci,chardev=char0,tag=kataShared,queue-size=512,"
          .. "cache-size=8192M,romfile=efi-virtio.rom" },
      { "vhost_user blk", { kind = "vhost_user", vhost_user_type = "blk", socket_path = "/b.sock", char_dev_id = "char2" },
        "-chardev socket,id=char2,path=/b.sock -device vhost-user-blk-pci,chardev=char2" },
      { "vhost_user scsi", { kind = "vhost_user", vhost_user_type = "scsi", socket_path = "/s.sock", char_dev_id = "char1",
                             type_dev_id = "scsi1" },
        "-chardev socket,id=char1,path=/s.sock -device vhost-user-scsi-pci,id=scsi1,chardev=char1" },
      { "vhost_user net", { kind = "vhost_user", vhost_user_type = "net", socket_path = "/n.sock", char_dev_id = "char3",
                            type_dev_id = "net1", address = "00:11:22:33:44:55" },
        "-chardev socket,id=char3,path=/n.sock -netdev type=vhost-user,id=net1,chardev=char3,vhostforce=on"
          .. " -device virtio-net-pci,netdev=net1,mac=00:11:22:33:44:55" },
      { "pxb_pcie", { kind = "pxb_pcie", id = "pxb-numa1", bus_nr = 64, numa_node = 1 },
        "-device pxb-pcie,id=pxb-numa1,bus=pcie.0,bus_nr=64,numa_node=1" },
      { "pcie_root_port (defaults)", { kind = "pcie_root_port", id = "rp1" },
        "-device pcie-root-port,id=rp1,bus=pcie.0,chassis=0x00,slot=0x00,multifunction=off" },
      { "pcie_root_port (multifunction without addr)", { kind = "pcie_root_port", id = "rp2", multifunction = true, romfile = rom },
        "-device pcie-root-port,id=rp2,bus=pcie.0,chassis=0x00,slot=0x00,addr=0x00,multifunction=on,romfile=efi-virtio.rom" },
      { "pcie_root_port (addr without multifunction)", { kind = "pcie_root_port", id = "rp3", addr = "0x4" },
        "-device pcie-root-port,id=rp3,bus=pcie.0,chassis=0x00,slot=0x00,addr=0x4,multifunction=off" },
      { "pcie_switch_upstream_port", { kind = "pcie_switch_upstream_port", id = "sup0", bus = "rp0" },
        "-device x3130-upstream,id=sup0,bus=rp0" },
      { "pcie_switch_downstream_port", { kind = "pcie_switch_downstream_port", id = "sdp0", bus = "sup0", chassis = "0x1",
                                         slot = "0x0", pref32_reserve = "256M" },
        "-device xio3130-downstream,id=sdp0,bus=sup0,chassis=0x1,slot=0x0,pref32-reserve=256M" },
      { "vfio (host device)", { kind = "vfio", bdf = "02:10.0", romfile = rom, vendor_id = "0x1234", device_id = "0x5678" },
        "-device vfio-pci,host=02:10.0,x-pci-vendor-id=0x1234,x-pci-device-id=0x5678,romfile=efi-virtio.rom" },
      { "vfio (mediated device)", { kind = "vfio", sysfs_dev = "/sys/bus/mdev/devices/uuid", bus = "rp0" },
        "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/uuid,bus=rp0" },
      { "vfio (iommufd cdev)", { kind = "vfio", bdf = "02:00.0", id = "vfio0", devfs_dev = "/dev/vfio/devices/vfio0" },
        "-object iommufd,id=iommufdvfio0 -device vfio-pci,host=02:00.0,id=vfio0,iommufd=iommufdvfio0" },
      { "scsi", { kind = "scsi", id = "foo", romfile = rom, bus = "pci.0", addr = "00:04.0", disable_modern = true,
                  iothread = "iothread1" },
        "-device virtio-scsi-pci,id=foo,bus=pci.0,addr=00:04.0,disable-modern=true,iothread=iothread1,romfile=efi-virtio.rom" },
      { "bridge (pci)", { kind = "bridge", type = "pci", id = "br", bus = "/pci-bus/pcie.0", addr = "255", chassis = 5,
                          shpc = false, romfile = rom, io_reserve = "4k", mem_reserve = "1m", pref64_reserve = "1m" },
        "-device pci-bridge,bus=/pci-bus/pcie.0,id=br,chassis_nr=5,shpc=off,addr=ff,romfile=efi-virtio.rom,io-reserve=4k,"
          .. "mem-reserve=1m,pref64-reserve=1m" },
      { "bridge (pcie)", { kind = "bridge", type = "pcie", id = "br1", bus = "pcie.0" }, "-device pcie-pci-bridge,bus=pcie.0,id=br1" },
      { "vsock", { kind = "vsock", id = "vhost-vsock-pci0", context_id = 4, disable_modern = true, romfile = rom },
        "-device vhost-vsock-pci,disable-modern=true,id=vhost-vsock-pci0,guest-cid=4,romfile=efi-virtio.rom" },
      { "rng", { kind = "rng", id = "rng0", romfile = rom, filename = "/dev/urandom", max_bytes = 20, period = 500 },
        "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0,romfile=efi-virtio.rom,max-bytes=20,period=500" },
      { "balloon", { kind = "balloon", id = "balloon", romfile = rom, deflate_on_oom = true, disable_modern = true,
                     free_page_reporting = true },
        "-device virtio-balloon-pci,id=balloon,romfile=efi-virtio.rom,deflate-on-oom=on,disable-modern=true,free-page-reporting=on" },
      { "iommu", { kind = "iommu", intremap = true, device_iotlb = true }, "-device intel-iommu,intremap=on,device-iotlb=on,caching-mode=off" },
      { "device (generic, kind = \"device\")", { kind = "device", type = "virtio-9p-pci", id = "d0", fsdev = "fs0", mount_tag = "t" },
        "-device virtio-9p-pci,id=d0,fsdev=fs0,mount_tag=t" },
      { "device (seed form: no kind, a type)", { type = "nvdimm", id = "nv0", memdev = "m0", chardev = "c0",
                                                 options = { label_size = 131072, unarmed = true } },
        "-device nvdimm,id=nv0,memdev=m0,chardev=c0,label_size=131072,unarmed=on" },
      { "device (raw options)", { type = "virtio-rng-pci", options = "rng=r0,max-bytes=10" }, "-device virtio-rng-pci,rng=r0,max-bytes=10" },
    }
    for _, k in ipairs(kinds) do
      it(k[1], function() assert.are.equal(k[3], dev(k[2])) end)
    end

    it("covers every kind in the catalogue", function()
      local seen = {}
      for _, k in ipairs(kinds) do seen[k[2].kind or "device"] = true end
      for _, kind in ipairs(qemu.device_kinds) do assert.is_true(seen[kind], kind) end
    end)
  end)

  describe("objects", function()
    local objs = {
      { { type = "memory-backend-file", driver = "nvdimm", device_id = "nv0", id = "mem0", mem_path = "/root", size = 65536, read_only = true },
        "-device nvdimm,id=nv0,memdev=mem0,unarmed=on -object memory-backend-file,id=mem0,mem-path=/root,size=65536,readonly=on" },
      { { type = "memory-backend-file", id = "m1", mem_path = "/dev/shm", size = "1G", share = true, prealloc = true },
        "-object memory-backend-file,id=m1,mem-path=/dev/shm,size=1G,share=on,prealloc=on" },
      { { type = "memory-backend-memfd", id = "m2", size = "64M", share = true, hugetlb = true },
        "-object memory-backend-memfd,id=m2,size=64M,share=on,hugetlb=on" },
      { { type = "memory-backend-ram", id = "m3", size = 1048576, prealloc = true }, "-object memory-backend-ram,id=m3,size=1048576,prealloc=on" },
      { { type = "memory-backend-epc", id = "epc0", size = 65536, prealloc = true }, "-object memory-backend-epc,id=epc0,size=65536,prealloc=on" },
      { { type = "rng-random", id = "r0", filename = "/dev/hwrng" }, "-object rng-random,id=r0,filename=/dev/hwrng" },
      { { type = "rng-builtin", id = "r1" }, "-object rng-builtin,id=r1" },
      { { type = "iothread", id = "io0" }, "-object iothread,id=io0" },
      { { type = "tdx-guest", id = "tdx", qgs_port = 4050 },
        '-object {"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}}' },
      { { type = "tdx-guest", id = "tdx", file = "/OVMF.fd", debug = true, initdata_digest = "00ff" },
        '-object {"qom-type":"tdx-guest","id":"tdx","mrconfigid":"AP8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",'
          .. '"quote-generation-socket":{"type":"unix","path":"/var/run/tdx-qgs/qgs.socket"},"debug":true} -bios /OVMF.fd' },
      { { type = "tdx-guest", id = "tdx", qgs_socket = "/run/q\"s.sock" },
        '-object {"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"unix","path":"/run/q\\"s.sock"}}' },
      { { type = "sev-guest", id = "sev", file = "/OVMF.fd", cbitpos = 47, reduced_phys_bits = 1 },
        "-object sev-guest,id=sev,cbitpos=47,reduced-phys-bits=1 -drive if=pflash,format=raw,readonly=on,file=/OVMF.fd" },
      { { type = "sev-snp-guest", id = "snp", file = "/OVMF.fd", cbitpos = 51, reduced_phys_bits = 1, snp_id_block = "YmxvY2s=",
          snp_id_auth = "YXV0aA==", snp_guest_policy = 0x30000, initdata_digest = "01" },
        "-object sev-snp-guest,id=snp,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on,id-block=YmxvY2s=,id-auth=YXV0aA==,"
          .. "policy=0x30000,host-data=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= -bios /OVMF.fd" },
      { { type = "secret", id = "s0", options = "data=abc,format=raw" }, "-object secret,id=s0,data=abc,format=raw" },
      { { type = "memory-backend-foo", id = "x", mem_path = "/m", size = 4096 }, "-object memory-backend-foo,id=x,mem-path=/m,size=4096" },
    }
    for _, o in ipairs(objs) do
      it(o[1].type, function() assert.are.equal(o[2], args { objects = { o[1] } }) end)
    end

    it("covers every object type in the catalogue", function()
      local seen = {}
      for _, o in ipairs(objs) do seen[o[1].type] = true end
      for _, t in ipairs(qemu.object_types) do assert.is_true(seen[t], t) end
    end)

    it("a firmware object and an equal bios give one -bios", function()
      assert.are.equal("-object sev-snp-guest,id=snp,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on -bios /OVMF.fd",
                       args { bios = "/OVMF.fd", objects = { { type = "sev-snp-guest", id = "snp", file = "/OVMF.fd", cbitpos = 51,
                                                               reduced_phys_bits = 1 } } })
    end)

    it("a memory backend with ram = true is the guest RAM: -numa node on pc/q35, -machine memory-backend on microvm", function()
      local o = { type = "memory-backend-memfd", id = "mem", size = "1G", share = true, ram = true }
      assert.are.equal("-m 1G -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem",
                       args { memory = { size = "1G" }, objects = { o } })
      assert.are.equal("-machine microvm -m 1024 -object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem",
                       args { machine = { type = "microvm" }, memory = { size = "1024" }, objects = { o } })
      assert.are.equal("-m 1G -object memory-backend-file,id=mem,mem-path=/dev/shm,size=1073741824,share=on -numa node,memdev=mem",
                       args { memory = { size = 1 << 30 }, objects = { { type = "memory-backend-file", id = "mem", mem_path = "/dev/shm",
                                                                       size = 1 << 30, share = true, ram = true } } })
    end)
  end)

  describe("transports", function()
    local function vsock(machine, transport)
      return dev({ kind = "vsock", id = "v", context_id = 3, transport = transport }, { machine = machine })
    end

    it("pc: virtio-*-pci, no implicit bus", function()
      assert.are.equal("-machine pc -device vhost-vsock-pci,disable-modern=false,id=v,guest-cid=3", vsock { type = "pc" })
      assert.are.equal("-device vhost-vsock-pci,disable-modern=false,id=v,guest-cid=3", vsock(nil))
    end)

    it("q35 and virt*: PCIe root, bus=pcie.0 on net, vhost-user and vsock", function()
      assert.are.equal("-machine q35 -device vhost-vsock-pci,disable-modern=false,id=v,guest-cid=3,bus=pcie.0", vsock { type = "q35" })
      assert.are.equal("-machine virt -device vhost-vsock-pci,disable-modern=false,id=v,guest-cid=3,bus=pcie.0", vsock { type = "virt" })
      assert.are.equal("-machine q35 -netdev tap,id=n,ifname=t -device driver=virtio-net-pci,netdev=n,bus=pcie.0,disable-modern=false",
                       dev({ kind = "net", id = "n", ifname = "t" }, { machine = { type = "q35" } }))
      assert.are.equal("-machine q35 -netdev tap,id=n,ifname=t -device driver=virtio-net-pci,netdev=n,bus=rp0,disable-modern=false",
                       dev({ kind = "net", id = "n", ifname = "t", bus = "rp0" }, { machine = { type = "q35" } }))
      assert.are.equal("-machine q35 -object rng-random,id=r -device virtio-rng-pci,rng=r",
                       dev({ kind = "rng", id = "r" }, { machine = { type = "q35" } }))
    end)

    it("microvm: virtio-*-device (mmio), no PCI options, modern virtio-mmio", function()
      assert.are.equal("-machine microvm -device vhost-vsock-device,id=v,guest-cid=3 -global virtio-mmio.force-legacy=false", vsock { type = "microvm" })
      assert.are.equal("-machine microvm -chardev socket,id=c,path=/s -device vhost-user-fs-device,chardev=c,tag=t,queue-size=1024 -global virtio-mmio.force-legacy=false",
                       dev({ kind = "vhost_user", vhost_user_type = "fs", socket_path = "/s", char_dev_id = "c", tag = "t" },
                           { machine = { type = "microvm" } }))
      assert.are.equal("-machine microvm -device virtio-balloon-device,id=b,deflate-on-oom=off,free-page-reporting=off -global virtio-mmio.force-legacy=false",
                       dev({ kind = "balloon", id = "b", disable_modern = false }, { machine = { type = "microvm" } }))
    end)

    it("a device's transport overrides the machine's", function()
      assert.are.equal("-machine q35 -device vhost-vsock-device,id=v,guest-cid=3 -global virtio-mmio.force-legacy=false", vsock({ type = "q35" }, "mmio"))
      assert.are.equal("-machine microvm -device vhost-vsock-pci,disable-modern=false,id=v,guest-cid=3", vsock({ type = "microvm" }, "pci"))
    end)

    it("global_param may choose legacy virtio-mmio; a microvm without mmio devices gets no -global", function()
      assert.are.equal("-machine microvm -object rng-random,id=r -device virtio-rng-device,rng=r -global virtio-mmio.force-legacy=true",
                       dev({ kind = "rng", id = "r" }, { machine = { type = "microvm" }, global_param = "virtio-mmio.force-legacy=true" }))
      assert.are.equal("-machine microvm -device pvpanic", dev({ kind = "pvpanic" }, { machine = { type = "microvm" } }))
    end)

    it("knob memory backends use -machine memory-backend on microvm", function()
      assert.are.equal("-machine microvm -m 1G -object memory-backend-ram,id=dimm1,size=1G,prealloc=on -machine memory-backend=dimm1",
                       args { machine = { type = "microvm" }, memory = { size = "1G" }, knobs = { mem_prealloc = true } })
    end)
  end)

  describe("fd numbering", function()
    it("gives fds 3, 4, ... in fds order; references by file or index", function()
      local a, b, c = devnull(), devnull(), devnull()
      local cfg = qemu.config {
        fds = { a, b, 9 },
        qmp_sockets = { { fd = b, server = true } },
        devices = { { kind = "net", id = "n", fds = { 3, a }, vhost = true, vhost_fds = { c } },
                    { kind = "vsock", id = "v", context_id = 3, vhost_fd = c } },
        incoming = { migration_type = "fd", fd = 2 },
      }
      assert.are.equal("-qmp unix:fd=4,server=on -netdev tap,id=n,vhost=on,vhostfds=6,fds=5:3 -device driver=virtio-net-pci,"
        .. "netdev=n,disable-modern=false,mq=on,vectors=6 -device vhost-vsock-pci,disable-modern=false,vhostfd=6,id=v,guest-cid=3"
        .. " -S -incoming fd:4", table.concat(cfg:argv(), " ", 2))
      local list = cfg:fds()
      assert.are.equal(4, #list)
      assert.are.equal(a, list[1]); assert.are.equal(b, list[2]); assert.are.equal(9, list[3]); assert.are.equal(c, list[4])
    end)

    it("appends files that are not in fds in argv order, each once", function()
      local a, b = devnull(), devnull()
      local cfg = qemu.config { devices = { { kind = "net", id = "n", fds = { b, a, b } } }, qmp_sockets = { { fd = a } } }
      assert.are.equal("-qmp unix:fd=3 -netdev tap,id=n,fds=4:3:4 -device driver=virtio-net-pci,netdev=n,disable-modern=false,"
        .. "mq=on,vectors=8", table.concat(cfg:argv(), " ", 2))
      local list = cfg:fds()
      assert.are.same({ a, b }, list)
    end)

    it("accepts anything with a fileno method (vmlua.core sockets)", function()
      local sock = { fileno = function() return 7 end }
      local cfg = qemu.config { qmp_sockets = { { fd = sock, server = true, no_wait = true } } }
      assert.are.equal("-qmp unix:fd=3,server=on,wait=off", table.concat(cfg:argv(), " ", 2))
      assert.are.equal(sock, cfg:fds()[1])
    end)

    it("an empty config passes no fds; copies share the files", function()
      assert.are.same({}, qemu.config({}):fds())
      local a = devnull()
      local cfg = qemu.config { fds = { a } }
      local cp = cfg:copy()
      assert.are.equal(a, cp:fds()[1])
      assert.are.equal(a, cp.fields.fds[1])
    end)
  end)

  describe("helpers", function()
    it("shared_memory, virtiofs, serial, qmp_socket build config fragments", function()
      assert.are.same({ type = "memory-backend-memfd", id = "vmlua-ram", size = "512M", share = true, ram = true },
                      qemu.shared_memory { size = "512" })
      assert.are.same({ type = "memory-backend-memfd", id = "m", size = "1G", share = true, ram = true },
                      qemu.shared_memory { size = 1 << 30, id = "m" })
      assert.are.same({ kind = "vhost_user", vhost_user_type = "fs", socket_path = "/v.sock", char_dev_id = "fs-my_share",
                        tag = "my share", queue_size = 256 },
                      qemu.virtiofs { tag = "my share", socket = "/v.sock", queue_size = 256 })
      assert.are.same({ kind = "legacy_serial", file = "/s.log" }, qemu.serial { file = "/s.log" })
      assert.are.same({ kind = "legacy_serial", socket = "/s.sock", id = "con" }, qemu.serial { socket = "/s.sock", id = "con" })
      assert.are.same({ type = "unix", protocol = "qmp", name = "/q.sock", server = true, no_wait = true }, qemu.qmp_socket("/q.sock"))
    end)
  end)

  describe("the builder protocol", function()
    local base = function() return { machine = { type = "q35" }, memory = { size = "256M" } } end

    it("hypervisor, binary, argv, validate, is_config, tostring", function()
      local cfg = qemu.config { path = "/usr/bin/qemu-system-x86_64", name = "vm" }
      assert.are.equal("qemu", cfg.hypervisor)
      assert.are.equal("/usr/bin/qemu-system-x86_64", cfg:binary())
      assert.are.equal("qemu-system-x86_64", qemu.config({}):binary())
      assert.are.same({ "/usr/bin/qemu-system-x86_64", "-name", "vm" }, cfg:argv())
      assert.is_true(cfg:validate())
      assert.is_true(qemu.is_config(cfg))
      assert.is_false(qemu.is_config({}))
      assert.are.equal("qemu.config(vm)", tostring(cfg))
    end)

    it("qemu.config copies its table; validate sees later changes to cfg.fields", function()
      local t = { name = "vm" }
      local cfg = qemu.config(t)
      t.name = "other"
      assert.are.equal("-name vm", table.concat(cfg:argv(), " ", 2))
      cfg.fields.smp = { cpus = 0 }
      local ok, err = cfg:validate()
      assert.is_nil(ok)
      assert.are.equal("smp.cpus: must be >= 1, got 0", err)
    end)

    it("copy is deep: the copy changes alone; params objects are copied too", function()
      local params = setmetatable({ list = { "quiet" } }, { __index = { render = function(self) return table.concat(self.list, " ") end } })
      local cfg = qemu.config { kernel = { path = "/k", params = params }, devices = { { kind = "pvpanic" } } }
      local cp = cfg:copy()
      cp.fields.devices[1].no_shutdown = true
      cp.fields.kernel.params.list[2] = "debug"
      assert.are.equal("-device pvpanic -kernel /k -append quiet", table.concat(cfg:argv(), " ", 2))
      assert.are.equal("-device pvpanic -no-shutdown -kernel /k -append quiet debug", table.concat(cp:argv(), " ", 2))
      assert.are.equal("qemu", cp.hypervisor)
    end)

    it("add_share adds vhost-user-fs and, once, the shared RAM backend sized from memory.size", function()
      local cfg = qemu.config(base())
      assert.is_true(cfg:add_share { tag = "a", socket = "/a.sock" })
      assert.is_true(cfg:add_share { tag = "b", socket = "/b.sock", queue_size = 128 })
      assert.are.equal("-machine q35 -m 256M -chardev socket,id=vmlua-fs0,path=/a.sock"
        .. " -device vhost-user-fs-pci,chardev=vmlua-fs0,tag=a,queue-size=1024,bus=pcie.0"
        .. " -chardev socket,id=vmlua-fs1,path=/b.sock -device vhost-user-fs-pci,chardev=vmlua-fs1,tag=b,queue-size=128,bus=pcie.0"
        .. " -object memory-backend-memfd,id=vmlua-ram,size=256M,share=on -numa node,memdev=vmlua-ram",
        table.concat(cfg:argv(), " ", 2))
    end)

    it("add_share keeps a RAM backend that is already shared", function()
      local t = base()
      t.memory.path = "/dev/shm"
      t.knobs = { file_backed_mem = true, mem_shared = true }
      local cfg = qemu.config(t)
      assert.is_true(cfg:add_share { tag = "a", socket = "/a.sock" })
      assert.are.equal("-machine q35 -m 256M -chardev socket,id=vmlua-fs0,path=/a.sock"
        .. " -device vhost-user-fs-pci,chardev=vmlua-fs0,tag=a,queue-size=1024,bus=pcie.0"
        .. " -object memory-backend-file,id=dimm1,size=256M,mem-path=/dev/shm,share=on -numa node,memdev=dimm1",
        table.concat(cfg:argv(), " ", 2))
    end)

    it("add_share fails (nil, msg) without memory.size, for a taken tag, or next to unshared RAM; the config is unchanged", function()
      local cfg = qemu.config { machine = { type = "q35" } }
      local ok, err = cfg:add_share { tag = "a", socket = "/a.sock" }
      assert.is_nil(ok)
      assert.are.equal("add_share: memory.size is required (virtio-fs needs the guest RAM in a shared memory backend of that size)", err)
      assert.are.equal("-machine q35", table.concat(cfg:argv(), " ", 2))

      cfg = qemu.config(base())
      assert.is_true(cfg:add_share { tag = "a", socket = "/a.sock" })
      ok, err = cfg:add_share { tag = "a", socket = "/b.sock" }
      assert.is_nil(ok)
      assert.are.equal('add_share: devices[1] already shares tag "a"', err)

      local t = base()
      t.knobs = { mem_prealloc = true }
      cfg = qemu.config(t)
      local before = table.concat(cfg:argv(), " ")
      ok, err = cfg:add_share { tag = "a", socket = "/a.sock" }
      assert.is_nil(ok)
      assert.are.equal("add_share: the guest RAM (knobs.mem_prealloc) is not in shared memory that virtiofsd can map"
        .. " (use knobs.mem_shared with file_backed_mem or huge_pages, or leave the RAM backend to add_share)", err)
      assert.are.equal(before, table.concat(cfg:argv(), " "))
    end)

    it("set_serial_file sends the console to a file; keeps -nographic's monitor off stdio", function()
      local cfg = qemu.config { knobs = { no_graphic = true } }
      assert.is_nil(cfg:serial_file())
      assert.is_true(cfg:set_serial_file("/run/vm/console.log"))
      assert.are.equal("/run/vm/console.log", cfg:serial_file())
      assert.are.equal("-monitor none -chardev file,id=serial0,path=/run/vm/console.log -serial chardev:serial0 -nographic",
                       table.concat(cfg:argv(), " ", 2))
      cfg = qemu.config { monitor = "unix:/m.sock,server=on,wait=off", knobs = { no_graphic = true } }
      assert.is_true(cfg:set_serial_file("/c.log"))
      assert.are.equal("-monitor unix:/m.sock,server=on,wait=off -chardev file,id=serial0,path=/c.log -serial chardev:serial0 -nographic",
                       table.concat(cfg:argv(), " ", 2))
      cfg = qemu.config {}
      assert.is_true(cfg:set_serial_file("/c.log"))
      assert.are.equal("-chardev file,id=serial0,path=/c.log -serial chardev:serial0", table.concat(cfg:argv(), " ", 2))
    end)

    it("set_serial_file does not add a second serial port (nil, msg)", function()
      local cfg = qemu.config { devices = { { kind = "pvpanic" }, qemu.serial { socket = "/s.sock" } } }
      local ok, err = cfg:set_serial_file("/c.log")
      assert.is_nil(ok)
      assert.are.equal("set_serial_file: a serial port is already configured (devices[2])", err)
      assert.is_nil(cfg:serial_file())
      cfg = qemu.config { extra_params = { "-serial", "stdio" } }
      ok, err = cfg:set_serial_file("/c.log")
      assert.is_nil(ok)
      assert.are.equal("set_serial_file: a serial port is already configured (extra_params)", err)
    end)

    it("serial_file follows a legacy serial port to its file chardev", function()
      local cfg = qemu.config { devices = {
        { kind = "char", driver = "serial", backend = "file", id = "s0", path = "/s.log" },
        { kind = "legacy_serial", chardev = "s0" } } }
      assert.are.equal("/s.log", cfg:serial_file())
      cfg = qemu.config { devices = { { kind = "legacy_serial", chardev = "elsewhere" } } }
      assert.is_nil(cfg:serial_file())
    end)

    it("set_control_socket adds a QMP server socket; control_socket finds it", function()
      local cfg = qemu.config { qmp_sockets = { { protocol = "hmp", name = "/h.sock", server = true }, { name = "/client.sock" } } }
      assert.is_nil(cfg:control_socket())
      assert.is_true(cfg:set_control_socket("/run/vm/qmp.sock"))
      assert.is_true(cfg:set_control_socket("/run/vm/qmp.sock"))
      assert.are.equal("/run/vm/qmp.sock", cfg:control_socket())
      assert.are.equal("-monitor unix:path=/h.sock,server=on -qmp unix:path=/client.sock -qmp unix:path=/run/vm/qmp.sock,server=on,wait=off",
                       table.concat(cfg:argv(), " ", 2))
      local ok, err = cfg:set_control_socket("/other.sock")
      assert.is_nil(ok)
      assert.are.equal("set_control_socket: a QMP control socket is already configured (qmp_sockets[3]: /run/vm/qmp.sock)", err)
    end)

    it("kernel_files lists the files QEMU opens at start", function()
      local cfg = qemu.config {
        kernel = { path = "/k", initrd = "/i" }, bios = "/b", pflash = { "/f0", "/f1" },
        devices = { { kind = "block", id = "hd0", file = "/d.img" }, { kind = "pvpanic" }, { kind = "loader", file = "/l", id = "l" } },
        objects = { { type = "sev-guest", id = "s", file = "/ovmf", cbitpos = 47, reduced_phys_bits = 1 } },
        fw_cfg = { { name = "n", file = "/blob" }, { name = "m", str = "x" } },
      }
      assert.are.same({
        { field = "kernel.path", path = "/k" }, { field = "kernel.initrd", path = "/i" }, { field = "bios", path = "/b" },
        { field = "pflash[1]", path = "/f0" }, { field = "pflash[2]", path = "/f1" }, { field = "devices[1].file", path = "/d.img" },
        { field = "devices[3].file", path = "/l" }, { field = "objects[1].file", path = "/ovmf" }, { field = "fw_cfg[1].file", path = "/blob" },
      }, cfg:kernel_files())
      assert.are.same({ { field = "kernel.path", path = "/k" }, { field = "kernel.initrd_path", path = "/i" } },
                      qemu.config({ kernel = { path = "/k", initrd_path = "/i" } }):kernel_files())
    end)

    it("socket_entries and socket_paths list every unix socket the argv names", function()
      local cfg = qemu.config {
        qmp_sockets = { { name = "/q.sock" }, { fd = io.stdout }, { protocol = "hmp", name = "/h.sock" } },
        devices = { { kind = "char", backend = "socket", id = "c", path = "/c.sock" }, { kind = "char", backend = "file", id = "f", path = "/f" },
                    qemu.serial { socket = "/s.sock" }, qemu.virtiofs { tag = "t", socket = "/v.sock" } },
        objects = { { type = "tdx-guest", id = "t" }, { type = "tdx-guest", id = "u", qgs_port = 1 } },
      }
      assert.are.same({
        { field = "qmp_sockets[1].name", path = "/q.sock" }, { field = "qmp_sockets[3].name", path = "/h.sock" },
        { field = "devices[1].path", path = "/c.sock" }, { field = "devices[3].socket", path = "/s.sock" },
        { field = "devices[4].socket_path", path = "/v.sock" },
        { field = "objects[1].qgs_socket", path = "/var/run/tdx-qgs/qgs.socket" },
      }, cfg:socket_entries())
      assert.are.same({ "/q.sock", "/h.sock", "/c.sock", "/s.sock", "/v.sock", "/var/run/tdx-qgs/qgs.socket" }, cfg:socket_paths())
    end)
  end)
end)
