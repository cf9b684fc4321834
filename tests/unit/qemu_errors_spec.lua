-- vmlua.qemu: every kind of bad input, with the exact message. qemu.config{}
-- raises at the caller's line; cfg:validate() returns nil and the same
-- message without the position.
local qemu = require "vmlua.qemu"

local THIS = debug.getinfo(1, "S").short_src

local function config_error(t)
  local ok, err = pcall(qemu.config, t)
  assert.is_false(ok, "the config was accepted")
  return err
end

local function vsock(extra)
  local d = { kind = "vsock", id = "v", context_id = 3 }
  for k, v in pairs(extra or {}) do d[k] = v end
  return { devices = { d } }
end

local closed_file = assert(io.open("/dev/null"))
closed_file:close()

-- { what, config, message }
local groups = {
  ["wrong types"] = {
    { "a config that is not a table", "q35", 'qemu.config: expected a table, got "q35"' },
    { "a string field", { name = 5 }, "name: expected a string, got 5" },
    { "a section", { machine = "q35" }, 'machine: expected a table, got "q35"' },
    { "a list", { devices = "rng" }, 'devices: expected a list, got "rng"' },
    { "a list with holes", { pflash = { "/a", nil, "/c" } }, "pflash: expected a list, got table" },
    { "a boolean", { knobs = { no_graphic = "yes" } }, 'knobs.no_graphic: expected true or false, got "yes"' },
    { "an integer", { smp = { cpus = 1.5 } }, "smp.cpus: expected an integer, got 1.5" },
    { "a size", { memory = { size = "1.5G" } },
      'memory.size: expected a size such as "256M", "1G" or a number of bytes, got "1.5G"' },
    { "a device", { devices = { "rng" } }, 'devices[1]: expected a device table with a kind, got "rng"' },
    { "an object", { objects = { 3 } }, "objects[1]: expected an object table with a type, got 3" },
    { "kernel params", { kernel = { path = "/k", params = 5 } },
      "kernel.params: expected a string, a list of strings or a params object (with :render()), got 5" },
    { "a kernel params list entry", { kernel = { path = "/k", params = { "a", 3 } } }, "kernel.params[2]: expected a string, got 3" },
    { "a params object whose render is not a method", { kernel = { path = "/k", params = { render = "x" } } },
      'kernel.params: render must be a method, got "x"' },
    { "a QMP socket flag", { qmp_sockets = { { name = "/q", server = 1 } } }, "qmp_sockets[1].server: expected true or false, got 1" },
    { "an iothread", { iothreads = { 5 } }, "iothreads[1]: expected an iothread id or a table { id = ... }, got 5" },
    { "global_param", { global_param = 5 }, "global_param: expected a string or a list of strings, got 5" },
    { "extra_params", { extra_params = { "-S", 1 } }, "extra_params[2]: expected a string, got 1" },
    { "generic device options", { devices = { { type = "x", options = 5 } } },
      'devices[1].options: expected an option string "k=v,..." or a table { k = v }, got 5' },
    { "a root port chassis", { devices = { { kind = "pcie_root_port", id = "rp", chassis = true } } },
      'devices[1].chassis: expected an integer or a string such as "0x1", got true' },
    { "a net slot", { devices = { { kind = "net", id = "n", ifname = "t", addr = "0x5" } } },
      'devices[1].addr: expected a slot number (an integer or a decimal string; emitted in hex), got "0x5"' },
  },
  ["unknown keys"] = {
    { "a top-level field, with a suggestion", { memroy = {} }, "memroy: unknown field (did you mean 'memory'?)" },
    { "a section field, with a suggestion", { machine = { accell = "kvm" } }, "machine.accell: unknown field (did you mean 'accel'?)" },
    { "a knob, with a suggestion", { knobs = { nographic = true } }, "knobs.nographic: unknown field (did you mean 'no_graphic'?)" },
    { "a device field, with a suggestion", vsock { contextid = 4 }, "devices[1].contextid: unknown field (did you mean 'context_id'?)" },
    { "a top-level field, no suggestion", { frobnicate = 1 }, "frobnicate: unknown field" },
    { "a device field, no suggestion", vsock { colour = "red" }, "devices[1].colour: unknown field" },
    { "a field of another kind", { devices = { { kind = "rng", id = "r", ifname = "t" } } }, "devices[1].ifname: unknown field" },
    { "a device kind, with a suggestion", { devices = { { kind = "vsok" } } }, "devices[1].kind: unknown kind \"vsok\" (did you mean 'vsock'?)" },
    { "a device kind, no suggestion", { devices = { { kind = "frobnicator" } } },
      'devices[1].kind: unknown kind "frobnicator" (one of ' .. table.concat(qemu.device_kinds, ", ") .. ")" },
    { "an object type, with a suggestion", { objects = { { type = "memory-backend-memdf", id = "m", size = "1G", share = true } } },
      "objects[1].type: unknown object type \"memory-backend-memdf\" (did you mean 'memory-backend-memfd'?)" },
    { "a field of a generic object", { objects = { { type = "secret", id = "s", data = "x" } } }, "objects[1].data: unknown field" },
    { "list entries in a section", { machine = { "q35" } },
      "machine[1]: unexpected list entry (this table takes named fields: accel, options, type)" },
    { "a non-string key", { knobs = { [true] = 1 } }, "knobs: unexpected key true" },
  },
  ["missing required fields"] = {
    { "a device kind", { devices = { { id = "x" } } }, "devices[1].kind: missing (required): one of " .. table.concat(qemu.device_kinds, ", ") },
    { "kernel.path", { kernel = { initrd = "/i" } }, "kernel.path: missing (required)" },
    { "memory.size", { memory = { slots = 2 } }, "memory.size: missing (required)" },
    { "smp.cpus", { smp = { cores = 2 } }, "smp.cpus: missing (required)" },
    { "incoming.migration_type", { incoming = { exec = "x" } }, "incoming.migration_type: missing (required)" },
    { "incoming.fd", { incoming = { migration_type = "fd" } }, 'incoming.fd: missing (required with migration_type = "fd")' },
    { "incoming.exec", { incoming = { migration_type = "exec" } }, 'incoming.exec: missing (required with migration_type = "exec")' },
    { "fw_cfg name", { fw_cfg = { { file = "/f" } } }, "fw_cfg[1].name: missing (required)" },
    { "fw_cfg content", { fw_cfg = { { name = "n" } } }, "fw_cfg[1]: needs one of file, str" },
    { "a QMP socket address", { qmp_sockets = { { server = true } } }, "qmp_sockets[1]: needs one of name, fd" },
    { "a NUMA node size", { numa_nodes = { { node_id = 0 } } }, "numa_nodes[1].mem_size: missing (required)" },
    { "an object id", { objects = { { type = "iothread" } } }, "objects[1].id: missing (required)" },
    { "an object type", { objects = { { id = "x" } } }, "objects[1].type: missing (required)" },
    { "a numa dist value", { numa_dists = { { src = 0, dst = 1 } } }, "numa_dists[1].val: missing (required)" },
  },
  ["out-of-range values"] = {
    { "a guest CID below 3", vsock { context_id = 2 }, "devices[1].context_id: must be >= 3, got 2" },
    { "a guest CID above 2^32-1", vsock { context_id = 1 << 32 }, "devices[1].context_id: must be <= 4294967295, got 4294967296" },
    { "zero CPUs", { smp = { cpus = 0 } }, "smp.cpus: must be >= 1, got 0" },
    { "max_cpus below cpus", { smp = { cpus = 2, max_cpus = 1 } }, "smp.max_cpus: must be >= cpus (2), got 1" },
    { "too many memory slots", { memory = { size = "1G", slots = 256 } }, "memory.slots: must be <= 255, got 256" },
    { "a memory size that is not whole MiB", { memory = { size = 1000 } },
      "memory.size: an integer size is bytes and must be a multiple of 1 MiB (1048576), got 1000" },
    { "a negative size", { objects = { { type = "memory-backend-ram", id = "m", size = -1 } } }, "objects[1].size: must be >= 0, got -1" },
    { "a NUMA distance below 10", { numa_dists = { { src = 0, dst = 1, val = 9 } } }, "numa_dists[1].val: must be >= 10, got 9" },
    { "a pxb bus number 0", { devices = { { kind = "pxb_pcie", id = "p", bus_nr = 0 } } }, "devices[1].bus_nr: must be >= 1, got 0" },
    { "a bridge chassis 0", { devices = { { kind = "bridge", id = "b", bus = "pcie.0", chassis = 0 } } }, "devices[1].chassis: must be >= 1, got 0" },
    { "a virtio-fs queue above 1024",
      { devices = { { kind = "vhost_user", vhost_user_type = "fs", socket_path = "/s", char_dev_id = "c", tag = "t", queue_size = 2048 } } },
      "devices[1].queue_size: must be <= 1024, got 2048" },
    { "a virtio-fs queue that is not a power of 2",
      { devices = { { kind = "vhost_user", vhost_user_type = "fs", socket_path = "/s", char_dev_id = "c", tag = "t", queue_size = 100 } } },
      "devices[1].queue_size: must be a power of 2, got 100" },
    { "an enum value, with a suggestion", { rtc = { clock = "hostt" } }, "rtc.clock: must be one of host, rt, vm; got \"hostt\" (did you mean 'host'?)" },
    { "an enum value, no suggestion", { rtc = { drift_fix = "fast" } }, 'rtc.drift_fix: must be one of slew, none; got "fast"' },
    { "a transport", vsock { transport = "ccw" }, 'devices[1].transport: must be one of pci, mmio; got "ccw"' },
    { "a UUID", { uuid = "not-a-uuid" }, 'uuid: must be a UUID such as "4cb19522-1e18-439a-883a-f9b2a3a95f5e", got "not-a-uuid"' },
    { "a MAC address", { devices = { { kind = "net", id = "n", ifname = "t", mac_address = "02:00:00:00:00" } } },
      'devices[1].mac_address: must be a MAC address such as "02:00:00:00:00:01", got "02:00:00:00:00"' },
    { "an id", vsock { id = "1vsock" }, "devices[1].id: must be a QEMU id (a letter, then letters, digits, '-', '.' or '_'), got \"1vsock\"" },
    { "a tag with a comma", { devices = { { kind = "fs", id = "f", path = "/p", mount_tag = "a,b" } } },
      "devices[1].mount_tag: must not contain ',' (it would split the option), got \"a,b\"" },
    { "an empty path", { bios = "" }, "bios: must not be empty" },
  },
}

