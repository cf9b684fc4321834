--- Turning govmm's test vectors (tests/fixtures/reference/govmm-cases.json) into
-- vmlua.qemu configs: Go type names to device kinds, Go field names to
-- snake_case, Go placeholder values to Lua values.
local json = require "support.json"

local G = {}

--- The vectors, in file order (1-based).
function G.load(root)
  local path = root .. "/tests/fixtures/reference/govmm-cases.json"
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return json.decode(text), path
end

-- Names the generic rule below gets wrong (acronyms ending in a lower-case
-- plural, or spelt as one word in vmlua).
local renames = {
  CPUs = "cpus", MaxCPUs = "max_cpus", FDs = "fds", VhostFDs = "vhost_fds", IFName = "ifname",
  ROMFile = "romfile", VHostFD = "vhost_fd", VHost = "vhost", IOThread = "iothread", PFlash = "pflash",
  Acceleration = "accel", NUMANodes = "numa_nodes", NUMADists = "numa_dists", DevNo = "devno",
}

--- "MACAddress" -> "mac_address", "Pref64Reserve" -> "pref64_reserve".
function G.snake(name)
  if renames[name] then return renames[name] end
  local s = name:gsub("(%l)(%u)", "%1_%2"):gsub("(%d)(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2")
  return s:lower()
end

G.kinds = {
  FSDevice = "fs", CharDevice = "char", NetDevice = "net", LegacySerialDevice = "legacy_serial",
  SerialDevice = "serial", BlockDevice = "block", PVPanicDevice = "pvpanic", LoaderDevice = "loader",
  VhostUserDevice = "vhost_user", PXBPCIeDevice = "pxb_pcie", PCIeRootPortDevice = "pcie_root_port",
  VFIODevice = "vfio", SCSIController = "scsi", BridgeDevice = "bridge", VSOCKDevice = "vsock",
  RngDevice = "rng", BalloonDevice = "balloon", IommuDev = "iommu",
}

-- Go enum constants written by name in the vectors.
local values = {
  MigrationType = { ["MigrationFD(1)"] = "fd", ["MigrationExec(2)"] = "exec", ["MigrationDefer(3)"] = "defer" },
  Type = { PCIBridge = "pci", PCIEBridge = "pcie" },
  VhostUserType = { ["vhost-user-blk"] = "blk", ["vhost-user-scsi"] = "scsi", ["virtio-net"] = "net",
                    ["vhost-user-fs"] = "fs" },
}

-- Go integers whose zero value means "not set".
local zero_unset = { QgsPort = true, MaxBytes = true, Period = true, CacheSize = true, QueueSize = true,
                     MaxPorts = true, Slots = true }

G.opened = {}

local function open_file()
  local f = assert(io.open("/dev/null", "rb"))
  G.opened[#G.opened + 1] = f
  return f
end

local function value(key, v)
  if v == json.null or v == "" then return nil end
  if zero_unset[key] and v == 0 then return nil end
  if values[key] and values[key][v] then return values[key][v] end
  if v == "<open file>" then return open_file() end
  if v == "os.Stdout" then return io.stdout end
  if type(v) == "string" then
    local n = v:match("^<(%d+) open files>$")
    if n then
      local list = {}
      for i = 1, tonumber(n) do list[i] = open_file() end
      return list
    end
  end
  return v
end

--- A Go struct's fields as a vmlua table (recursively for nested structs).
function G.fields(t)
  if t[1] ~= nil then
    local out = {}
    for i, x in ipairs(t) do out[i] = type(x) == "table" and G.fields(x) or x end
    return out
  end
  local out = {}
  for k, v in pairs(t) do
    if type(v) == "table" and v ~= json.null and next(v) ~= nil and v[1] == nil and not values[k] then
      out[G.snake(k)] = G.fields(v)
    elseif type(v) == "table" and v[1] ~= nil and type(v[1]) == "table" then
      out[G.snake(k)] = G.fields(v)
    else
      out[G.snake(k)] = value(k, v)
    end
  end
  return out
end

local function device(go_type, fields)
  local d = G.fields(fields)
  d.kind = assert(G.kinds[go_type], "no vmlua kind for " .. go_type)
  return d
end

local section = {
  Machine = "machine", RTC = "rtc", Kernel = "kernel", SMP = "smp", Memory = "memory", Knobs = "knobs",
  Incoming = "incoming",
}
local list_section = { Object = "objects", QMPSocket = "qmp_sockets", FwCfg = "fw_cfg", IOThread = "iothreads" }

--- The vmlua config table for a vector, and the config of its context alone
-- (the vector's `config`: govmm passes it to QemuParams, and its own params
-- are not part of the expected string).
function G.config(case)
  local kind, fields = case.kind, case.fields
  local cfg
  if G.kinds[kind] then
    cfg = { devices = { device(kind, fields) } }
  elseif section[kind] then
    cfg = { [section[kind]] = G.fields(fields) }
  elseif list_section[kind] then
    cfg = { [list_section[kind]] = { G.fields(fields) } }
  elseif kind == "[]QMPSocket" then
    cfg = { qmp_sockets = G.fields(fields) }
  elseif kind:match("^Devices") then
    cfg = { devices = {} }
    for i, entry in ipairs(fields) do
      local go_type, f = next(entry)
      cfg.devices[i] = device(go_type, f)
    end
  else -- "Config(...)", "Memory+Knobs", "PFlash", "SeccompSandbox": Config fields
    cfg = G.fields(fields)
  end
  local context
  if case.config then
    context = G.fields(case.config)
    for k, v in pairs(context) do cfg[k] = cfg[k] or v end
  end
  return cfg, context
end

--- Remove the context's own argv strings (in order) from `args`.
function G.strip(args, context_args)
  local out, j = {}, 1
  for _, a in ipairs(args) do
    if context_args[j] == a then j = j + 1 else out[#out + 1] = a end
  end
  return out
end

function G.close_files()
  for _, f in ipairs(G.opened) do f:close() end
  G.opened = {}
end

return G
