--- The Config sections of the argv, emitted in govmm's LaunchQemu order
-- (see vmlua.qemu.emit). Each section takes the build context and the
-- fields; rules that span sections (memory vs NUMA, RAM backends, SMP vs
-- NUMA) are checked here.
local S = require "vmlua.schema"
local O = require "vmlua.qemu.opts"
local devices = require "vmlua.qemu.devices"
local objects = require "vmlua.qemu.objects"

local M = {}

local function name(c, f)
  if f.name == nil and not f.debug then return end
  local o = O.new(f.name and O.escape(f.name))
  if f.debug then o:raw("debug-threads=on") end
  c:emit("name", { "-name", o:str() })
end

local function machine(c, f)
  local m = f.machine
  if not m or (m.type == nil and m.accel == nil and m.options == nil) then return end
  local o = O.new(m.type)
  if m.accel then o:raw("accel=" .. m.accel) end
  if m.options then o:raw(m.options) end
  c:emit("machine", { "-machine", o:str() })
end

local protocol_option = { qmp = "-qmp", hmp = "-monitor", ["qmp-pretty"] = "-qmp-pretty" }

local function qmp_sockets(c, f)
  for i, q in ipairs(f.qmp_sockets or {}) do
    local path = S.join("qmp_sockets", i)
    local addr
    if q.fd ~= nil then
      addr = string.format("unix:fd=%d", c:fd(q.fd, path .. ".fd"))
    else
      addr = "unix:path=" .. O.escape(q.name)
    end
    local o = O.new(addr)
    if q.server then
      o:raw("server=on")
      if q.no_wait then o:raw("wait=off") end
    end
    c:emit(path, { protocol_option[q.protocol or "qmp"], o:str() })
  end
  if f.monitor then c:emit("monitor", { "-monitor", f.monitor }) end
end

local function memory(c, f)
  local m = f.memory
  if not m then return end
  local o = O.new(O.mem_size(m.size)):opt("slots", m.slots)
  if m.max_mem then o:raw("maxmem=" .. O.mem_size(m.max_mem)) end
  c:emit("memory", { "-m", o:str() })
end

local function device_list(c, f)
  for i, d in ipairs(f.devices or {}) do
    local path = S.join("devices", i)
    c:emit(path, devices.emit(d, c, path))
  end
  for i, d in ipairs(f.objects or {}) do
    local path = S.join("objects", i)
    c:emit(path, objects.emit(d, c, path))
  end
end

local function rtc(c, f)
  local r = f.rtc
  if not r then return end
  local o = O.new():opt("base", r.base):opt("driftfix", r.drift_fix):opt("clock", r.clock)
  if #o.parts > 0 then c:emit("rtc", { "-rtc", o:str() }) end
end

local function single(c, f, field, option)
  local v = f[field]
  if v == nil then return end
  if type(v) == "table" then
    for i, x in ipairs(v) do c:emit(S.join(field, i), { option, x }) end
  else
    c:emit(field, { option, v })
  end
end

-- Modern virtio-mmio for mmio devices, unless global_param decides.
local function globals(c, f)
  local g = f.global_param
  local list = type(g) == "table" and g or { g }
  local user_decides = false
  for _, x in ipairs(list) do
    if x:find("^virtio%-mmio%.force%-legacy=") then user_decides = true end
  end
  if c.mmio_used and not user_decides then
    c:emit("global_param", { "-global", "virtio-mmio.force-legacy=false" })
  end
  single(c, f, "global_param", "-global")
end