-- Each govmm Valid() rule, and vmlua's own cross-field rules.
local invalid_devices = {
  { "fs without id", { kind = "fs", path = "/p", mount_tag = "t" }, "devices[1].id: missing (required)" },
  { "fs without path", { kind = "fs", id = "f", mount_tag = "t" }, "devices[1].path: missing (required)" },
  { "fs without mount_tag", { kind = "fs", id = "f", path = "/p" }, "devices[1].mount_tag: missing (required)" },
  { "char without id", { kind = "char", backend = "file", path = "/p" }, "devices[1].id: missing (required)" },
  { "char without path", { kind = "char", backend = "file", id = "c" }, "devices[1].path: missing (required for this backend)" },
  { "char with a path on a pty", { kind = "char", backend = "pty", id = "c", path = "/p" },
    "devices[1].path: only used with a backend that has a path" },
  { "a legacy-serial chardev with a device id", { kind = "char", driver = "serial", backend = "file", id = "c", path = "/p", device_id = "d" },
    "devices[1].device_id: only used with a -device driver" },
  { "net without id", { kind = "net", ifname = "t" }, "devices[1].id: missing (required)" },
  { "net without ifname or fds", { kind = "net", id = "n" }, "devices[1].ifname: missing (required unless fds are given)" },
  { "net of another type", { kind = "net", id = "n", ifname = "t", type = "ipvtap" }, 'devices[1].type: must be one of tap, macvtap; got "ipvtap"' },
  { "macvtap without fds", { kind = "net", id = "n", ifname = "t", type = "macvtap" },
    "devices[1].fds: missing (required: a macvtap device is connected by fds)" },
  { "vhost_fds without vhost", { kind = "net", id = "n", fds = { io.stdout }, vhost_fds = { io.stdout } },
    "devices[1].vhost_fds: only used with vhost = true" },
  { "legacy_serial without a chardev", { kind = "legacy_serial" }, "devices[1]: needs one of chardev, file, socket" },
  { "legacy_serial with two sources", { kind = "legacy_serial", chardev = "c", file = "/f" }, "devices[1].file: cannot be combined with chardev" },
  { "serial without id", { kind = "serial" }, "devices[1].id: missing (required)" },
  { "block without id", { kind = "block", file = "/f" }, "devices[1].id: missing (required)" },
  { "block without file", { kind = "block", id = "b" }, "devices[1].file: missing (required)" },
  { "vhost_user without socket_path", { kind = "vhost_user", vhost_user_type = "blk", char_dev_id = "c" }, "devices[1].socket_path: missing (required)" },
  { "vhost_user without char_dev_id", { kind = "vhost_user", vhost_user_type = "blk", socket_path = "/s" }, "devices[1].char_dev_id: missing (required)" },
  { "vhost_user net without type_dev_id", { kind = "vhost_user", vhost_user_type = "net", socket_path = "/s", char_dev_id = "c", address = "02:00:00:00:00:01" },
    "devices[1].type_dev_id: missing (required for vhost_user_type net and scsi)" },
  { "vhost_user net without address", { kind = "vhost_user", vhost_user_type = "net", socket_path = "/s", char_dev_id = "c", type_dev_id = "n" },
    "devices[1].address: missing (required for vhost_user_type net)" },
  { "vhost_user scsi without type_dev_id", { kind = "vhost_user", vhost_user_type = "scsi", socket_path = "/s", char_dev_id = "c" },
    "devices[1].type_dev_id: missing (required for vhost_user_type net and scsi)" },
  { "vhost_user fs without tag", { kind = "vhost_user", vhost_user_type = "fs", socket_path = "/s", char_dev_id = "c" },
    "devices[1].tag: missing (required for vhost_user_type fs)" },
  { "vhost_user blk with a tag", { kind = "vhost_user", vhost_user_type = "blk", socket_path = "/s", char_dev_id = "c", tag = "t" },
    "devices[1].tag: only used with vhost_user_type fs" },
  { "pcie_root_port without id", { kind = "pcie_root_port" }, "devices[1].id: missing (required)" },
  { "pcie_root_port with pref32 and pref64", { kind = "pcie_root_port", id = "rp", pref32_reserve = "1M", pref64_reserve = "1G" },
    "devices[1].pref32_reserve: cannot be combined with pref64_reserve" },
  { "upstream port without bus", { kind = "pcie_switch_upstream_port", id = "u" }, "devices[1].bus: missing (required)" },
  { "downstream port without chassis", { kind = "pcie_switch_downstream_port", id = "d", bus = "u", slot = 0 }, "devices[1].chassis: missing (required)" },
  { "downstream port without slot", { kind = "pcie_switch_downstream_port", id = "d", bus = "u", chassis = 1 }, "devices[1].slot: missing (required)" },
  { "vfio without bdf or sysfs_dev", { kind = "vfio", id = "v" }, "devices[1]: needs one of bdf, sysfs_dev" },
  { "vfio with an iommufd cdev but no id", { kind = "vfio", bdf = "01:00.0", devfs_dev = "/dev/vfio/devices/vfio0" },
    "devices[1].id: missing (required with devfs_dev (it names the iommufd object))" },
  { "vfio with a devfs_dev outside /dev/vfio/devices", { kind = "vfio", bdf = "01:00.0", id = "v", devfs_dev = "/dev/vfio/7" },
    'devices[1].devfs_dev: must be a /dev/vfio/devices/ path (iommufd), got "/dev/vfio/7"' },
  { "scsi without id", { kind = "scsi" }, "devices[1].id: missing (required)" },
  { "bridge without bus", { kind = "bridge", id = "b", chassis = 1 }, "devices[1].bus: missing (required)" },
  { "bridge without id", { kind = "bridge", bus = "pcie.0", chassis = 1 }, "devices[1].id: missing (required)" },
  { "bridge of another type", { kind = "bridge", id = "b", bus = "pcie.0", type = "pxb" }, 'devices[1].type: must be one of pci, pcie; got "pxb"' },
  { "pci bridge without chassis", { kind = "bridge", id = "b", bus = "pcie.0" },
    "devices[1].chassis: missing (required for a pci bridge: QEMU wants a unique chassis number > 0)" },
  { "pcie bridge with shpc", { kind = "bridge", type = "pcie", id = "b", bus = "pcie.0", shpc = true }, 'devices[1].shpc: only used with type = "pci"' },
  { "vsock without id", { kind = "vsock", context_id = 3 }, "devices[1].id: missing (required)" },
  { "rng without id", { kind = "rng" }, "devices[1].id: missing (required)" },
  { "balloon without id", { kind = "balloon" }, "devices[1].id: missing (required)" },
  { "loader without file", { kind = "loader", id = "l" }, "devices[1].file: missing (required)" },
  { "loader without id", { kind = "loader", file = "/f" }, "devices[1].id: missing (required)" },
  { "a generic device without type", { kind = "device", id = "d" }, "devices[1].type: missing (required)" },
  { "a generic device with mount_tag but no fsdev", { type = "virtio-9p-pci", mount_tag = "t" }, "devices[1].mount_tag: only used together with fsdev" },
}

