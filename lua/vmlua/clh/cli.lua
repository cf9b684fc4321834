--- cloud-hypervisor's command line from a normalized config
-- (../shared/reference/cloud-hypervisor-cli.md): each option value is one
-- argv element of `key=value` pairs; options that take several devices
-- (--disk, --net, --fs, --pmem, --device, ...) get one flag followed by one
-- element per device.

local fields = require "vmlua.clh.fields"

local M = {}

local function join(list, sep)
  local out = {}
  for i, v in ipairs(list) do out[i] = tostring(v) end
  return table.concat(out, sep or ",")
end

local encode = {
  str = tostring,
  int = function(v) return tostring(math.tointeger(v)) end,
  bool = function(v) return v and "on" or "off" end,
  size = fields.cli_size,
  enum = tostring,
  hex = function(v) return string.format("0x%x", v) end,
  list = function(v) return "[" .. join(v) .. "]" end,
  fd = function(v) return "[" .. join(v) .. "]" end,
  features = function(v) return "[" .. join(v) .. "]" end,
  topology = function(v)
    if type(v) == "string" then return v end
    local parts = {}
    for i, k in ipairs(fields.TOPOLOGY_KEYS) do parts[i] = v[k] end
    return join(parts, ":")
  end,
  affinity = function(v)
    local parts = {}
    for i, a in ipairs(v) do parts[i] = string.format("%d@[%s]", a.vcpu, join(a.host_cpus)) end
    return "[" .. join(parts) .. "]"
  end,
}

--- One `key=value,...` element for a table of kind `kind`.
function M.element(kind, t)
  local parts = {}
  local skip = {}
  -- consoles: the mode comes first, bare or as file=/socket=
  if t.mode ~= nil then
    if t.mode == "file" or t.mode == "socket" then
      parts[1] = t.mode .. "=" .. t[t.mode]
    else
      parts[1] = t.mode
    end
    skip.mode, skip.file, skip.socket = true, true, true
  end
  for _, e in ipairs(fields.kinds[kind]) do
    local v = t[e.name]
    if v ~= nil and not skip[e.name] and e.cli ~= false then
      parts[#parts + 1] = (e.cli or e.name) .. "=" .. encode[e.enc](v)
    end
  end
  return table.concat(parts, ",")
end

local function add(argv, ...)
  for i = 1, select("#", ...) do argv[#argv + 1] = select(i, ...) end
end

local function socket_ref(t)
  if t.fd ~= nil then return "fd=" .. t.fd end
  return "path=" .. t.path
end

--- The VMM-level options (no VM config): what Kata passes when it drives
-- the VM through the REST API.
function M.vmm_options(argv, n)
  if n.api_socket then add(argv, "--api-socket", socket_ref(n.api_socket)) end
  for _ = 1, n.verbosity or 0 do add(argv, "-v") end
  if n.log_file then add(argv, "--log-file", n.log_file) end
  if n.log_format then add(argv, "--log-format", n.log_format) end
  if n.seccomp ~= nil then add(argv, "--seccomp", tostring(n.seccomp)) end
  if n.event_monitor then add(argv, "--event-monitor", socket_ref(n.event_monitor)) end
  return argv
end

-- The multi-device options, in emit order: flag, config key, kind.
local MULTI = {
  { "--memory-zone", "memory_zones", "memory_zone" },
  { "--disk", "disks", "disk" },
  { "--net", "net", "net" },
  { "--fs", "fs", "fs" },
  { "--pmem", "pmem", "pmem" },
  { "--device", "devices", "device" },
  { "--vdpa", "vdpa", "vdpa" },
  { "--user-device", "user_devices", "user_device" },
}
M.MULTI = MULTI

-- Single-device options after the lists: flag, config key, kind.
local SINGLE = {
  { "--rng", "rng", "rng" },
  { "--vsock", "vsock", "vsock" },
  { "--balloon", "balloon", "balloon" },
  { "--serial", "serial", "serial" },
  { "--console", "console", "console" },
  { "--debug-console", "debug_console", "debug_console" },
  { "--platform", "platform", "platform" },
  { "--tpm", "tpm", "tpm" },
}

--- The files the nets name (`fd`), numbered as cloud-hypervisor sees them:
-- entry i of the returned list is passed as fd 2+i (core.spawn's `fds`),
-- each file once, and every net's `fd` list in `n` becomes those numbers.
function M.number_fds(n)
  local files, number = {}, {}
  for _, d in ipairs(n.net or {}) do
    if d.fd then
      local nums = {}
      for i, f in ipairs(d.fd) do
        if not number[f] then
          files[#files + 1] = f
          number[f] = #files + 2
        end
        nums[i] = number[f]
      end
      d.fd = nums
    end
  end
  return files
end

--- The full command line (argv[1] = binary) for a normalized config.
function M.argv(binary, n)
  local argv = { binary }
  M.number_fds(n)
  M.vmm_options(argv, n)
  if n.cpus then add(argv, "--cpus", M.element("cpus", n.cpus)) end
  if n.memory then add(argv, "--memory", M.element("memory", n.memory)) end
  if n.kernel then add(argv, "--kernel", n.kernel) end
  if n.firmware then add(argv, "--firmware", n.firmware) end
  if n.initramfs then add(argv, "--initramfs", n.initramfs) end
  if n.cmdline then add(argv, "--cmdline", n.cmdline:render()) end
  for _, m in ipairs(MULTI) do
    local list = n[m[2]]
    if list and #list > 0 then
      add(argv, m[1])
      for _, d in ipairs(list) do add(argv, M.element(m[3], d)) end
    end
  end
  for _, s in ipairs(SINGLE) do
    if n[s[2]] then add(argv, s[1], M.element(s[3], n[s[2]])) end
  end
  if n.pvpanic then add(argv, "--pvpanic") end
  if n.watchdog then add(argv, "--watchdog") end
  if n.landlock then add(argv, "--landlock") end
  if n.landlock_rules and #n.landlock_rules > 0 then
    add(argv, "--landlock-rules")
    for _, r in ipairs(n.landlock_rules) do add(argv, M.element("landlock_rule", r)) end
  end
  if n.no_shutdown then add(argv, "--no-shutdown") end
  for _, a in ipairs(n.extra_args or {}) do add(argv, a) end
  return argv
end

return M
