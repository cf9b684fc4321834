--- The x86 QEMU configs of the specs, shared by tests/unit/qemu_spec.lua
-- (which asserts each exact argv) and tests/e2e/qemu_accepts_spec.lua (which
-- gives each argv to the real qemu-system-x86_64).
--
-- A case: { name, machine, config = fn(P) -> table, build = fn(cfg, P)
-- (optional: builder methods to apply), expect = argv without the binary,
-- joined with spaces, where $D is P.D and $TAP is P.tap; skip = why the
-- real run leaves it out; needs = { "virtiofsd" | "vhost_user_blk" } }.
--
-- P: D (a directory holding the files below), tap (a tap interface name),
-- listener (an open listening unix socket, passed as an fd), stream (an
-- open connected socket, passed as an fd).
--
-- Files in D for the real run: vmlinuz (a fake bzImage header), initrd,
-- disk.img (1 MiB), nvdimm.img (16 MiB), blob.bin, loader.elf (an ELF
-- with one segment at 3 MiB), flash0.img / flash1.img (64 KiB), share/ (a
-- directory), mem/ (a directory for memory-backend-file).
local qemu = require "vmlua.qemu"

local C = {}

local function boot(P, machine, extra)
  local t = {
    name = "vm",
    machine = machine,
    memory = { size = "256M" },
    smp = { cpus = 1 },
    kernel = { path = P.D .. "/vmlinuz", initrd = P.D .. "/initrd", params = "console=ttyS0" },
    knobs = { no_user_config = true, no_defaults = true },
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local BOOT_Q35 = "-name vm -machine q35,accel=tcg -m 256M"
local BOOT_MVM = "-name vm -machine microvm,accel=tcg -m 256M"
local TAIL = "-no-user-config -nodefaults -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0"
local SMP = "-smp 1"

local q35 = { type = "q35", accel = "tcg" }
local microvm = { type = "microvm", accel = "tcg" }

local function case(t) C[#C + 1] = t end

-- ------------------------------------------------------------ q35 cases

case {
  name = "q35: minimal direct kernel boot", machine = "q35",
  config = function(P) return boot(P, q35) end,
  expect = BOOT_Q35 .. " " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: kernel params as a list and as a params object", machine = "q35",
  config = function(P)
    local params = setmetatable({ list = { "console=ttyS0", "quiet" } },
                                { __index = { render = function(self) return table.concat(self.list, " ") end } })
    local t = boot(P, q35)
    t.kernel = { path = P.D .. "/vmlinuz", initrd_path = P.D .. "/initrd", params = params }
    return t
  end,
  expect = BOOT_Q35 .. " -no-user-config -nodefaults -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 quiet "
    .. SMP,
}

case {
  name = "q35: 9p share (fs)", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "fs", id = "fs0", path = P.D .. "/share", mount_tag = "share", security_model = "mapped-xattr",
        multidev = "remap", disable_modern = true },
    } })
  end,
  expect = BOOT_Q35 .. " -device virtio-9p-pci,disable-modern=true,fsdev=fs0,mount_tag=share"
    .. " -fsdev local,id=fs0,path=$D/share,security_model=mapped-xattr,multidevs=remap " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: virtio-serial controller, virtserialport on a socket, virtconsole on a file", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "serial", id = "vser0", max_ports = 4 },
      { kind = "char", backend = "socket", id = "char0", device_id = "channel0", path = P.D .. "/agent.sock",
        name = "agent.0", bus = "vser0.0" },
      { kind = "char", driver = "virtconsole", backend = "file", id = "char1", device_id = "con0",
        path = P.D .. "/console.log" },
    } })
  end,
  expect = BOOT_Q35 .. " -device virtio-serial-pci,disable-modern=false,id=vser0,max_ports=4"
    .. " -device virtserialport,bus=vser0.0,chardev=char0,id=channel0,name=agent.0"
    .. " -chardev socket,id=char0,path=$D/agent.sock,server=on,wait=off"
    .. " -device virtconsole,chardev=char1,id=con0 -chardev file,id=char1,path=$D/console.log " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: legacy serial on a chardev, and a serial socket", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "char", driver = "serial", backend = "file", id = "ser0", path = P.D .. "/serial.log" },
      { kind = "legacy_serial", chardev = "ser0" },
      qemu.serial { socket = P.D .. "/serial1.sock" },
    } })
  end,
  expect = BOOT_Q35 .. " -chardev file,id=ser0,path=$D/serial.log -serial chardev:ser0"
    .. " -chardev socket,id=serial1,path=$D/serial1.sock,server=on,wait=off -serial chardev:serial1 "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: builder methods (serial file, control socket, share)", machine = "q35",
  needs = { "virtiofsd" },
  config = function(P)
    local t = boot(P, q35)
    t.knobs.no_graphic = true
    return t
  end,
  build = function(cfg, P)
    assert(cfg:set_serial_file(P.D .. "/console.log"))
    assert(cfg:set_control_socket(P.D .. "/qmp.sock"))
    assert(cfg:add_share { tag = "vmlua", socket = P.D .. "/vfs.sock" })
  end,
  expect = "-name vm -machine q35,accel=tcg -qmp unix:path=$D/qmp.sock,server=on,wait=off -monitor none -m 256M"
    .. " -chardev file,id=serial0,path=$D/console.log -serial chardev:serial0"
    .. " -chardev socket,id=vmlua-fs0,path=$D/vfs.sock"
    .. " -device vhost-user-fs-pci,chardev=vmlua-fs0,tag=vmlua,queue-size=1024,bus=pcie.0"
    .. " -object memory-backend-memfd,id=vmlua-ram,size=256M,share=on -numa node,memdev=vmlua-ram"
    .. " -no-user-config -nodefaults -nographic -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 " .. SMP,
}

