--- The fields of `clh.config{}`: one table per device kind that drives the
-- schema (vmlua.schema), the CLI emitter (clh/cli.lua) and the vm.create
-- emitter (clh/vmconfig.lua). Rules spanning several fields: clh/model.lua.
--
-- Field names mirror cloud-hypervisor's CLI keys (`--disk path=,readonly=`)
-- and VmConfig; where the two differ the CLI name is used and the entry
-- says what the JSON calls it (`socket` -> `vhost_socket`).
--
-- A field entry: `{ name, schema, enc, cli = key|false, json = key|false, map = {} }`
--   enc: "str" | "int" | "bool" (on/off) | "size" | "list" ([a,b]) | "enum"
--        (`map` gives the JSON spelling) | "hex" | special encoders named in
--        the emitters ("topology", "affinity", "features", "fd").

local S = require "vmlua.schema"
local openfile = require "vmlua.openfile"
local params = require "vmlua.params"

local M = {}

-- ------------------------------------------------------------ values

local MULT = { [""] = 1, K = 1 << 10, M = 1 << 20, G = 1 << 30, T = 1 << 40 }
local MAX_BYTES = 1 << 60

--- Bytes of a size ("512M", "1G", 4096): integer.
function M.bytes(v)
  if math.type(v) == "integer" then return v end
  local n, suf = v:match("^(%d+)(%a?)$")
  return math.tointeger(tonumber(n)) * MULT[suf:upper()]
end

--- A size as cloud-hypervisor's parser reads it: K/M/G suffixes in upper
-- case only (T becomes G), a bare number means bytes.
function M.cli_size(v)
  if math.type(v) == "integer" then return tostring(v) end
  local n, suf = v:match("^(%d+)(%a?)$")
  suf = suf:upper()
  if suf == "T" then return tostring(math.tointeger(tonumber(n)) * 1024) .. "G" end
  return tostring(math.tointeger(tonumber(n))) .. suf
end

local size_base = S.size()
local function size(opts)
  opts = opts or {}
  return S.custom(function(v, path)
    local ok, err = size_base:check(v, path)
    if not ok then return nil, err end
    if type(v) == "string" then
      local n, suf = v:match("^(%d+)(%a?)$")
      -- compare before multiplying: integer arithmetic would wrap
      if #n > 18 or math.tointeger(tonumber(n)) > MAX_BYTES // MULT[suf:upper()] then
        return S.fail(path, "size too large, got %s", S.show(v))
      end
    elseif v > MAX_BYTES then
      return S.fail(path, "size too large, got %s", S.show(v))
    end
    if opts.positive and M.bytes(v) == 0 then return S.fail(path, "must be > 0, got %s", S.show(v)) end
    return true
  end, opts)
end
M.size = size

local function pow2(v) return v > 0 and (v & (v - 1)) == 0 end

local function queue_size(opts)
  opts = opts or {}
  return S.custom(function(v, path)
    local ok, err = S.integer { min = 1, max = 32768 }:check(v, path)
    if not ok then return nil, err end
    if not pow2(math.tointeger(v)) then
      return S.fail(path, "must be a power of two (a virtio queue size), got %s", S.show(v))
    end
    return true
  end, opts)
end

-- A string that becomes part of a `key=value,...` option: a comma would
-- split it.
local function word(opts)
  opts = opts or {}
  opts.nonempty = true
  opts.no_comma = true
  return S.string(opts)
end

local PATH = word()
local FILE = S.string { nonempty = true }            -- a whole argv element
local BOOL = S.boolean()
local U16 = S.integer { min = 0, max = 0xffff }
local MAC = S.string { pattern = "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
                       pattern_help = "must be a MAC address such as \"52:54:00:12:34:56\"" }

local function always_fails(msg)
  return S.custom(function(_, path) return S.fail(path, "%s", msg) end)
end
local function misspelt(right)
  return always_fails(string.format("unknown field (did you mean '%s'?)", right))
