-- vmlua.clh: every kind of bad input is rejected with a message naming the
-- field path, raised at the recipe's (the caller's) line.
local clh = require "vmlua.clh"

local SPEC = "clh_bad_input_spec.lua"

-- clh.config(t) must raise; returns the message without its file:line
-- prefix, after checking that the prefix is this file at line `line`.
local function config_error(t, line)
  if t.kernel == nil and t.firmware == nil and not t.__no_kernel then t.kernel = "/k/vmlinux" end
  t.__no_kernel = nil
  local ok, err = pcall(function()
    local c = clh.config(t) -- the recipe's line
    return c
  end)
  assert.is_false(ok, "expected clh.config to raise")
  local file, at, msg = err:match("^(.-):(%d+): (.*)$")
  assert.truthy(file and file:sub(-#SPEC) == SPEC, "error does not carry this file: " .. err)
  if line then assert.are.equal(line, tonumber(at)) end
  return msg
end

local CASES = {
  -- wrong types
  { "kernel not a string", { kernel = 42 }, "kernel: expected a string, got 42" },
  { "cpus as a string", { cpus = "2" }, 'cpus: expected a number of vCPUs or a table { boot =, max =, ... }, got "2"' },
  { "cpus.boot a float", { cpus = { boot = 1.5 } }, "cpus.boot: expected an integer, got 1.5" },
  { "memory as a boolean", { memory = true },
    'memory: expected a size ("512M") or a table { size =, shared =, ... }, got true' },
  { "memory size spelt wrong", { memory = { size = "512MB" } },
    'memory.size: expected a size such as "256M", "1G" or a number of bytes, got "512MB"' },
  { "memory.shared not a boolean", { memory = { shared = "yes" } },
    'memory.shared: expected true or false, got "yes"' },
  { "disks not a list", { disks = { path = "/a.img" } }, "disks: expected a list, got table" },
  { "a disk as a string", { disks = { "/a.img" } }, 'disks[1]: expected a table, got "/a.img"' },
  { "net.fd as a string", { net = { { fd = "3" } } },
    'net[1].fd: expected an open file, a file descriptor number or a list of them, got "3"' },
  { "console as a number", { console = 1 },
    "console: expected a mode (off, null, pty, tty, file, socket) or a table { mode =, file =, ... }, got 1" },
  { "cmdline as a number", { cmdline = 7 },
    "cmdline: expected a string, a list of parameters or a vmlua.params object, got 7" },
  { "extra_args with a number", { extra_args = { "--x", 3 } }, "extra_args[2]: expected a string, got 3" },
  { "seccomp not an allowed word", { seccomp = "maybe" },
    'seccomp: must be one of true, false, log, errno; got "maybe"' },
  { "api_socket as a number", { api_socket = 3 },
    "api_socket: expected a socket path or { path = } or { fd = }, got 3" },
  { "topology malformed", { cpus = { boot = 2, topology = "2:1" } },
    'cpus.topology: must be "threads:cores:dies:packages" (numbers 1-255), got "2:1"' },
  { "mode not a console mode", { serial = "stdio" },
    'serial: must be one of off, null, pty, tty, file, socket; got "stdio"' },
  { "image_type misspelt", { disks = { { path = "/a", image_type = "qcow" } } },
    'disks[1].image_type: must be one of raw, qcow2, vhd, vhdx; got "qcow" (did you mean \'qcow2\'?)' },
  { "hotplug_method in API spelling", { memory = { hotplug_method = "VirtioMem" } },
    'memory.hotplug_method: must be one of acpi, virtio-mem; got "VirtioMem" (did you mean \'virtio-mem\'?)' },

  -- unknown keys
  { "a misspelt top-level field", { kernal = "/k" }, "kernal: unknown field (did you mean 'kernel'?)" },
  { "nets for net", { nets = {} }, "nets: unknown field (did you mean 'net'?)" },
  { "an unknown field with nothing close", { hypervisor = "clh" }, "hypervisor: unknown field" },
  { "a misspelt disk key", { disks = { { path = "/a" }, { path = "/b", readonyl = true } } },
    "disks[2].readonyl: unknown field (did you mean 'readonly'?)" },
  { "a misspelt cpus key", { cpus = { boots = 2 } }, "cpus.boots: unknown field (did you mean 'boot'?)" },
  { "the seed's sock= on fs", { fs = { { tag = "t", sock = "/s" } } },
    "fs[1].sock: unknown field (did you mean 'socket'?)" },
  { "the seed's memory file=", { memory = { size = "1G", file = "/dev/shm" } },
    "memory.file: not supported: today's cloud-hypervisor accepts --memory file= but ignores it; " ..
    "use shared = true (what virtio-fs needs) or memory_zones = { { file = ... } }" },
  { "the seed's dax", { fs = { { tag = "t", socket = "/s", dax = true } } },
    "fs[1].dax: not supported by today's cloud-hypervisor (virtio-fs DAX was removed); drop it" },
  { "a list entry in a record", { cpus = { 2 } },
    "cpus[1]: unexpected list entry (this table takes named fields: affinity, boot, core_scheduling, features, " ..
    "kvm_hyperv, max, max_phys_bits, nested, topology)" },

  -- missing required fields
  { "no payload", { __no_kernel = true, cpus = 1 },
    "kernel: missing (required: cloud-hypervisor boots a kernel or a firmware; give kernel or firmware)" },
  { "a disk without path", { disks = { { path = "/a" }, { readonly = true } } }, "disks[2].path: missing (required)" },
  { "a share without tag", { fs = { { socket = "/s" } } }, "fs[1].tag: missing (required)" },
  { "a share without socket", { fs = { { tag = "t" } } }, "fs[1].socket: missing (required)" },
  { "vsock without cid", { vsock = { socket = "/v.sock" } }, "vsock.cid: missing (required)" },
  { "vsock without socket", { vsock = { cid = 3 } }, "vsock.socket: missing (required)" },
  { "balloon without size", { balloon = { deflate_on_oom = true } }, "balloon.size: missing (required)" },
  { "pmem without file", { pmem = { { size = "1M" } } }, "pmem[1].file: missing (required)" },
  { "a VFIO device without path", { devices = { { id = "x" } } }, "devices[1].path: missing (required)" },
  { "a memory zone without size", { memory_zones = { { id = "z" } } }, "memory_zones[1].size: missing (required)" },
  { "a file console without file", { console = { mode = "file" } },
    'console.file: missing (required when mode is "file")' },
  { "a socket serial without socket", { serial = { mode = "socket" } },
    'serial.socket: missing (required when mode is "socket")' },
  { "a console table without mode", { console = { iommu = true } }, "console.mode: missing (required)" },
  { "a vhost-user disk without socket", { disks = { { vhost_user = true } } },
    "disks[1].socket: missing (required when vhost_user is true)" },
  { "a bandwidth limit without refill time", { disks = { { path = "/a", bw_size = 100 } } },
    "disks[1].bw_refill_time: missing (required with bw_size)" },
  { "an ops refill time without size", { net = { { tap = "t0", ops_refill_time = 10 } } },
    "net[1].ops_size: missing (required with ops_refill_time)" },
  { "api_socket table with neither key", { api_socket = {} }, "api_socket: give exactly one of path and fd" },

  -- out-of-range values and contradictions
  { "vsock cid below 3", { vsock = { cid = 2, socket = "/v.sock" } }, "vsock.cid: must be >= 3, got 2" },
  { "vsock cid the reserved maximum", { vsock = { cid = 0xffffffff, socket = "/v.sock" } },
    "vsock.cid: must be <= 4294967294, got 4294967295" },
  { "zero cpus", { cpus = 0 }, "cpus: must be >= 1, got 0" },
  { "boot above max", { cpus = { boot = 4, max = 2 } }, "cpus.boot: must be <= cpus.max (2), got 4" },
  { "topology not matching max", { cpus = { boot = 2, max = 4, topology = "1:3:1:1" } },
    "cpus.topology: threads_per_core * cores_per_die * dies_per_package * packages = 3, " ..
    "but the maximum vCPU count is 4 (they must be equal)" },
  { "affinity for a vCPU that does not exist", { cpus = { boot = 2, affinity = { { vcpu = 2, host_cpus = { 0 } } } } },
    "cpus.affinity[1].vcpu: must be < 2 (the maximum vCPU count), got 2" },
  { "fs num_queues 0", { fs = { { tag = "t", socket = "/s", num_queues = 0 } } },
    "fs[1].num_queues: must be >= 1, got 0" },
  { "a queue size that is not a power of two", { fs = { { tag = "t", socket = "/s", queue_size = 1000 } } },
    "fs[1].queue_size: must be a power of two (a virtio queue size), got 1000" },
  { "an fs tag over 36 bytes", { fs = { { tag = string.rep("t", 37), socket = "/s" } } },
    "fs[1].tag: must be at most 36 bytes (the virtio-fs tag size), got 37" },
  { "a net with neither tap nor fd nor socket", { net = { { mac = "52:54:00:00:00:01" } } },
    "net[1]: needs one of tap (an existing tap device), fd (open tap fds) or socket (vhost-user)" },
  { "a net with both tap and fd", { net = { { tap = "tap0", fd = 3 } } },
    "net[1]: give only one of tap, fd and socket, got tap and fd" },
  { "a net with an odd queue count", { net = { { tap = "tap0", num_queues = 3 } } },
    "net[1].num_queues: must be even (one receive and one transmit queue per pair), got 3" },
  { "a net with one queue", { net = { { tap = "tap0", num_queues = 1 } } }, "net[1].num_queues: must be >= 2, got 1" },
  { "a bad MAC", { net = { { tap = "tap0", mac = "52:54:00:00:01" } } },
    'net[1].mac: must be a MAC address such as "52:54:00:12:34:56", got "52:54:00:00:01"' },
  { "a tap name with a comma", { net = { { tap = "tap0,mac=x" } } },
    "net[1].tap: must be an interface name (no ',', '/', ':' or spaces), got \"tap0,mac=x\"" },
  { "vhost_mode without vhost-user", { net = { { tap = "tap0", vhost_mode = "client" } } },
    "net[1].vhost_mode: only with socket (a vhost-user net)" },
  { "vhost_user false with a socket", { disks = { { socket = "/s", vhost_user = false } } },
    "disks[1].vhost_user: must be true with socket (a vhost-user back-end), got false" },
  { "a vhost-user disk with a path", { disks = { { socket = "/s", path = "/a" } } },
    "disks[1].path: a vhost-user disk takes socket, not path" },
  { "shared = false with virtio-fs",
    { memory = { size = "1G", shared = false }, fs = { { tag = "t", socket = "/s" } } },
    "memory.shared: must be true: fs[1] needs shared guest memory (virtio-fs and vhost-user back-ends map it), " ..
    "got false" },
  { "hugepage_size without hugepages", { memory = { hugepage_size = "2M" } },
    "memory.hugepage_size: only with hugepages = true" },
  { "a zero memory size", { memory = "0" }, 'memory: must be > 0, got "0"' },
  { "an absurd memory size", { memory = "99999999999999999999G" },
    'memory: size too large, got "99999999999999999999G"' },
  { "a size that would overflow when multiplied", { memory = "999999999999999G" },
    'memory: size too large, got "999999999999999G"' },
  { "an absurd memory size in a table", { memory = { size = 1 << 62 } },
    "memory.size: size too large, got 4611686018427387904" },
  { "a file with a socket console mode", { console = { mode = "tty", file = "/c.log" } },
    'console.file: only with mode "file", got mode "tty"' },
  { "a pci_segment beyond the platform's", { disks = { { path = "/a", pci_segment = 1 } } },
    "disks[1].pci_segment: must be < 1 (platform.num_pci_segments), got 1" },
  { "a duplicate device id", { disks = { { path = "/a", id = "d0" } }, net = { { tap = "t", id = "d0" } } },
    'net[1].id: duplicate id "d0" (also disks[1].id)' },
  { "a duplicate share tag", { fs = { { tag = "t", socket = "/a" }, { tag = "t", socket = "/b" } } },
    'fs[2].tag: duplicate tag "t" (also fs[1].tag)' },
  { "a path with a comma (it would split the option)", { disks = { { path = "/img/a,b.raw" } } },
    "disks[1].path: must not contain ',' (it would split the option), got \"/img/a,b.raw\"" },
  { "an empty kernel path", { kernel = "" }, "kernel: must not be empty" },
  { "a negative verbosity", { verbosity = -1 }, "verbosity: must be >= 0, got -1" },
  { "a kernel parameter with a quote", { cmdline = { { "init", 'a"b' } } },
    'cmdline: kernel parameter "init": value must not contain \'"\' (the kernel has no escape for it)' },
  { "a command line over the limit", { cmdline = "x=" .. string.rep("a", 2100) },
    "cmdline: kernel command line is 2102 bytes; the limit is 2047 (a 2048-byte buffer with its NUL)" },
  { "a pmem of size 0", { pmem = { { file = "/p", size = 0 } } }, "pmem[1].size: must be > 0, got 0" },
  { "a debug console in socket mode", { debug_console = "socket" },
    'debug_console: must be one of off, pty, tty, file; got "socket"' },
  { "an mtu too small", { net = { { tap = "t", mtu = 10 } } }, "net[1].mtu: must be >= 68, got 10" },
}

describe("clh.config rejects bad input", function()
  for _, case in ipairs(CASES) do
    it(case[1], function()
      assert.are.equal(case[3], config_error(case[2]))
    end)
  end

  it("raises at the caller's line (the recipe's), not inside vmlua", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local c = clh.config { kernel = "/k", vsock = { cid = 2, socket = "/v" } }
      return c end)
    assert.is_false(ok)
    assert.truthy(err:match("^[^:]*" .. SPEC:gsub("%.", "%%.") .. ":" .. line ..
                            ": vsock%.cid: must be >= 3, got 2$"), err)
  end)

  it("rejects a non-table argument", function()
    local ok, err = pcall(function() local c = clh.config("kernel=/k") return c end)
    assert.is_false(ok)
    assert.truthy(err:find(SPEC .. ":%d+: clh%.config: expected a table, got string$"), err)
  end)
end)

describe("clh builder methods (the builder contract: docs/drivers.md)", function()
  local function method_error(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    local file, msg = err:match("^(.-):%d+: (.*)$")
    assert.truthy(file and file:sub(-#SPEC) == SPEC, err)
    return msg
  end

  it("add_share returns nil and a message for a missing socket, an unknown key, a duplicate tag", function()
    local c = clh.config { kernel = "/k" }
    assert.are.same({ nil, "add_share: fs[1].socket: missing (required)" }, { c:add_share { tag = "a" } })
    assert.are.same({ nil, "add_share: fs[1].sock: unknown field (did you mean 'socket'?)" },
                    { c:add_share { tag = "a", sock = "/s" } })
    assert.are.same({ nil, "add_share: fs[1].num_queues: must be >= 1, got 0" },
                    { c:add_share { tag = "a", socket = "/s", num_queues = 0 } })
    assert.is_true(c:add_share { tag = "a", socket = "/s" })
    assert.are.same({ nil, 'add_share: fs[2].tag: duplicate tag "a" (also fs[1].tag)' },
                    { c:add_share { tag = "a", socket = "/t" } })
    assert.are.equal(1, #c.fields.fs) -- nothing half-added
  end)

  it("raises at the caller's line for an argument of the wrong type", function()
    local c = clh.config { kernel = "/k" }
    assert.are.equal('add_share: expected a table, got "a"', method_error(function() c:add_share("a") end))
    assert.are.equal("set_serial_file: expected a path, got 42", method_error(function() c:set_serial_file(42) end))
    assert.are.equal("set_control_socket: expected a path, got nil",
                     method_error(function() c:set_control_socket() end))
  end)

  it("set_serial_file and set_control_socket return nil and a message for a path they cannot take", function()
    local c = clh.config { kernel = "/k" }
    assert.are.same({ nil, "set_control_socket: api_socket: must not be empty" }, { c:set_control_socket("") })
    assert.are.same({ nil, "set_control_socket: api_socket: must not contain ',' (it would split the option), got \"/a,b\"" },
                    { c:set_control_socket("/a,b") })
    assert.are.same({ nil, "set_serial_file: serial.file: must not contain ',' (it would split the option), got \"/s,1\"" },
                    { c:set_serial_file("/s,1") })
    assert.is_nil(c.fields.serial)
    assert.is_nil(c.fields.api_socket)
  end)

  it("argv, api_argv and vm_config raise after an edit that breaks the config", function()
    local c = clh.config { kernel = "/k", cpus = { boot = 2, max = 4 } }
    c.fields.cpus.boot = 8
    for _, m in ipairs { "argv", "api_argv", "vm_config", "net_hotplug" } do
      assert.are.equal("cpus.boot: must be <= cpus.max (4), got 8", method_error(function() c[m](c) end))
    end
  end)
end)