case {
  name = "q35: tap network by ifname", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "net", id = "net0", ifname = P.tap, script = "no", down_script = "no",
        mac_address = "02:00:00:00:00:01", addr = "5" },
    } })
  end,
  expect = BOOT_Q35 .. " -netdev tap,id=net0,ifname=$TAP,downscript=no,script=no"
    .. " -device driver=virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,bus=pcie.0,addr=5,disable-modern=false "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: multiqueue tap by fds with vhost fds", machine = "q35",
  skip = "needs open tap fds (TUNSETIFF) and /dev/vhost-net, which this host lacks",
  config = function(P)
    return boot(P, q35, { fds = { P.stream }, devices = {
      { kind = "net", id = "net0", fds = { 1, P.listener }, vhost = true, vhost_fds = { P.stream } },
    } })
  end,
  expect = BOOT_Q35 .. " -netdev tap,id=net0,vhost=on,vhostfds=3,fds=3:4"
    .. " -device driver=virtio-net-pci,netdev=net0,bus=pcie.0,disable-modern=false,mq=on,vectors=6 "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: virtio-blk disks", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "block", id = "hd0", file = P.D .. "/disk.img", format = "raw", aio = "threads", read_only = true,
        share_rw = true },
      { kind = "block", id = "hd1", file = P.D .. "/disk.img", format = "raw", wce = true, discard_unmap = true,
        share_rw = true },
    } })
  end,
  expect = BOOT_Q35 .. " -device virtio-blk-pci,disable-modern=false,drive=hd0,config-wce=off,share-rw=on,serial=hd0"
    .. " -drive id=hd0,file=$D/disk.img,aio=threads,format=raw,if=none,readonly=on"
    .. " -device virtio-blk-pci,disable-modern=false,drive=hd1,share-rw=on,discard=on,serial=hd1"
    .. " -drive id=hd1,file=$D/disk.img,format=raw,if=none,discard=unmap " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: pvpanic, loader, rng, balloon", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "pvpanic", no_shutdown = true },
      { kind = "loader", file = P.D .. "/loader.elf", id = "ld0" },
      { kind = "rng", id = "rng0", filename = "/dev/urandom", max_bytes = 1024, period = 1000 },
      { kind = "balloon", id = "balloon0", deflate_on_oom = true, free_page_reporting = true },
    } })
  end,
  expect = BOOT_Q35 .. " -device pvpanic -no-shutdown -device loader,file=$D/loader.elf,id=ld0"
    .. " -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0,max-bytes=1024,period=1000"
    .. " -device virtio-balloon-pci,id=balloon0,deflate-on-oom=on,disable-modern=false,free-page-reporting=on "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: vhost-user blk", machine = "q35", needs = { "vhost_user_blk" },
  config = function(P)
    return boot(P, q35, { objects = { qemu.shared_memory { size = "256M" } }, devices = {
      { kind = "vhost_user", vhost_user_type = "blk", socket_path = P.D .. "/vub.sock", char_dev_id = "vub0" },
    } })
  end,
  expect = BOOT_Q35 .. " -chardev socket,id=vub0,path=$D/vub.sock -device vhost-user-blk-pci,chardev=vub0,bus=pcie.0"
    .. " -object memory-backend-memfd,id=vmlua-ram,size=256M,share=on -numa node,memdev=vmlua-ram "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: vhost-user scsi and net", machine = "q35",
  skip = "needs vhost-user scsi and net backends (e.g. SPDK, DPDK/OVS), which this host lacks",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "vhost_user", vhost_user_type = "scsi", socket_path = P.D .. "/vus.sock", char_dev_id = "vus0",
        type_dev_id = "scsi0" },
      { kind = "vhost_user", vhost_user_type = "net", socket_path = P.D .. "/vun.sock", char_dev_id = "vun0",
        type_dev_id = "net0", address = "02:00:00:00:00:02" },
    } })
  end,
  expect = BOOT_Q35 .. " -chardev socket,id=vus0,path=$D/vus.sock -device vhost-user-scsi-pci,id=scsi0,chardev=vus0,bus=pcie.0"
    .. " -chardev socket,id=vun0,path=$D/vun.sock -netdev type=vhost-user,id=net0,chardev=vun0,vhostforce=on"
    .. " -device virtio-net-pci,netdev=net0,mac=02:00:00:00:00:02,bus=pcie.0 " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: PCIe topology (pxb-pcie, root ports, switch)", machine = "q35",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "pxb_pcie", id = "pxb0", bus_nr = 64 },
      { kind = "pcie_root_port", id = "rp0", chassis = 1, slot = 1 },
      { kind = "pcie_root_port", id = "rp1", chassis = "0x2", slot = "0x0", multifunction = true, addr = "0x3",
        bus_reserve = 2, pref64_reserve = "16G", mem_reserve = "1G", io_reserve = "4k" },
      { kind = "pcie_switch_upstream_port", id = "sup0", bus = "rp0" },
      { kind = "pcie_switch_downstream_port", id = "sdp0", bus = "sup0", chassis = 3, slot = 0 },
      { kind = "pcie_root_port", id = "rp2", bus = "pxb0", chassis = 4, slot = 0, pref32_reserve = "256M" },
    } })
  end,
  expect = BOOT_Q35 .. " -device pxb-pcie,id=pxb0,bus=pcie.0,bus_nr=64"
    .. " -device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,multifunction=off"
    .. " -device pcie-root-port,id=rp1,bus=pcie.0,chassis=0x2,slot=0x0,addr=0x3,multifunction=on,bus-reserve=2,"
    .. "pref64-reserve=16G,mem-reserve=1G,io-reserve=4k"
    .. " -device x3130-upstream,id=sup0,bus=rp0 -device xio3130-downstream,id=sdp0,bus=sup0,chassis=3,slot=0"
    .. " -device pcie-root-port,id=rp2,bus=pxb0,chassis=4,slot=0,multifunction=off,pref32-reserve=256M "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: switch downstream port with reservations", machine = "q35",
  skip = "xio3130-downstream has no *-reserve properties in upstream QEMU (kata patches QEMU for them)",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "pcie_root_port", id = "rp0", chassis = 1, slot = 1 },
      { kind = "pcie_switch_upstream_port", id = "sup0", bus = "rp0" },
      { kind = "pcie_switch_downstream_port", id = "sdp0", bus = "sup0", chassis = 3, slot = 0, bus_reserve = 1,
        pref64_reserve = "1G", mem_reserve = "64M", io_reserve = "4k" },
    } })
  end,
  expect = BOOT_Q35 .. " -device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,multifunction=off"
    .. " -device x3130-upstream,id=sup0,bus=rp0 -device xio3130-downstream,id=sdp0,bus=sup0,chassis=3,slot=0,"
    .. "bus-reserve=1,pref64-reserve=1G,mem-reserve=64M,io-reserve=4k " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: VFIO passthrough", machine = "q35",
  skip = "needs a host PCI device bound to vfio-pci (/dev/vfio), which this host lacks",
  config = function(P)
    return boot(P, q35, { devices = {
      { kind = "pcie_root_port", id = "rp0", chassis = 1, slot = 1 },
      { kind = "vfio", bdf = "0000:02:00.0", id = "gpu0", bus = "rp0", vendor_id = "0x10de", device_id = "0x15f8" },
    } })
  end,
  expect = BOOT_Q35 .. " -device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,multifunction=off"
    .. " -device vfio-pci,host=0000:02:00.0,id=gpu0,x-pci-vendor-id=0x10de,x-pci-device-id=0x15f8,bus=rp0 "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: SCSI controller on an iothread, bridges, IOMMU", machine = "q35",
  config = function(P)
    return boot(P, q35, { iothreads = { "io0" }, devices = {
      { kind = "iommu", intremap = true, caching_mode = true },
      { kind = "scsi", id = "scsi0", iothread = "io0", addr = "0x6" },
      { kind = "bridge", id = "br0", bus = "pcie.0", chassis = 5, shpc = true, addr = 7 },
      { kind = "bridge", type = "pcie", id = "br1", bus = "pcie.0" },
    } })
  end,
  expect = BOOT_Q35 .. " -device intel-iommu,intremap=on,device-iotlb=off,caching-mode=on"
    .. " -device virtio-scsi-pci,id=scsi0,addr=0x6,disable-modern=false,iothread=io0"
    .. " -device pci-bridge,bus=pcie.0,id=br0,chassis_nr=5,shpc=on,addr=7 -device pcie-pci-bridge,bus=pcie.0,id=br1 "
    .. TAIL .. " -object iothread,id=io0 " .. SMP,
}

