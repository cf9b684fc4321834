--- The schema of a QEMU config: govmm's Config in snake_case, plus the
-- fields vmlua adds (monitor, display, log_file). Cross-section rules that
-- need the whole config (memory vs NUMA, fd numbering, ids, transports) are
-- checked while the argv is built (vmlua.qemu.emit).
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local O = require "vmlua.qemu.opts"
local fds = require "vmlua.qemu.fds"
local devices = require "vmlua.qemu.devices"
local objects = require "vmlua.qemu.objects"

local M = {}

--- kernel.params: a string, a list of strings, or an object with a
-- `:render()` method (vmlua.params).
M.params = S.custom(function(v, path)
  if type(v) == "string" then return true end
  if type(v) == "table" or type(v) == "userdata" then
    local ok, render = pcall(function() return v.render end)
    if ok and render ~= nil then
      if type(render) ~= "function" and not (getmetatable(render) or {}).__call then
        return S.fail(path, "render must be a method, got %s", S.show(render))
      end
      return true
    end
    if type(v) == "table" and S.is_array(v) then
      for i, p in ipairs(v) do
        if type(p) ~= "string" then
          return S.fail(S.join(path, i), "expected a string, got %s", S.show(p))
        end
      end
      return true
    end
  end
  return S.fail(path, "expected a string, a list of strings or a params object (with :render()), got %s", S.show(v))
end)

-- -m takes whole MiB when given as an integer number of bytes.
local mem_size = S.custom(function(v, path)
  local ok, err = F.size:check(v, path)
  if not ok then return nil, err end
  if math.type(v) == "integer" and v % O.MiB ~= 0 then
    return S.fail(path, "an integer size is bytes and must be a multiple of 1 MiB (1048576), got %d", v)
  end
  return true
end)

M.machine = S.record {
  type = F.word,
  accel = F.raw,
  options = F.raw,
}

M.qmp_socket = S.record({
  type = F.enum { "unix" },
  protocol = F.enum { "qmp", "hmp", "qmp-pretty" },
  name = F.path,
  fd = fds.ref,
  server = F.bool,
  no_wait = F.bool,
}, { check = F.checks(F.one_of({ "name", "fd" }, true),
                      F.only_when("no_wait", function(q) return q.server end, "with server = true")) })

M.rtc = S.record {
  base = F.word,
  clock = F.enum { "host", "rt", "vm" },
  drift_fix = F.enum { "slew", "none" },
}

M.kernel = S.record({
  path = F.path:req(),
  initrd = F.path,
  initrd_path = F.path,
  params = M.params,
}, { check = F.one_of { "initrd", "initrd_path" } })

M.memory = S.record {
  size = mem_size:req(),
  slots = S.integer { min = 1, max = 255 },
  max_mem = mem_size,
  path = F.path,
}

M.smp = S.record({
  cpus = F.count:req(),
  cores = F.count,
  threads = F.count,
  sockets = F.count,
  max_cpus = F.count,
}, { check = function(s, path)
  if s.max_cpus and s.max_cpus < s.cpus then
    return S.fail(S.join(path, "max_cpus"), "must be >= cpus (%d), got %d", s.cpus, s.max_cpus)
  end
  return true
end })

M.knob_names = { "no_user_config", "no_defaults", "no_graphic", "no_reboot", "no_shutdown", "mlock", "stopped",
                 "iommu_platform", "huge_pages", "mem_prealloc", "file_backed_mem", "mem_shared" }
local knob_fields = {}
for _, k in ipairs(M.knob_names) do knob_fields[k] = F.bool end
M.knobs = S.record(knob_fields)

local function needs_type(t)
  return function(i) return i.migration_type == t end
end

M.incoming = S.record({
  migration_type = F.enum({ "fd", "exec", "defer" }):req(),
  fd = fds.ref,
  exec = F.raw,
}, { check = F.checks(F.needed_when("fd", needs_type("fd"), "with migration_type = \"fd\""),
                      F.only_when("fd", needs_type("fd"), "with migration_type = \"fd\""),
                      F.needed_when("exec", needs_type("exec"), "with migration_type = \"exec\""),
                      F.only_when("exec", needs_type("exec"), "with migration_type = \"exec\"")) })

M.fw_cfg = S.record({
  name = F.word:req(),
  file = F.path,
  str = S.string { nonempty = true },
}, { check = F.one_of({ "file", "str" }, true) })

M.iothread = S.either({ F.id, S.record { id = F.id:req() } },
                      { describe = "an iothread id or a table { id = ... }" })

local backend_types = { "memory-backend-ram", "memory-backend-file", "memory-backend-memfd" }
local function file_backend(n) return n.mem_backend_type == "memory-backend-file" end

M.numa_node = S.record({
  node_id = F.uint:req(),
  cpus = F.word,
  mem_size = F.size:req(),
  host_nodes = F.word,
  mem_backend_type = F.enum(backend_types),
  mem_backend_path = F.path,
}, { check = F.checks(F.needed_when("mem_backend_path", file_backend, "with memory-backend-file"),
                      F.only_when("mem_backend_path", file_backend, "with memory-backend-file")) })

M.numa_dist = S.record {
  src = F.uint:req(),
  dst = F.uint:req(),
  val = S.integer({ min = 10, max = 255 }):req(),
}

local strings = S.array(S.string())

M.config = S.record {
  path = F.path,
  name = S.string { nonempty = true },
  uuid = S.string { pattern = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$",
                    pattern_help = "must be a UUID such as \"4cb19522-1e18-439a-883a-f9b2a3a95f5e\"" },
  cpu_model = F.raw,
  seccomp_sandbox = F.raw,
  machine = M.machine,
  qmp_sockets = S.array(M.qmp_socket),
  monitor = F.raw,
  devices = S.array(devices.schema),
  objects = S.array(objects.schema),
  rtc = M.rtc,
  vga = F.word,
  display = F.raw,
  kernel = M.kernel,
  memory = M.memory,
  smp = M.smp,
  global_param = S.either({ F.raw, S.array(F.raw) }, { describe = "a string or a list of strings" }),
  knobs = M.knobs,
  bios = F.path,
  pflash = S.array(F.path),
  incoming = M.incoming,
  fw_cfg = S.array(M.fw_cfg),
  iothreads = S.array(M.iothread),
  numa_nodes = S.array(M.numa_node),
  numa_dists = S.array(M.numa_dist),
  pid_file = F.path,
  log_file = F.path,
  debug = F.bool,
  extra_params = strings,
  fds = S.array(fds.entry),
}

return M