-- numa_nodes replace the single guest-RAM backend (govmm's appendMemoryKnobs).
local function numa(c, f)
  local path = "numa_nodes"
  if not f.memory then c:fail(path, "needs memory.size (the nodes' mem_size must add up to it)") end
  if c.microvm then c:fail(path, "the microvm machine has no NUMA support") end
  if c.knobs.huge_pages or c.knobs.file_backed_mem then
    c:fail("knobs", "huge_pages and file_backed_mem do not apply to numa_nodes"
      .. " (use their mem_backend_type/mem_backend_path)")
  end
  local total, ids = 0, {}
  for i, n in ipairs(f.numa_nodes) do
    local npath = S.join(path, i)
    if ids[n.node_id] then
      c:fail(npath .. ".node_id", "node %d is already defined by %s", n.node_id, ids[n.node_id])
    end
    ids[n.node_id] = npath
    total = total + O.bytes(n.mem_size, 1)
    local id = string.format("numa-mem%d", n.node_id)
    local o = O.new(n.mem_backend_type or "memory-backend-ram"):add("id", id):add("size", O.obj_size(n.mem_size))
    o:opt("mem-path", n.mem_backend_path)
    if n.host_nodes then o:add("host-nodes", n.host_nodes):raw("policy=bind") end
    if c.knobs.mem_shared then o:raw("share=on") end
    if c.knobs.mem_prealloc then o:raw("prealloc=on") end
    local node = O.new("node"):add("nodeid", n.node_id):add("memdev", id):opt("cpus", n.cpus)
    c:emit(npath, { "-object", o:str(), "-numa", node:str() })
  end
  local want = O.bytes(f.memory.size, O.MiB)
  if total ~= want then
    c:fail(path, "the nodes' mem_size add up to %d bytes, but memory.size is %s (%d bytes)", total,
           S.show(f.memory.size), want)
  end
  for i, d in ipairs(f.numa_dists or {}) do
    local dpath = S.join("numa_dists", i)
    if not ids[d.src] then c:fail(dpath .. ".src", "no NUMA node %d in numa_nodes", d.src) end
    if not ids[d.dst] then c:fail(dpath .. ".dst", "no NUMA node %d in numa_nodes", d.dst) end
    c:emit(dpath, { "-numa", string.format("dist,src=%d,dst=%d,val=%d", d.src, d.dst, d.val) })
  end
  local smp = f.smp
  if #f.numa_nodes > 1 and smp and smp.max_cpus then
    local n = (smp.sockets or 1) * (smp.cores or 1) * (smp.threads or 1)
    if smp.max_cpus ~= n then
      c:fail("smp.max_cpus", "must equal sockets*cores*threads (%d) with several NUMA nodes, got %d", n, smp.max_cpus)
    end
  end
end

local memory_knobs = { "huge_pages", "file_backed_mem", "mem_shared", "mem_prealloc" }

-- The guest-RAM backend asked for by the memory knobs ("dimm1", as govmm).
local function memory_backend(c, f)
  local k = c.knobs
  local wanted
  for _, n in ipairs(memory_knobs) do if k[n] then wanted = wanted or n end end
  if not wanted then return end
  if not f.memory then c:fail("knobs." .. wanted, "needs memory.size (it configures the guest RAM backend)") end
  local size = O.ram_size(f.memory.size)
  local o
  if k.huge_pages then
    o = O.new("memory-backend-file"):add("id", "dimm1"):add("size", size):add("mem-path", "/dev/hugepages")
  elseif k.file_backed_mem then
    if not f.memory.path then c:fail("knobs.file_backed_mem", "needs memory.path (the file backing the guest RAM)") end
    o = O.new("memory-backend-file"):add("id", "dimm1"):add("size", size):add("mem-path", f.memory.path)
  else
    o = O.new("memory-backend-ram"):add("id", "dimm1"):add("size", size)
  end
  if k.mem_shared then o:raw("share=on") end
  if k.mem_prealloc then o:raw("prealloc=on") end
  local out = { "-object", o:str() }
  for _, a in ipairs(c:ram_backend("dimm1", size, "knobs." .. wanted)) do out[#out + 1] = a end
  c:emit("knobs." .. wanted, out)
end

local flag_knobs = { { "no_user_config", "-no-user-config" }, { "no_defaults", "-nodefaults" },
                     { "no_graphic", "-nographic" }, { "no_reboot", "--no-reboot" },
                     { "no_shutdown", "-no-shutdown" } }

local function knobs(c, f)
  local k = c.knobs
  for _, kf in ipairs(flag_knobs) do
    if k[kf[1]] then c:emit("knobs." .. kf[1], { kf[2] }) end
  end
  if f.numa_nodes then numa(c, f) else memory_backend(c, f) end
  if k.mlock then c:emit("knobs.mlock", { "-overcommit", "mem-lock=on" }) end
  if k.stopped then c:emit("knobs.stopped", { "-S" }) end
end

local function render_params(c, p)
  if type(p) == "string" then return p end
  local ok, render = pcall(function() return p.render end)
  if ok and render ~= nil then
    local done, s = pcall(render, p)
    if not done then c:fail("kernel.params", "render() failed: %s", tostring(s)) end
    if type(s) ~= "string" then c:fail("kernel.params", "render() returned %s, expected a string", S.show(s)) end
    return s
  end
  return table.concat(p, " ")
end

local function kernel(c, f)
  local k = f.kernel
  if not k then return end
  local out = { "-kernel", k.path }
  local initrd = k.initrd or k.initrd_path
  if initrd then out[#out + 1] = "-initrd"; out[#out + 1] = initrd end
  local params = k.params and render_params(c, k.params) or ""
  if params ~= "" then out[#out + 1] = "-append"; out[#out + 1] = params end
  c:emit("kernel", out)
end

local function bios(c, f)
  local b = f.bios or c.firmware_file
  if b then c:emit("bios", { "-bios", b }) end
end

local function iothreads(c, f)
  for i, t in ipairs(f.iothreads or {}) do
    local id = type(t) == "table" and t.id or t
    c:emit(S.join("iothreads", i), { "-object", "iothread,id=" .. id })
  end
end

local function incoming(c, f)
  local inc = f.incoming
  if not inc then return end
  local uri
  if inc.migration_type == "fd" then
    uri = string.format("fd:%d", c:fd(inc.fd, "incoming.fd"))
  elseif inc.migration_type == "exec" then
    uri = "exec:" .. inc.exec
  else
    uri = "defer"
  end
  -- govmm writes a second -S when knobs.stopped already wrote one
  local out = c.knobs.stopped and {} or { "-S" }
  out[#out + 1] = "-incoming"
  out[#out + 1] = uri
  c:emit("incoming", out)
end

local function fw_cfg(c, f)
  -- one -fw_cfg per entry (govmm accumulates all earlier entries into each)
  for i, e in ipairs(f.fw_cfg or {}) do
    local o = O.new():add("name", e.name)
    if e.file then o:add("file", e.file) else o:add("string", e.str) end
    c:emit(S.join("fw_cfg", i), { "-fw_cfg", o:str() })
  end
end

local function smp(c, f)
  local s = f.smp
  if not s then return end
  local o = O.new(string.format("%d", s.cpus)):opt("cores", s.cores):opt("threads", s.threads)
  o:opt("sockets", s.sockets):opt("maxcpus", s.max_cpus)
  c:emit("smp", { "-smp", o:str() })
end

local order = {
  name,
  function(c, f) single(c, f, "uuid", "-uuid") end,
  machine,
  function(c, f) single(c, f, "cpu_model", "-cpu") end,
  qmp_sockets, memory, device_list, rtc,
  globals,
  function(c, f) single(c, f, "pflash", "-pflash") end,
  function(c, f) single(c, f, "vga", "-vga") end,
  function(c, f) single(c, f, "display", "-display") end,
  knobs, kernel, bios, iothreads, incoming,
  function(c, f) single(c, f, "pid_file", "-pidfile") end,
  function(c, f) single(c, f, "log_file", "-D") end,
  fw_cfg,
  function(c, f) single(c, f, "seccomp_sandbox", "-sandbox") end,
  smp,
  function(c, f) for i, p in ipairs(f.extra_params or {}) do c:emit(S.join("extra_params", i), { p }) end end,
}

--- Emit every section into the context.
function M.run(c, f)
  for _, section in ipairs(order) do section(c, f) end
end

return M