case {
  name = "q35: vsock", machine = "q35",
  skip = "needs /dev/vhost-vsock (the vhost_vsock module), which this host lacks",
  config = function(P)
    return boot(P, q35, { devices = { { kind = "vsock", id = "vsock0", context_id = 3 } } })
  end,
  expect = BOOT_Q35 .. " -device vhost-vsock-pci,disable-modern=false,id=vsock0,guest-cid=3,bus=pcie.0 "
    .. TAIL .. " " .. SMP,
}

case {
  name = "q35: file-backed shared preallocated RAM, mlock, stopped, iommu_platform", machine = "q35",
  config = function(P)
    local t = boot(P, q35, { devices = { { kind = "rng", id = "rng0" } } })
    t.memory.path = P.D .. "/mem"
    local k = t.knobs
    k.file_backed_mem, k.mem_shared, k.mem_prealloc, k.mlock, k.stopped, k.no_reboot, k.iommu_platform =
      true, true, true, true, true, true, true
    return t
  end,
  expect = BOOT_Q35 .. " -object rng-random,id=rng0 -device virtio-rng-pci,rng=rng0,disable-legacy=on,iommu_platform=on"
    .. " -no-user-config -nodefaults --no-reboot"
    .. " -object memory-backend-file,id=dimm1,size=256M,mem-path=$D/mem,share=on,prealloc=on -numa node,memdev=dimm1"
    .. " -overcommit mem-lock=on -S -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 " .. SMP,
}

