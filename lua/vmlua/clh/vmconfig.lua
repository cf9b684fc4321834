--- The body of `PUT /api/v1/vm.create` (VmConfig in
-- tests/fixtures/reference/cloud-hypervisor-openapi.yaml) from a normalized
-- config: plain Lua tables ready for a JSON encoder. Sizes are integers in
-- bytes, enums use the API's spelling ("File", "Raw", "Acpi"), and no table
-- is ever empty (an empty list is left out), so no array/object marking is
-- needed.

local fields = require "vmlua.clh.fields"

local M = {}

local function copy_list(v)
  local out = {}
  for i, x in ipairs(v) do out[i] = x end
  return out
end

local encode = {
  str = function(v) return v end,
  int = function(v) return math.tointeger(v) end,
  bool = function(v) return v end,
  size = fields.bytes,
  hex = function(v) return v end,
  list = copy_list,
  topology = function(v)
    local t = {}
    if type(v) == "string" then
      local i = 0
      for n in v:gmatch("%d+") do
        i = i + 1
        t[fields.TOPOLOGY_KEYS[i]] = math.tointeger(tonumber(n))
      end
    else
      for _, k in ipairs(fields.TOPOLOGY_KEYS) do t[k] = v[k] end
    end
    return t
  end,
  affinity = function(v)
    local out = {}
    for i, a in ipairs(v) do out[i] = { vcpu = a.vcpu, host_cpus = copy_list(a.host_cpus) } end
    return out
  end,
  features = function(v)
    local t = {}
    for _, f in ipairs(v) do t[f] = true end
    return t
  end,
  mode = function(v) return fields.MODE_MAP[v] end,
}

local function rate_limiter(t)
  local out
  for _, g in ipairs { { "bw", "bandwidth" }, { "ops", "ops" } } do
    local size = t[g[1] .. "_size"]
    if size ~= nil then
      out = out or {}
      out[g[2]] = { size = size, refill_time = t[g[1] .. "_refill_time"],
                    one_time_burst = t[g[1] .. "_one_time_burst"] }
    end
  end
  return out
end

--- One JSON object for a table of kind `kind`; `defaults` fills keys the
-- schema requires.
function M.object(kind, t, defaults)
  local o = {}
  for _, e in ipairs(fields.kinds[kind]) do
    local v = t[e.name]
    if v ~= nil and e.json ~= false then
      local key = e.json or e.name
      if e.enc == "enum" then o[key] = e.map[v] else o[key] = encode[e.enc](v) end
    end
  end
  o.rate_limiter_config = rate_limiter(t)
  for k, v in pairs(defaults or {}) do
    if o[k] == nil then o[k] = v end
  end
  return o
end

local LISTS = {
  { "disks", "disk", "disks" },
  { "fs", "fs", "fs", { num_queues = 1, queue_size = 1024 } },
  { "pmem", "pmem", "pmem" },
  { "devices", "device", "devices" },
  { "vdpa", "vdpa", "vdpa", { num_queues = 1 } },
  { "user_devices", "user_device", "user_devices" },
  { "landlock_rules", "landlock_rule", "landlock_rules" },
}

local SINGLE = {
  { "rng", "rng", { src = "/dev/urandom" } },
  { "vsock", "vsock" },
  { "balloon", "balloon" },
  { "serial", "serial" },
  { "console", "console" },
  { "debug_console", "debug_console" },
  { "platform", "platform" },
  { "tpm", "tpm" },
}

--- Nets with `fd` cannot go into vm.create (cloud-hypervisor ignores fds in
-- the body); they are returned separately for vm.add-net with SCM_RIGHTS.
function M.build(n)
  local vm = {}
  local payload = {
    kernel = n.kernel, firmware = n.firmware, initramfs = n.initramfs,
    cmdline = n.cmdline and n.cmdline:render() or nil,
  }
  vm.payload = payload
  if n.cpus then
    local c = M.object("cpus", n.cpus)
    c.boot_vcpus = c.boot_vcpus or c.max_vcpus or 1
    c.max_vcpus = c.max_vcpus or c.boot_vcpus
    vm.cpus = c
  end
  if n.memory then
    -- cloud-hypervisor's default size when only other memory keys are set
    vm.memory = M.object("memory", n.memory, { size = fields.bytes("512M") })
    if n.memory_zones and #n.memory_zones > 0 then
      local zones = {}
      for i, z in ipairs(n.memory_zones) do zones[i] = M.object("memory_zone", z) end
      vm.memory.zones = zones
    end
  end
  for _, l in ipairs(LISTS) do
    local list = n[l[1]]
    if list and #list > 0 then
      local out = {}
      for i, d in ipairs(list) do out[i] = M.object(l[2], d, l[4]) end
      vm[l[3]] = out
    end
  end
  local nets, hotplug = {}, {}
  for _, d in ipairs(n.net or {}) do
    local o = M.object("net", d)
    if d.fd then hotplug[#hotplug + 1] = { body = o, fds = copy_list(d.fd) } else nets[#nets + 1] = o end
  end
  if #nets > 0 then vm.net = nets end
  for _, s in ipairs(SINGLE) do
    if n[s[1]] then vm[s[1]] = M.object(s[2], n[s[1]], s[3]) end
  end
  if n.pvpanic ~= nil then vm.pvpanic = n.pvpanic end
  if n.watchdog ~= nil then vm.watchdog = n.watchdog end
  if n.landlock ~= nil then vm.landlock_enable = n.landlock end
  return vm, hotplug
end

return M