end

--- Pick a schema by the Lua type of the value, so that a table with a
-- misspelt key reports that key rather than "expected a string".
local function by_type(map, describe)
  return S.custom(function(v, path)
    local s = map[math.type(v) == "integer" and "integer" or type(v)] or map[type(v)]
    if not s then return S.fail(path, "expected %s, got %s", describe, S.show(v)) end
    return s:check(v, path)
  end)
end
M.by_type = by_type

local function enum(values, map)
  return S.string { enum = values }, map
end

-- ------------------------------------------------------------ kinds

local function entry(name, schema, enc, extra)
  local e = { name = name, schema = schema, enc = enc }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function pci(list, with_iommu)
  if with_iommu then list[#list + 1] = entry("iommu", BOOL, "bool") end
  list[#list + 1] = entry("id", word(), "str")
  list[#list + 1] = entry("pci_segment", U16, "int")
  list[#list + 1] = entry("pci_device_id", S.integer { min = 0, max = 31 }, "int")
  return list
end

local function rate_limits(list)
  for _, g in ipairs { "bw", "ops" } do
    list[#list + 1] = entry(g .. "_size", S.integer { min = 0 }, "int", { json = false })
    list[#list + 1] = entry(g .. "_one_time_burst", S.integer { min = 0 }, "int", { json = false })
    list[#list + 1] = entry(g .. "_refill_time", S.integer { min = 0 }, "int", { json = false })
  end
  return list
end

local IMAGE_TYPE, IMAGE_MAP = enum({ "raw", "qcow2", "vhd", "vhdx" },
  { raw = "Raw", qcow2 = "Qcow2", vhd = "FixedVhd", vhdx = "Vhdx" })
local LOCK, LOCK_MAP = enum({ "byte-range", "full" }, { ["byte-range"] = "ByteRange", full = "Full" })
local VHOST_MODE, VHOST_MODE_MAP = enum({ "client", "server" }, { client = "Client", server = "Server" })
local HOTPLUG, HOTPLUG_MAP = enum({ "acpi", "virtio-mem" }, { acpi = "Acpi", ["virtio-mem"] = "VirtioMem" })
local SCHED, SCHED_MAP = enum({ "vm", "vcpu", "off" }, { vm = "Vm", vcpu = "Vcpu", off = "Off" })
M.CONSOLE_MODES = { "off", "null", "pty", "tty", "file", "socket" }
M.DEBUG_CONSOLE_MODES = { "off", "pty", "tty", "file" }
M.MODE_MAP = { off = "Off", null = "Null", pty = "Pty", tty = "Tty", file = "File", socket = "Socket" }

local kinds = {}
M.kinds = kinds

kinds.disk = pci(rate_limits {
  entry("path", PATH, "str"),
  entry("readonly", BOOL, "bool"),
  entry("direct", BOOL, "bool"),
  entry("num_queues", S.integer { min = 1, max = 256 }, "int"),
  entry("queue_size", queue_size(), "int"),
  entry("vhost_user", BOOL, "bool"),
  entry("socket", PATH, "str", { json = "vhost_socket" }),
}, true)
for _, e in ipairs {
  entry("serial", word(), "str"),
  entry("backing_files", BOOL, "bool"),
  entry("sparse", BOOL, "bool"),
  entry("image_type", IMAGE_TYPE, "enum", { map = IMAGE_MAP }),
  entry("lock_granularity", LOCK, "enum", { map = LOCK_MAP }),
} do table.insert(kinds.disk, #kinds.disk - 3, e) end

kinds.net = pci(rate_limits {
  entry("tap", S.string { nonempty = true, pattern = "^[^,/%s:]+$",
                          pattern_help = "must be an interface name (no ',', '/', ':' or spaces)" }, "str"),
  entry("ip", word(), "str"),
  entry("mask", word(), "str"),
  entry("mac", MAC, "str"),
  entry("host_mac", MAC, "str"),
  entry("mtu", S.integer { min = 68, max = 65535 }, "int"),
  -- open tap fds: files (or fd numbers of this process) that vmlua passes on
  entry("fd", by_type({ integer = openfile.entry, userdata = openfile.entry,
                        table = S.array(openfile.entry, { min = 1 }) },
                      "an open file, a file descriptor number or a list of them"), "fd", { json = false }),
  entry("num_queues", S.integer { min = 2, max = 512 }, "int"),
  entry("queue_size", queue_size(), "int"),
  entry("vhost_user", BOOL, "bool"),
  entry("socket", PATH, "str", { json = "vhost_socket" }),
  entry("vhost_mode", VHOST_MODE, "enum", { map = VHOST_MODE_MAP }),
}, true)
for _, e in ipairs {
  entry("offload_tso", BOOL, "bool"),
  entry("offload_ufo", BOOL, "bool"),
  entry("offload_csum", BOOL, "bool"),
} do table.insert(kinds.net, #kinds.net - 3, e) end

kinds.fs = pci {
  entry("tag", word { check = function(v, path)
    if #v > 36 then return S.fail(path, "must be at most 36 bytes (the virtio-fs tag size), got %d", #v) end
    return true
  end }:req(), "str"),
  entry("socket", PATH:req(), "str"),
  entry("num_queues", S.integer { min = 1, max = 64 }, "int"),
  entry("queue_size", queue_size(), "int"),
}

kinds.pmem = pci({
  entry("file", PATH:req(), "str"),
  entry("size", size { positive = true }, "size"),
  entry("discard_writes", BOOL, "bool"),
}, true)

kinds.device = pci({ entry("path", PATH:req(), "str") }, true)

kinds.vdpa = pci({
  entry("path", PATH:req(), "str"),
  entry("num_queues", S.integer { min = 1, max = 256 }, "int"),
}, true)

kinds.user_device = pci { entry("socket", PATH:req(), "str") }

kinds.rng = pci({ entry("src", PATH, "str") }, true)

kinds.vsock = pci({
  entry("cid", S.integer { min = 3, max = 0xfffffffe, required = true }, "int"),
  entry("socket", PATH:req(), "str"),
}, true)

kinds.balloon = pci({
  entry("size", size { required = true }, "size"),
  entry("deflate_on_oom", BOOL, "bool"),
  entry("free_page_reporting", BOOL, "bool"),
}, true)

kinds.tpm = { entry("socket", PATH:req(), "str") }

kinds.landlock_rule = {
  entry("path", PATH:req(), "str"),
  entry("access", S.string { enum = { "r", "w", "rw" }, required = true }, "str"),
}

kinds.memory = {
  entry("size", size(), "size"),
  entry("mergeable", BOOL, "bool"),
  entry("shared", BOOL, "bool"),
  entry("hugepages", BOOL, "bool"),
  entry("hugepage_size", size { positive = true }, "size"),
  entry("hotplug_method", HOTPLUG, "enum", { map = HOTPLUG_MAP }),
  entry("hotplug_size", size(), "size"),
  entry("hotplugged_size", size(), "size"),
  entry("prefault", BOOL, "bool"),
  entry("reserve", BOOL, "bool"),
  entry("thp", BOOL, "bool"),
}

kinds.memory_zone = {
  entry("id", word { required = true }, "str"),
  entry("size", size { required = true }, "size"),
  entry("file", PATH, "str"),
  entry("shared", BOOL, "bool"),
  entry("hugepages", BOOL, "bool"),
  entry("hugepage_size", size { positive = true }, "size"),
  entry("host_numa_node", S.integer { min = 0, max = 0xffffffff }, "int"),
  entry("hotplug_size", size(), "size"),
  entry("hotplugged_size", size(), "size"),
  entry("prefault", BOOL, "bool"),
  entry("reserve", BOOL, "bool"),
  entry("mergeable", BOOL, "bool"),
}

local TOPOLOGY_KEYS = { "threads_per_core", "cores_per_die", "dies_per_package", "packages" }
M.TOPOLOGY_KEYS = TOPOLOGY_KEYS
local topology_fields = {}
for _, k in ipairs(TOPOLOGY_KEYS) do topology_fields[k] = S.integer { min = 1, max = 255, required = true } end
local TOPOLOGY = by_type({
  string = S.string { pattern = "^[1-9]%d?%d?:[1-9]%d?%d?:[1-9]%d?%d?:[1-9]%d?%d?$",
                      pattern_help = "must be \"threads:cores:dies:packages\" (numbers 1-255)" },
  table = S.record(topology_fields),
}, "\"threads:cores:dies:packages\" or a table with " .. table.concat(TOPOLOGY_KEYS, ", "))

local AFFINITY = S.array(S.record {
  vcpu = S.integer { min = 0, required = true },
  host_cpus = S.array(S.integer { min = 0 }, { min = 1, required = true }),
}, { min = 1 })

kinds.cpus = {
  entry("boot", S.integer { min = 1, max = 8192 }, "int", { json = "boot_vcpus" }),
  entry("max", S.integer { min = 1, max = 8192 }, "int", { json = "max_vcpus" }),
  entry("topology", TOPOLOGY, "topology"),
  entry("kvm_hyperv", BOOL, "bool"),
  entry("max_phys_bits", S.integer { min = 1, max = 64 }, "int"),
  entry("affinity", AFFINITY, "affinity"),
  entry("features", S.array(S.string { enum = { "amx" } }, { min = 1 }), "features"),
  entry("nested", BOOL, "bool"),
  entry("core_scheduling", SCHED, "enum", { map = SCHED_MAP }),
}

kinds.console = pci({
  entry("mode", S.string { enum = M.CONSOLE_MODES }, "mode"),
  entry("file", PATH, "str"),
  entry("socket", PATH, "str"),
}, true)

kinds.serial = {
  entry("mode", S.string { enum = M.CONSOLE_MODES }, "mode"),
  entry("file", PATH, "str"),
  entry("socket", PATH, "str"),
}

kinds.debug_console = {
  entry("mode", S.string { enum = M.DEBUG_CONSOLE_MODES }, "mode"),
  entry("file", PATH, "str"),
  entry("iobase", S.integer { min = 0, max = 0xffff }, "hex"),
}

kinds.platform = {
  entry("num_pci_segments", S.integer { min = 1, max = 0xffff }, "int"),
  entry("iommu_segments", S.array(U16, { min = 1 }), "list"),
  entry("iommu_address_width", S.integer { min = 1, max = 64 }, "int", { json = "iommu_address_width_bits" }),
  entry("iommufd", BOOL, "bool"),
  entry("vfio_p2p_dma", BOOL, "bool"),
  entry("system_manufacturer", word(), "str"),
  entry("system_product_name", word(), "str"),
  entry("system_version", word(), "str"),
  entry("system_serial_number", word(), "str"),
  entry("system_uuid", word(), "str"),
  entry("system_sku_number", word(), "str"),
  entry("system_family", word(), "str"),
  entry("oem_strings", S.array(word { pattern = "^[^%[%]]*$", pattern_help = "must not contain '[' or ']'" },
                               { min = 1 }), "list"),
  entry("chassis_asset_tag", word(), "str"),
  entry("tdx", BOOL, "bool"),
  entry("sev_snp", BOOL, "bool"),
}

-- ------------------------------------------------------------ schema

local function record_of(kind, extra, opts)
  local fields = {}
  for _, e in ipairs(kinds[kind]) do fields[e.name] = e.schema end
  for k, v in pairs(extra or {}) do fields[k] = v end
  return S.record(fields, opts)
end

local MEMORY_FILE = always_fails("not supported: today's cloud-hypervisor accepts --memory file= but ignores it; " ..
                                 "use shared = true (what virtio-fs needs) or memory_zones = { { file = ... } }")
local DAX = always_fails("not supported by today's cloud-hypervisor (virtio-fs DAX was removed); drop it")

local CMDLINE = S.custom(function(v, path)
  if type(v) ~= "string" and type(v) ~= "table" then
    return S.fail(path, "expected a string, a list of parameters or a vmlua.params object, got %s", S.show(v))
  end
  -- pcall'd raises carry no position (the level points at pcall itself)
  local ok, p = pcall(params.new, v)
  if not ok then return S.fail(path, "%s", tostring(p)) end
  local ok2, err = pcall(p.render, p)
  if not ok2 then return S.fail(path, "%s", tostring(err)) end
  return true
end)

local function socket_ref(what)
  return by_type({
    string = PATH,
    table = S.record({ path = PATH, fd = S.integer { min = 0 } }, { check = function(v, path)
      if (v.path == nil) == (v.fd == nil) then
        return S.fail(path, "give exactly one of path and fd")
      end
      return true
    end }),
  }, what)
end

local function console_like(kind, modes)
  return by_type({
    string = S.string { enum = modes },
    table = record_of(kind),
  }, "a mode (" .. table.concat(modes, ", ") .. ") or a table { mode =, file =, ... }")
end

local function list_of(kind, extra)
  return S.array(record_of(kind, extra))
end

--- One virtio-fs share (also what `cfg:add_share{}` takes).
M.fs_entry = record_of("fs", { sock = misspelt("socket"), dax = DAX, cache_size = DAX })

M.top = {
  path = FILE,
  api_socket = socket_ref("a socket path or { path = } or { fd = }"),
  kernel = FILE,
  initramfs = FILE,
  firmware = FILE,
  cmdline = CMDLINE,
  cpus = by_type({ integer = S.integer { min = 1, max = 8192 }, table = record_of("cpus") },
                 "a number of vCPUs or a table { boot =, max =, ... }"),
  memory = by_type({ string = size { positive = true }, integer = size { positive = true },
                     table = record_of("memory", { file = MEMORY_FILE }) },
                   "a size (\"512M\") or a table { size =, shared =, ... }"),
  memory_zones = S.array(record_of("memory_zone", nil), { min = 1 }),
  disks = list_of("disk"),
  net = list_of("net"),
  fs = S.array(M.fs_entry),
  pmem = list_of("pmem"),
  devices = list_of("device"),
  vdpa = list_of("vdpa"),
  user_devices = list_of("user_device"),
  rng = record_of("rng"),
  vsock = record_of("vsock", { sock = misspelt("socket") }),
  balloon = record_of("balloon"),
  serial = console_like("serial", M.CONSOLE_MODES),
  console = console_like("console", M.CONSOLE_MODES),
  debug_console = console_like("debug_console", M.DEBUG_CONSOLE_MODES),
  platform = record_of("platform"),
  tpm = record_of("tpm"),
  pvpanic = BOOL,
  watchdog = BOOL,
  seccomp = by_type({ boolean = BOOL, string = S.string { enum = { "true", "false", "log", "errno" } } },
                    "true, false, \"log\" or \"errno\""),
  verbosity = S.integer { min = 0, max = 10 },
  log_file = FILE,
  log_format = S.string { nonempty = true },
  event_monitor = socket_ref("a path or { path = } or { fd = }"),
  no_shutdown = BOOL,
  landlock = BOOL,
  landlock_rules = list_of("landlock_rule"),
  extra_args = S.array(S.string()),
}

M.schema = S.record(M.top)

--- Top-level lists and the kind of their entries.
M.list_kind = {
  memory_zones = "memory_zone", disks = "disk", net = "net", fs = "fs", pmem = "pmem",
  devices = "device", vdpa = "vdpa", user_devices = "user_device", landlock_rules = "landlock_rule",
}

return M