local invalid_objects = {
  { "memory-backend-file without mem_path", { type = "memory-backend-file", id = "m", size = 1 }, "objects[1].mem_path: missing (required)" },
  { "memory-backend-file without size", { type = "memory-backend-file", id = "m", mem_path = "/m" }, "objects[1].size: missing (required)" },
  { "memory-backend-file with a driver but no device_id", { type = "memory-backend-file", id = "m", mem_path = "/m", size = 1, driver = "nvdimm" },
    "objects[1].device_id: missing (required with driver)" },
  { "memory-backend-epc without size", { type = "memory-backend-epc", id = "e" }, "objects[1].size: missing (required)" },
  { "tdx-guest with both QGS addresses", { type = "tdx-guest", id = "t", qgs_port = 1, qgs_socket = "/s" },
    "objects[1].qgs_socket: cannot be combined with qgs_port" },
  { "tdx-guest with a digest that is not hex", { type = "tdx-guest", id = "t", initdata_digest = "xyz" },
    'objects[1].initdata_digest: must be a hex string, got "xyz"' },
  { "sev-guest without file", { type = "sev-guest", id = "s", cbitpos = 47, reduced_phys_bits = 1 }, "objects[1].file: missing (required)" },
  { "sev-guest without cbitpos", { type = "sev-guest", id = "s", file = "/f", reduced_phys_bits = 1 }, "objects[1].cbitpos: missing (required)" },
  { "sev-snp-guest with reduced_phys_bits 0", { type = "sev-snp-guest", id = "s", file = "/f", cbitpos = 51, reduced_phys_bits = 0 },
    "objects[1].reduced_phys_bits: must be >= 1, got 0" },
}