case {
  name = "q35: hugepage-backed RAM", machine = "q35",
  skip = "needs hugetlbfs mounted at /dev/hugepages with free huge pages, which this host lacks",
  config = function(P)
    local t = boot(P, q35)
    t.knobs.huge_pages, t.knobs.mem_prealloc = true, true
    return t
  end,
  expect = BOOT_Q35 .. " -no-user-config -nodefaults"
    .. " -object memory-backend-file,id=dimm1,size=256M,mem-path=/dev/hugepages,prealloc=on -numa node,memdev=dimm1"
    .. " -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 " .. SMP,
}

case {
  name = "q35: two NUMA nodes with distances", machine = "q35",
  config = function(P)
    local t = boot(P, q35)
    t.smp = { cpus = 2, sockets = 2, cores = 1, threads = 1, max_cpus = 2 }
    t.numa_nodes = {
      { node_id = 0, cpus = "0", mem_size = "128M" },
      { node_id = 1, cpus = "1", mem_size = "128M", mem_backend_type = "memory-backend-memfd" },
    }
    t.numa_dists = { { src = 0, dst = 1, val = 20 }, { src = 1, dst = 0, val = 20 } }
    t.knobs.mem_shared = true
    return t
  end,
  expect = BOOT_Q35 .. " -no-user-config -nodefaults"
    .. " -object memory-backend-ram,id=numa-mem0,size=128M,share=on -numa node,nodeid=0,memdev=numa-mem0,cpus=0"
    .. " -object memory-backend-memfd,id=numa-mem1,size=128M,share=on -numa node,nodeid=1,memdev=numa-mem1,cpus=1"
    .. " -numa dist,src=0,dst=1,val=20 -numa dist,src=1,dst=0,val=20"
    .. " -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 -smp 2,cores=1,threads=1,sockets=2,maxcpus=2",
}

