--- From a checked `clh.config{}` table to the normalized form both emitters
-- read (shorthands expanded, implied values filled in), and the rules that
-- span several fields.

local S = require "vmlua.schema"
local params = require "vmlua.params"
local fields = require "vmlua.clh.fields"
local openfile = require "vmlua.openfile"

local M = {}

--- cloud-hypervisor's default guest memory, used when shared memory must be
-- requested and the recipe gave no size.
M.DEFAULT_MEMORY = "512M"

local function deep_copy(v, seen)
  if type(v) ~= "table" or openfile.is_file(v) then return v end
  if params.is_params(v) then return v:copy() end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in pairs(v) do out[deep_copy(k, seen)] = deep_copy(x, seen) end
  return setmetatable(out, getmetatable(v))
end
M.deep_copy = deep_copy

--- Which entries need guest memory that vhost-user back-ends can map: every
-- virtio-fs share and every vhost-user disk or net. Returns a list of paths.
function M.shared_memory_users(cfg)
  local users = {}
  for i in ipairs(cfg.fs or {}) do users[#users + 1] = S.join("fs", i) end
  for _, list in ipairs { "disks", "net" } do
    for i, d in ipairs(cfg[list] or {}) do
      if d.vhost_user or d.socket then users[#users + 1] = S.join(list, i) end
    end
  end
  return users
end

local function console_mode(t)
  if type(t) == "string" then return { mode = t } end
  local c = deep_copy(t)
  if c.mode == nil then
    if c.file ~= nil then c.mode = "file" elseif c.socket ~= nil then c.mode = "socket" end
  end
  return c
end

local function socket_ref(v)
  if type(v) == "string" then return { path = v } end
  return deep_copy(v)
end

--- The normalized plain table (a copy; `cfg` is not changed).
function M.normalize(cfg)
  local n = {}
  for k, v in pairs(cfg) do n[k] = deep_copy(v) end
  if math.type(n.cpus) == "integer" then n.cpus = { boot = n.cpus } end
  if n.memory ~= nil and type(n.memory) ~= "table" then n.memory = { size = n.memory } end
  if n.api_socket ~= nil then n.api_socket = socket_ref(n.api_socket) end
  if n.event_monitor ~= nil then n.event_monitor = socket_ref(n.event_monitor) end
  for _, k in ipairs { "serial", "console", "debug_console" } do
    if n[k] ~= nil then n[k] = console_mode(n[k]) end
  end
  for _, list in ipairs { "disks", "net" } do
    for _, d in ipairs(n[list] or {}) do
      if d.socket ~= nil and d.vhost_user == nil then d.vhost_user = true end
    end
  end
  for _, d in ipairs(n.net or {}) do
    if d.fd ~= nil and (type(d.fd) ~= "table" or getmetatable(d.fd) ~= nil) then d.fd = { d.fd } end
  end
  if n.cmdline ~= nil then n.cmdline = params.new(n.cmdline) end
  -- with memory zones, the zones hold the memory and --memory size is 0
  if n.memory_zones and #n.memory_zones > 0 then
    n.memory = n.memory or {}
    if n.memory.size == nil then n.memory.size = 0 end
  end
  if #M.shared_memory_users(n) > 0 then
    n.memory = n.memory or {}
    if n.memory.shared == nil then n.memory.shared = true end
    if n.memory.size == nil then n.memory.size = M.DEFAULT_MEMORY end
    for _, z in ipairs(n.memory_zones or {}) do
      if z.shared == nil and not z.hugepages then z.shared = true end
    end
  end
  return n
end

-- ------------------------------------------------------------ rules

local fail = S.fail

local function check_payload(n)
  if n.kernel == nil and n.firmware == nil then
    return fail("kernel", "missing (required: cloud-hypervisor boots a kernel or a firmware; give kernel or firmware)")
  end
  return true
end

local function check_cpus(n)
  local c = n.cpus
  if c == nil then return true end
  if c.max ~= nil and c.boot ~= nil and c.boot > c.max then
    return fail("cpus.boot", "must be <= cpus.max (%d), got %d", c.max, c.boot)
  end
  local max = c.max or c.boot or 1
  if c.topology ~= nil then
    local t = c.topology
    if type(t) == "string" then
      local a, b, d, e = t:match("^(%d+):(%d+):(%d+):(%d+)$")
      t = { tonumber(a), tonumber(b), tonumber(d), tonumber(e) }
    else
      local list = {}
      for i, k in ipairs(fields.TOPOLOGY_KEYS) do list[i] = t[k] end
      t = list
    end
    local product = math.tointeger(t[1] * t[2] * t[3] * t[4])
    if product ~= max then
      return fail("cpus.topology", "threads_per_core * cores_per_die * dies_per_package * packages = %d, " ..
                  "but the maximum vCPU count is %d (they must be equal)", product, max)
    end
  end
  for i, a in ipairs(c.affinity or {}) do
    if a.vcpu >= max then
      return fail(S.join(S.join("cpus.affinity", i), "vcpu"),
                  "must be < %d (the maximum vCPU count), got %d", max, a.vcpu)
    end
  end
  return true
end

local function check_memory(cfg, n)
  local m = type(cfg.memory) == "table" and cfg.memory or {}
  if m.hugepage_size ~= nil and not m.hugepages then
    return fail("memory.hugepage_size", "only with hugepages = true")
  end
  for i, z in ipairs(cfg.memory_zones or {}) do
    if z.hugepage_size ~= nil and not z.hugepages then
      return fail(S.join(S.join("memory_zones", i), "hugepage_size"), "only with hugepages = true")
    end
  end
  local users = M.shared_memory_users(n)
  if #users > 0 then
    -- cloud-hypervisor: "Using vhost-user requires using shared memory or huge pages"
    if m.shared == false and not m.hugepages then
      return fail("memory.shared", "must be true: %s needs shared guest memory (virtio-fs and vhost-user " ..
                  "back-ends map it), got false", users[1])
    end
    for i, z in ipairs(cfg.memory_zones or {}) do
      if z.shared == false and not z.hugepages then
        return fail(S.join(S.join("memory_zones", i), "shared"),
                    "must be true: %s needs shared guest memory, got false", users[1])
      end
    end
  end
  return true
end

local function check_rate_limits(d, path)
  for _, g in ipairs { "bw", "ops" } do
    local size, refill, burst = d[g .. "_size"], d[g .. "_refill_time"], d[g .. "_one_time_burst"]
    if size ~= nil and refill == nil then
      return fail(S.join(path, g .. "_refill_time"), "missing (required with %s_size)", g)
    end
    if size == nil and (refill ~= nil or burst ~= nil) then
      return fail(S.join(path, g .. "_size"), "missing (required with %s)",
                  refill ~= nil and (g .. "_refill_time") or (g .. "_one_time_burst"))
    end
  end
  return true
end

local function check_vhost(d, path, cfg_entry)
  if cfg_entry.vhost_user == true and d.socket == nil then
    return fail(S.join(path, "socket"), "missing (required when vhost_user is true)")
  end
  if cfg_entry.vhost_user == false and d.socket ~= nil then
    return fail(S.join(path, "vhost_user"), "must be true with socket (a vhost-user back-end), got false")
  end
  return true
end

-- Check every entry of a device list (disks, net) whose rules share the
-- vhost-user and rate-limit checks; `own(d, path)` adds the list's own.
local function check_devices(cfg, n, list, own)
  for i, d in ipairs(n[list] or {}) do
    local path = S.join(list, i)
    local ok, err = check_vhost(d, path, cfg[list][i])
    if ok then ok, err = own(d, path) end
    if ok then ok, err = check_rate_limits(d, path) end
    if not ok then return nil, err end
  end
  return true
end

local function check_disk(d, path)
  if d.vhost_user then
    if d.path ~= nil then
      return fail(S.join(path, "path"), "a vhost-user disk takes socket, not path")
    end
  elseif d.path == nil then
    return fail(S.join(path, "path"), "missing (required)")
  end
  return true
end

local function check_net(d, path)
  local given = {}
  for _, k in ipairs { "tap", "fd", "socket" } do
    if d[k] ~= nil then given[#given + 1] = k end
  end
  if #given == 0 then
    return fail(path, "needs one of tap (an existing tap device), fd (open tap fds) or socket (vhost-user)")
  elseif #given > 1 then
    return fail(path, "give only one of tap, fd and socket, got %s", table.concat(given, " and "))
  end
  if d.vhost_mode ~= nil and d.socket == nil then
    return fail(S.join(path, "vhost_mode"), "only with socket (a vhost-user net)")
  end
  if d.num_queues ~= nil and d.num_queues % 2 ~= 0 then
    return fail(S.join(path, "num_queues"), "must be even (one receive and one transmit queue per pair), got %d",
                d.num_queues)
  end
  return true
end

local function check_console(n, key)
  local c = n[key]
  if c == nil then return true end
  if c.mode == nil then return fail(S.join(key, "mode"), "missing (required)") end
  for _, k in ipairs { "file", "socket" } do
    if c.mode == k and c[k] == nil then
      return fail(S.join(key, k), "missing (required when mode is %q)", k)
    end
    if c.mode ~= k and c[k] ~= nil then
      return fail(S.join(key, k), "only with mode %q, got mode %q", k, c.mode)
    end
  end
  return true
end

-- Every entry that can carry `id` / `pci_segment`, with its path.
local function devices(n)
  local out = {}
  for list in pairs(fields.list_kind) do
    for i, d in ipairs(n[list] or {}) do out[#out + 1] = { path = S.join(list, i), d = d } end
  end
  for _, k in ipairs { "rng", "vsock", "balloon", "console" } do
    if n[k] ~= nil then out[#out + 1] = { path = k, d = n[k] } end
  end
  table.sort(out, function(a, b) return a.path < b.path end)
  return out
end

local function check_ids(n)
  local segments = (n.platform and n.platform.num_pci_segments) or 1
  local seen, tags = {}, {}
  for _, e in ipairs(devices(n)) do
    local d = e.d
    if d.pci_segment ~= nil and d.pci_segment >= segments then
      return fail(S.join(e.path, "pci_segment"), "must be < %d (platform.num_pci_segments), got %d",
                  segments, d.pci_segment)
    end
    if d.id ~= nil and not e.path:match("^memory_zones") and not e.path:match("^landlock") then
      if seen[d.id] then
        return fail(S.join(e.path, "id"), "duplicate id %q (also %s.id)", d.id, seen[d.id])
      end
      seen[d.id] = e.path
    end
  end
  for i, f in ipairs(n.fs or {}) do
    if tags[f.tag] then
      return fail(S.join(S.join("fs", i), "tag"), "duplicate tag %q (also %s.tag)", f.tag, tags[f.tag])
    end
    tags[f.tag] = S.join("fs", i)
  end
  local zones = {}
  for i, z in ipairs(n.memory_zones or {}) do
    if zones[z.id] then
      return fail(S.join(S.join("memory_zones", i), "id"), "duplicate id %q (also %s.id)", z.id, zones[z.id])
    end
    zones[z.id] = S.join("memory_zones", i)
  end
  for i, s in ipairs((n.platform and n.platform.iommu_segments) or {}) do
    if s >= segments then
      return fail(S.join("platform.iommu_segments", i), "must be < %d (platform.num_pci_segments), got %d",
                  segments, s)
    end
  end
  return true
end

--- The rules across fields, on a table that passed the schema. Returns
-- true | nil, "path: message".
function M.check(cfg)
  local n = M.normalize(cfg)
  local ok, err = check_payload(n)
  if ok then ok, err = check_cpus(n) end
  if ok then ok, err = check_memory(cfg, n) end
  if ok then ok, err = check_devices(cfg, n, "disks", check_disk) end
  if ok then ok, err = check_devices(cfg, n, "net", check_net) end
  for _, k in ipairs { "serial", "console", "debug_console" } do
    if ok then ok, err = check_console(n, k) end
  end
  if ok then ok, err = check_ids(n) end
  if not ok then return nil, err end
  return true
end

return M