-- Rules that need the whole config.
local cross = {
  { "romfile on an mmio device", { machine = { type = "microvm" }, devices = { { kind = "rng", id = "r", romfile = "x.rom" } } },
    "devices[1].romfile: only applies to the pci transport (this device uses mmio)" },
  { "disable_modern on an mmio device", { devices = { { kind = "balloon", id = "b", transport = "mmio", disable_modern = true } } },
    "devices[1].disable_modern: only applies to the pci transport (this device uses mmio)" },
  { "disable_modern with knobs.iommu_platform", { knobs = { iommu_platform = true }, devices = { { kind = "balloon", id = "b", disable_modern = true } } },
    "devices[1].disable_modern: cannot be combined with knobs.iommu_platform (which needs a modern-only device)" },
  { "a chardev id used twice", { devices = { { kind = "char", backend = "file", id = "c", path = "/a" }, qemu.serial { file = "/b", id = "c" } } },
    'devices[2]: -chardev id "c" is already used by devices[1]' },
  { "a device id used twice", { devices = { { kind = "rng", id = "r" }, { kind = "balloon", id = "b" }, { kind = "vsock", id = "b", context_id = 3 } } },
    'devices[3]: -device id "b" is already used by devices[2]' },
  { "an object id used by an iothread and an object", { iothreads = { "x" }, objects = { { type = "iothread", id = "x" } } },
    'iothreads[1]: -object id "x" is already used by objects[1]' },
  { "two RAM backends", { memory = { size = "1G" }, knobs = { mem_shared = true },
                          objects = { { type = "memory-backend-memfd", id = "m", size = "1G", ram = true } } },
    "knobs.mem_shared: guest RAM already comes from objects[1]" },
  { "a RAM backend of another size", { memory = { size = "1G" }, objects = { { type = "memory-backend-memfd", id = "m", size = "512M", ram = true } } },
    'objects[1].size: must equal memory.size ("1G") for the RAM backend, got "512M"' },
  { "a RAM backend without memory.size", { objects = { { type = "memory-backend-memfd", id = "m", size = "512M", ram = true } } },
    "objects[1].ram: needs memory.size (this backend becomes the guest RAM)" },
  { "a RAM backend that backs an nvdimm", { memory = { size = "1G" }, objects = {
      { type = "memory-backend-file", id = "m", mem_path = "/m", size = "1G", driver = "nvdimm", device_id = "n", ram = true } } },
    "objects[1].ram: only used without driver (the backend is the device's)" },
  { "memory knobs without memory.size", { knobs = { mem_prealloc = true } },
    "knobs.mem_prealloc: needs memory.size (it configures the guest RAM backend)" },
  { "file_backed_mem without memory.path", { memory = { size = "1G" }, knobs = { file_backed_mem = true } },
    "knobs.file_backed_mem: needs memory.path (the file backing the guest RAM)" },
  { "NUMA nodes without memory.size", { numa_nodes = { { node_id = 0, mem_size = "1G" } } },
    "numa_nodes: needs memory.size (the nodes' mem_size must add up to it)" },
  { "NUMA nodes that do not add up", { memory = { size = "2G" }, numa_nodes = { { node_id = 0, mem_size = "1G" } } },
    'numa_nodes: the nodes\' mem_size add up to 1073741824 bytes, but memory.size is "2G" (2147483648 bytes)' },
  { "NUMA nodes on microvm", { machine = { type = "microvm" }, memory = { size = "1G" }, numa_nodes = { { node_id = 0, mem_size = "1G" } } },
    "numa_nodes: the microvm machine has no NUMA support" },
  { "a NUMA node defined twice", { memory = { size = "2G" }, numa_nodes = { { node_id = 0, mem_size = "1G" }, { node_id = 0, mem_size = "1G" } } },
    "numa_nodes[2].node_id: node 0 is already defined by numa_nodes[1]" },
  { "a NUMA distance to an unknown node", { memory = { size = "1G" }, numa_nodes = { { node_id = 0, mem_size = "1G" } },
                                             numa_dists = { { src = 0, dst = 3, val = 20 } } },
    "numa_dists[1].dst: no NUMA node 3 in numa_nodes" },
  { "huge_pages with NUMA nodes", { memory = { size = "1G" }, knobs = { huge_pages = true }, numa_nodes = { { node_id = 0, mem_size = "1G" } } },
    "knobs: huge_pages and file_backed_mem do not apply to numa_nodes (use their mem_backend_type/mem_backend_path)" },
  { "several NUMA nodes and max_cpus unlike sockets*cores*threads",
    { memory = { size = "2G" }, smp = { cpus = 2, sockets = 2, max_cpus = 4 },
      numa_nodes = { { node_id = 0, mem_size = "1G" }, { node_id = 1, mem_size = "1G" } } },
    "smp.max_cpus: must equal sockets*cores*threads (2) with several NUMA nodes, got 4" },
  { "a firmware object and another bios", { bios = "/bios.bin", objects = { { type = "tdx-guest", id = "t", file = "/OVMF.fd" } } },
    'objects[1].file: conflicts with bios "/bios.bin" (this object loads its firmware as -bios)' },
  { "two firmware objects", { objects = { { type = "tdx-guest", id = "t", file = "/a.fd" },
                                          { type = "sev-snp-guest", id = "s", file = "/b.fd", cbitpos = 51, reduced_phys_bits = 1 } } },
    'objects[2].file: conflicts with objects[1].file "/a.fd"' },
  { "initrd and initrd_path", { kernel = { path = "/k", initrd = "/a", initrd_path = "/b" } }, "kernel.initrd_path: cannot be combined with initrd" },
  { "no_wait without server", { qmp_sockets = { { name = "/q", no_wait = true } } }, "qmp_sockets[1].no_wait: only used with server = true" },
  { "a QMP socket by name and fd", { qmp_sockets = { { name = "/q", fd = io.stdout } } }, "qmp_sockets[1].fd: cannot be combined with name" },
  { "a params object whose render fails", { kernel = { path = "/k", params = { render = function() error("boom", 0) end } } },
    "kernel.params: render() failed: boom" },
  { "a params object whose render returns no string", { kernel = { path = "/k", params = { render = function() return 42 end } } },
    "kernel.params: render() returned 42, expected a string" },
}