case {
  name = "q35: QMP, HMP and pretty QMP sockets; QMP on a passed fd", machine = "q35",
  config = function(P)
    return boot(P, q35, { qmp_sockets = {
      qemu.qmp_socket(P.D .. "/qmp.sock"),
      { protocol = "hmp", name = P.D .. "/hmp.sock", server = true, no_wait = true },
      { type = "unix", protocol = "qmp-pretty", name = P.D .. "/pretty.sock", server = true, no_wait = true },
      { fd = P.listener, server = true, no_wait = true },
    } })
  end,
  expect = "-name vm -machine q35,accel=tcg -qmp unix:path=$D/qmp.sock,server=on,wait=off"
    .. " -monitor unix:path=$D/hmp.sock,server=on,wait=off -qmp-pretty unix:path=$D/pretty.sock,server=on,wait=off"
    .. " -qmp unix:fd=3,server=on,wait=off -m 256M " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: identity, clock, firmware and misc options", machine = "q35",
  config = function(P)
    local t = boot(P, q35, {
      uuid = "4cb19522-1e18-439a-883a-f9b2a3a95f5e", cpu_model = "qemu64", debug = true,
      rtc = { base = "utc", clock = "host", drift_fix = "slew" },
      global_param = { "kvm-pit.lost_tick_policy=discard", "ICH9-LPC.disable_s3=1" },
      pflash = { P.D .. "/flash0.img", P.D .. "/flash1.img" },
      vga = "none", display = "none", pid_file = P.D .. "/qemu.pid", log_file = P.D .. "/qemu.log",
      fw_cfg = { { name = "opt/org.vmlua/blob", file = P.D .. "/blob.bin" }, { name = "opt/org.vmlua/str", str = "hello" } },
      seccomp_sandbox = "on,obsolete=deny",
      extra_params = { "-no-hpet" },
    })
    t.smp = { cpus = 2, max_cpus = 4 }
    return t
  end,
  expect = "-name vm,debug-threads=on -uuid 4cb19522-1e18-439a-883a-f9b2a3a95f5e -machine q35,accel=tcg -cpu qemu64"
    .. " -m 256M -rtc base=utc,driftfix=slew,clock=host -global kvm-pit.lost_tick_policy=discard"
    .. " -global ICH9-LPC.disable_s3=1 -pflash $D/flash0.img -pflash $D/flash1.img -vga none -display none"
    .. " -no-user-config -nodefaults -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0"
    .. " -pidfile $D/qemu.pid -D $D/qemu.log -fw_cfg name=opt/org.vmlua/blob,file=$D/blob.bin"
    .. " -fw_cfg name=opt/org.vmlua/str,string=hello -sandbox on,obsolete=deny -smp 2,maxcpus=4 -no-hpet",
}

case {
  name = "q35: incoming migration, deferred", machine = "q35",
  config = function(P) return boot(P, q35, { incoming = { migration_type = "defer" } }) end,
  expect = BOOT_Q35 .. " " .. TAIL .. " -S -incoming defer " .. SMP,
}