local bad_fds = {
  { "an index beyond fds", vsock { vhost_fd = 2 }, "devices[1].vhost_fd: fds has no entry 2 (it has 0)" },
  { "an index beyond a non-empty fds", { fds = { io.stdout }, qmp_sockets = { { fd = 2 } } }, "qmp_sockets[1].fd: fds has no entry 2 (it has 1)" },
  { "index 0", { incoming = { migration_type = "fd", fd = 0 } }, "incoming.fd: must be an index into fds (>= 1), got 0" },
  { "a string", vsock { vhost_fd = "/dev/vhost-vsock" }, 'devices[1].vhost_fd: expected an open file, a socket or an index into fds, got "/dev/vhost-vsock"' },
  { "a closed file", vsock { vhost_fd = closed_file }, "devices[1].vhost_fd: is a closed file" },
  { "a bad entry in a net fd list", { devices = { { kind = "net", id = "n", fds = { io.stdout, true } } } },
    "devices[1].fds[2]: expected an open file, a socket or an index into fds, got true" },
  { "an empty net fd list", { devices = { { kind = "net", id = "n", fds = {} } } }, "devices[1].fds: needs at least 1 entry, got 0" },
  { "a closed file in fds", { fds = { io.stdout, closed_file } }, "fds[2]: is a closed file" },
  { "a negative fd in fds", { fds = { -1 } }, "fds[1]: must be >= 0, got -1" },
  { "a string in fds", { fds = { "3" } }, 'fds[1]: expected an open file, a socket or a file descriptor number, got "3"' },
}

describe("vmlua.qemu errors", function()
  for group, list in pairs(groups) do
    describe(group, function()
      for _, e in ipairs(list) do
        it(e[1], function()
          assert.are.equal(e[3], config_error(e[2]))
        end)
      end
    end)
  end

  describe("invalid devices", function()
    for _, e in ipairs(invalid_devices) do
      it(e[1], function() assert.are.equal(e[3], config_error { devices = { e[2] } }) end)
    end
  end)

  describe("invalid objects", function()
    for _, e in ipairs(invalid_objects) do
      it(e[1], function() assert.are.equal(e[3], config_error { objects = { e[2] } }) end)
    end
  end)

  describe("rules across the config", function()
    for _, e in ipairs(cross) do
      it(e[1], function() assert.are.equal(e[3], config_error(e[2])) end)
    end
  end)

  describe("bad fd references", function()
    for _, e in ipairs(bad_fds) do
      it(e[1], function() assert.are.equal(e[3], config_error(e[2])) end)
    end

    it("a file closed after qemu.config{} fails argv, validate and fds", function()
      local f = assert(io.open("/dev/null"))
      local cfg = qemu.config(vsock { vhost_fd = f })
      f:close()
      assert.are.same({ nil, "devices[1].vhost_fd: is a closed file" }, { cfg:validate() })
      assert.has_error(function() cfg:fds() end)
      local ok, err = pcall(cfg.argv, cfg)
      assert.is_false(ok)
      assert.is_truthy(err:find("devices[1].vhost_fd: is a closed file", 1, true))
    end)
  end)

  describe("positions", function()
    it("qemu.config{} errors start with the caller's file:line", function()
      local line
      local ok, err = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        local cfg = qemu.config { devices = { { kind = "vsock", id = "v", context_id = 2 } } }
        return cfg -- not a tail call: a tail call has no caller line to report
      end)
      assert.is_false(ok)
      assert.are.equal(string.format("%s:%d: devices[1].context_id: must be >= 3, got 2", THIS, line), err)
    end)

    it("cfg:argv() raises at its caller; cfg:validate() returns the bare message", function()
      local cfg = qemu.config {}
      cfg.fields.smp = { cpus = 2, max_cpus = 1 }
      assert.are.same({ nil, "smp.max_cpus: must be >= cpus (2), got 1" }, { cfg:validate() })
      local line
      local ok, err = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        local argv = cfg:argv()
        return argv
      end)
      assert.is_false(ok)
      assert.are.equal(string.format("%s:%d: smp.max_cpus: must be >= cpus (2), got 1", THIS, line), err)
    end)

    it("helpers and builder methods raise at their caller for bad arguments", function()
      local cfg = qemu.config { memory = { size = "1G" } }
      local cases = {
        { function() local r = qemu.virtiofs { tag = "t" }; return r end, "virtiofs.socket: missing (required)" },
        { function() local r = qemu.shared_memory { size = "big" }; return r end,
          'shared_memory.size: expected a size such as "256M", "1G" or a number of bytes, got "big"' },
        { function() local r = qemu.serial { file = "/a", socket = "/b" }; return r end, "serial.socket: cannot be combined with file" },
        { function() local r = qemu.qmp_socket(nil); return r end, "qmp_socket: missing (required)" },
        { function() local r = cfg:add_share("t"); return r end, 'add_share: expected a table, got "t"' },
        { function() local r = cfg:set_serial_file(42); return r end, "set_serial_file: expected a string, got 42" },
        { function() local r = cfg:set_control_socket(); return r end, "set_control_socket: expected a string, got nil" },
      }
      for _, c in ipairs(cases) do
        local info = debug.getinfo(c[1], "S")
        local ok, err = pcall(c[1])
        assert.is_false(ok)
        assert.are.equal(string.format("%s:%d: %s", THIS, info.linedefined, c[2]), err)
      end
      assert.are.equal("-m 1G", table.concat(cfg:argv(), " ", 2))
    end)

    it("builder methods return nil and a message for a value the config cannot take (the builder contract)", function()
      local cfg = qemu.config { memory = { size = "1G" } }
      assert.are.same({ nil, "add_share.cache: unknown field" }, { cfg:add_share { tag = "t", socket = "/s", cache = 1 } })
      assert.are.same({ nil, "add_share.tag: must not contain ',' (it would split the option), got \"a,b\"" },
                      { cfg:add_share { tag = "a,b", socket = "/s" } })
      assert.are.same({ nil, "set_control_socket: must not be empty" }, { cfg:set_control_socket("") })
      assert.are.same({ nil, "set_serial_file: must not be empty" }, { cfg:set_serial_file("") })
      assert.are.equal("-m 1G", table.concat(cfg:argv(), " ", 2))
    end)
  end)
end)