case {
  name = "q35: incoming migration on a passed fd", machine = "q35",
  config = function(P)
    local t = boot(P, q35, { incoming = { migration_type = "fd", fd = P.stream } })
    t.knobs.stopped = true
    return t
  end,
  expect = BOOT_Q35 .. " -no-user-config -nodefaults -S -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0"
    .. " -incoming fd:3 " .. SMP,
}

case {
  name = "q35: incoming migration from a command", machine = "q35",
  skip = "QEMU runs the command through /bin/sh and reads a migration stream from it: a command that waits"
    .. " outlives QEMU, one that ends makes the migration (and QEMU) fail",
  config = function(P) return boot(P, q35, { incoming = { migration_type = "exec", exec = "cat " .. P.D .. "/state" } }) end,
  expect = BOOT_Q35 .. " " .. TAIL .. " -S -incoming exec:cat $D/state " .. SMP,
}

case {
  name = "q35: NVDIMM on a file, seed-style generic device and object", machine = "q35",
  config = function(P)
    local t = boot(P, { type = "q35", accel = "tcg", options = "nvdimm=on" }, {
      objects = {
        { type = "memory-backend-file", id = "nvmem0", mem_path = P.D .. "/nvdimm.img", size = "16M", driver = "nvdimm",
          device_id = "nv0", read_only = true },
        { type = "memory-backend-ram", id = "hot0", size = 134217728 },
        { type = "secret", id = "sec0", options = { data = "s3cr3t" } },
      },
      devices = { { type = "pc-dimm", id = "dimm0", memdev = "hot0" } },
    })
    t.memory = { size = 268435456, slots = 4, max_mem = "1G" }
    return t
  end,
  expect = "-name vm -machine q35,accel=tcg,nvdimm=on -m 256M,slots=4,maxmem=1G -device pc-dimm,id=dimm0,memdev=hot0"
    .. " -device nvdimm,id=nv0,memdev=nvmem0,unarmed=on"
    .. " -object memory-backend-file,id=nvmem0,mem-path=$D/nvdimm.img,size=16M,readonly=on"
    .. " -object memory-backend-ram,id=hot0,size=134217728 -object secret,id=sec0,data=s3cr3t " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: SGX EPC section", machine = "q35",
  skip = "needs SGX (/dev/sgx_vepc) and KVM, which this host lacks",
  config = function(P)
    return boot(P, q35, { objects = { { type = "memory-backend-epc", id = "epc0", size = "32M", prealloc = true } } })
  end,
  expect = BOOT_Q35 .. " -object memory-backend-epc,id=epc0,size=32M,prealloc=on " .. TAIL .. " " .. SMP,
}

case {
  name = "q35: confidential guests (TDX, SEV, SEV-SNP)", machine = "q35",
  skip = "needs TDX/SEV hardware and KVM; QEMU 7.2 has no tdx-guest or sev-snp-guest object",
  config = function(P)
    return boot(P, { type = "q35", accel = "kvm" }, { objects = {
      { type = "tdx-guest", id = "tdx0", file = P.D .. "/OVMF.fd", qgs_port = 4050 },
    } })
  end,
  expect = "-name vm -machine q35,accel=kvm -m 256M"
    .. ' -object {"qom-type":"tdx-guest","id":"tdx0","quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}} '
    .. TAIL .. " -bios $D/OVMF.fd " .. SMP,
}

-- --------------------------------------------------------- microvm cases

case {
  name = "microvm: minimal direct kernel boot", machine = "microvm",
  config = function(P)
    return boot(P, { type = "microvm", accel = "tcg", options = "pit=off,pic=off,isa-serial=on" })
  end,
  expect = "-name vm -machine microvm,accel=tcg,pit=off,pic=off,isa-serial=on -m 256M " .. TAIL .. " " .. SMP,
}

case {
  name = "microvm: virtio-mmio devices", machine = "microvm",
  config = function(P)
    return boot(P, microvm, { devices = {
      { kind = "fs", id = "fs0", path = P.D .. "/share", mount_tag = "share" },
      { kind = "serial", id = "vser0" },
      { kind = "char", backend = "socket", id = "char0", device_id = "port0", path = P.D .. "/agent.sock", name = "agent.0" },
      { kind = "block", id = "hd0", file = P.D .. "/disk.img", format = "raw" },
      { kind = "rng", id = "rng0" },
      { kind = "balloon", id = "balloon0" },
      { kind = "scsi", id = "scsi0" },
      { kind = "net", id = "net0", ifname = P.tap, script = "no", down_script = "no" },
      qemu.serial { file = P.D .. "/serial.log" },
    } })
  end,
  expect = BOOT_MVM .. " -device virtio-9p-device,fsdev=fs0,mount_tag=share -fsdev local,id=fs0,path=$D/share,security_model=none"
    .. " -device virtio-serial-device,id=vser0 -device virtserialport,chardev=char0,id=port0,name=agent.0"
    .. " -chardev socket,id=char0,path=$D/agent.sock,server=on,wait=off"
    .. " -device virtio-blk-device,drive=hd0,config-wce=off,serial=hd0 -drive id=hd0,file=$D/disk.img,format=raw,if=none"
    .. " -object rng-random,id=rng0 -device virtio-rng-device,rng=rng0"
    .. " -device virtio-balloon-device,id=balloon0,deflate-on-oom=off,free-page-reporting=off"
    .. " -device virtio-scsi-device,id=scsi0 -netdev tap,id=net0,ifname=$TAP,downscript=no,script=no"
    .. " -device driver=virtio-net-device,netdev=net0 -chardev file,id=serial0,path=$D/serial.log -serial chardev:serial0"
    .. " -global virtio-mmio.force-legacy=false " .. TAIL .. " " .. SMP,
}

case {
  name = "microvm: virtio-fs share with the shared RAM backend", machine = "microvm",
  needs = { "virtiofsd" },
  config = function(P) return boot(P, microvm) end,
  build = function(cfg, P)
    assert(cfg:add_share { tag = "vmlua", socket = P.D .. "/vfs.sock", queue_size = 512 })
  end,
  expect = BOOT_MVM .. " -chardev socket,id=vmlua-fs0,path=$D/vfs.sock"
    .. " -device vhost-user-fs-device,chardev=vmlua-fs0,tag=vmlua,queue-size=512"
    .. " -object memory-backend-memfd,id=vmlua-ram,size=256M,share=on -machine memory-backend=vmlua-ram"
    .. " -global virtio-mmio.force-legacy=false " .. TAIL .. " " .. SMP,
}

case {
  name = "microvm: memory knobs and iommu_platform on mmio", machine = "microvm",
  config = function(P)
    local t = boot(P, microvm, { devices = { { kind = "rng", id = "rng0" } } })
    t.knobs.mem_shared, t.knobs.iommu_platform = true, true
    return t
  end,
  expect = BOOT_MVM .. " -object rng-random,id=rng0 -device virtio-rng-device,rng=rng0,iommu_platform=on"
    .. " -global virtio-mmio.force-legacy=false -no-user-config -nodefaults -object memory-backend-ram,id=dimm1,size=256M,share=on"
    .. " -machine memory-backend=dimm1 -kernel $D/vmlinuz -initrd $D/initrd -append console=ttyS0 " .. SMP,
}

case {
  name = "microvm: vsock over mmio", machine = "microvm",
  skip = "needs /dev/vhost-vsock (the vhost_vsock module), which this host lacks",
  config = function(P)
    return boot(P, microvm, { devices = { { kind = "vsock", id = "vsock0", context_id = 3, vhost_fd = P.stream } } })
  end,
  expect = BOOT_MVM .. " -device vhost-vsock-device,vhostfd=3,id=vsock0,guest-cid=3 -global virtio-mmio.force-legacy=false "
    .. TAIL .. " " .. SMP,
}

--- The expected string with the placeholders of P filled in.
function C.expand(s, P)
  return (s:gsub("%$(%u+)", function(k)
    if k == "D" then return P.D end
    if k == "TAP" then return P.tap end
  end))
end

--- The config of a case, with its builder methods applied.
function C.build(c, P)
  local cfg = qemu.config(c.config(P))
  if c.build then c.build(cfg, P) end
  return cfg
end

return C
