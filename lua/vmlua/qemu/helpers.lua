--- Helpers that spare users QEMU's option soup, and the builder-protocol
-- methods the sandbox layer calls (add_share, set_serial_file,
-- set_control_socket, ...).
--
-- The module-level helpers return plain config fragments (a device, an
-- object, a QMP socket) to put in a `qemu.config{...}` table. The methods
-- change a config transactionally: the changed config is built first, and
-- only a config that still builds replaces the old one; otherwise the method
-- returns nil and the message.
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local O = require "vmlua.qemu.opts"
local objects = require "vmlua.qemu.objects"

local H = {}
local methods = {}

H.RAM_ID = "vmlua-ram"

local function check_args(schema, v, name)
  -- level 3: the caller of the helper that called check_args
  local ok, err = schema:check(v, name)
  if not ok then error(err, 3) end
end

-- A method's argument: the wrong Lua type is the caller's mistake (raised at
-- the caller); a value the config cannot take is returned as nil, message,
-- as every builder-contract setter does (docs/drivers.md).
local function method_args(schema, v, name, lua_type)
  if type(v) ~= lua_type then error(string.format("%s: expected a %s, got %s", name, lua_type, S.show(v)), 3) end
  return schema:check(v, name)
end
H.method_args = method_args

local shared_memory_args = S.record { size = F.size:req(), id = F.id }

--- A shared guest-RAM backend for vhost-user devices such as virtio-fs:
-- memory-backend-memfd,share=on that becomes the guest RAM.
function H.shared_memory(args)
  check_args(shared_memory_args, args, "shared_memory")
  return { type = "memory-backend-memfd", id = args.id or H.RAM_ID, size = O.ram_size(args.size),
           share = true, ram = true }
end

local virtiofs_args = S.record {
  tag = F.word:req(), socket = F.path:req(), queue_size = S.integer { min = 1, max = 1024 }, id = F.id,
}

local function fs_id(tag)
  return "fs-" .. tag:gsub("[^%w%-%._]", "_")
end

--- A virtio-fs share: a chardev to virtiofsd's socket + vhost-user-fs.
function H.virtiofs(args)
  check_args(virtiofs_args, args, "virtiofs")
  return { kind = "vhost_user", vhost_user_type = "fs", socket_path = args.socket,
           char_dev_id = args.id or fs_id(args.tag), tag = args.tag, queue_size = args.queue_size }
end

local serial_args = S.record({ file = F.path, socket = F.path, id = F.id },
                             { check = F.one_of({ "file", "socket" }, true) })

--- A serial port (the guest's ttyS0 for the first one) written to a file or
-- served on a unix socket.
function H.serial(args)
  check_args(serial_args, args, "serial")
  return { kind = "legacy_serial", file = args.file, socket = args.socket, id = args.id }
end

--- A QMP unix server socket at `path` that QEMU does not wait on.
function H.qmp_socket(path)
  check_args(F.path:req(), path, "qmp_socket")
  return { type = "unix", protocol = "qmp", name = path, server = true, no_wait = true }
end

-- ------------------------------------------------------------- methods

local function append(t, field, v)
  t[field] = t[field] or {}
  t[field][#t[field] + 1] = v
end

--- Apply `change` to a copy of the fields; keep it only if it builds.
local function transact(cfg, what, change)
  local copy = cfg:copy()
  local f = copy.fields
  local ok, err = change(f)
  if not ok then return nil, what .. ": " .. err end
  ok, err = copy:validate()
  if not ok then return nil, what .. ": " .. err end
  cfg.fields = f
  return true
end
H.transact = transact
H.append = append

local memory_knobs = { "huge_pages", "file_backed_mem", "mem_shared", "mem_prealloc" }

-- Where the guest RAM comes from (nil: QEMU's default RAM) and whether it
-- is shared memory a vhost-user backend can map (fd-based, share=on).
local function ram_source(f)
  for i, o in ipairs(f.objects or {}) do
    if o.ram then return S.join("objects", i), o.share == true and o.type ~= "memory-backend-ram" end
  end
  local k = f.knobs or {}
  if f.numa_nodes then
    for _, n in ipairs(f.numa_nodes) do
      if (n.mem_backend_type or "memory-backend-ram") == "memory-backend-ram" then return "numa_nodes", false end
    end
    return "numa_nodes", k.mem_shared == true
  end
  for _, n in ipairs(memory_knobs) do
    if k[n] then
      local fd_based = k.huge_pages == true or (k.file_backed_mem == true and (f.memory or {}).path ~= nil)
      return "knobs." .. n, k.mem_shared == true and fd_based
    end
  end
  return nil
end

local share_args = S.record {
  tag = F.word:req(), socket = F.path:req(), queue_size = S.integer { min = 1, max = 1024 },
}

--- Add a virtio-fs share (and, unless the guest RAM is already shared, the
-- shared memory backend sized from memory.size).
function methods:add_share(args)
  local ok, err = method_args(share_args, args, "add_share", "table")
  if not ok then return nil, err end
  return transact(self, "add_share", function(f)
    if not (f.memory and f.memory.size) then
      return nil, "memory.size is required (virtio-fs needs the guest RAM in a shared memory backend of that size)"
    end
    local n = 0
    for i, d in ipairs(f.devices or {}) do
      if d.kind == "vhost_user" and d.vhost_user_type == "fs" then
        n = n + 1
        if d.tag == args.tag then return nil, string.format("devices[%d] already shares tag %s", i, S.show(d.tag)) end
      end
    end
    append(f, "devices", H.virtiofs { tag = args.tag, socket = args.socket, queue_size = args.queue_size,
                                      id = "vmlua-fs" .. n })
    local source, shared = ram_source(f)
    if source and not shared then
      return nil, string.format("the guest RAM (%s) is not in shared memory that virtiofsd can map"
        .. " (use knobs.mem_shared with file_backed_mem or huge_pages, or leave the RAM backend to add_share)", source)
    end
    if not source then append(f, "objects", H.shared_memory { size = f.memory.size }) end
    return true
  end)
end

local function find_serial(f)
  for i, d in ipairs(f.devices or {}) do
    if d.kind == "legacy_serial" then return i, d end
  end
  return nil
end

--- Send the first serial port (the console) to a file.
function methods:set_serial_file(path)
  local ok, err = method_args(F.path:req(), path, "set_serial_file", "string")
  if not ok then return nil, err end
  return transact(self, "set_serial_file", function(f)
    local i = find_serial(f)
    if i then return nil, string.format("a serial port is already configured (devices[%d])", i) end
    for _, p in ipairs(f.extra_params or {}) do
      if p == "-serial" then return nil, "a serial port is already configured (extra_params)" end
    end
    append(f, "devices", H.serial { file = path })
    -- -nographic would put the monitor on stdio
    if (f.knobs or {}).no_graphic and f.monitor == nil then f.monitor = "none" end
    return true
  end)
end

--- The file the first serial port writes to, or nil.
function methods:serial_file()
  local f = self.fields
  local _, d = find_serial(f)
  if not d then return nil end
  if d.file then return d.file end
  if d.chardev then
    for _, c in ipairs(f.devices or {}) do
      if c.kind == "char" and c.id == d.chardev and c.backend == "file" then return c.path end
    end
  end
  return nil
end

local function find_control(f)
  for i, q in ipairs(f.qmp_sockets or {}) do
    if (q.protocol or "qmp") == "qmp" and q.name and q.server then return i, q end
  end
  return nil
end

--- Add a QMP unix server socket (server=on,wait=off) at `path`.
function methods:set_control_socket(path)
  local ok, err = method_args(F.path:req(), path, "set_control_socket", "string")
  if not ok then return nil, err end
  return transact(self, "set_control_socket", function(f)
    local i, q = find_control(f)
    if q then
      if q.name == path then return true end
      return nil, string.format("a QMP control socket is already configured (qmp_sockets[%d]: %s)", i, q.name)
    end
    append(f, "qmp_sockets", H.qmp_socket(path))
    return true
  end)
end

--- The path of the QMP control socket, or nil.
function methods:control_socket()
  local _, q = find_control(self.fields)
  return q and q.name
end

local file_fields = { block = "file", loader = "file" }
local firmware_types = { ["tdx-guest"] = true, ["sev-guest"] = true, ["sev-snp-guest"] = true }

--- The host files QEMU opens at start: { { field =, path = }, ... } for
-- `vmlua check` to verify they exist.
function methods:kernel_files()
  local f, out = self.fields, {}
  local function add(field, path) if path then out[#out + 1] = { field = field, path = path } end end
  local k = f.kernel or {}
  add("kernel.path", k.path)
  add("kernel.initrd", k.initrd)
  add("kernel.initrd_path", k.initrd_path)
  add("bios", f.bios)
  for i, p in ipairs(f.pflash or {}) do add(S.join("pflash", i), p) end
  for i, d in ipairs(f.devices or {}) do
    local field = file_fields[d.kind]
    if field then add(S.join("devices", i) .. "." .. field, d[field]) end
  end
  for i, o in ipairs(f.objects or {}) do
    if firmware_types[o.type] then add(S.join("objects", i) .. ".file", o.file) end
  end
  for i, e in ipairs(f.fw_cfg or {}) do add(S.join("fw_cfg", i) .. ".file", e.file) end
  return out
end

--- Every unix socket path the argv names, with the field that names it:
-- { { field = "devices[2].socket_path", path = ... }, ... }.
function methods:socket_entries()
  local f, out = self.fields, {}
  local function add(field, path)
    if path then out[#out + 1] = { field = field, path = path } end
  end
  for i, q in ipairs(f.qmp_sockets or {}) do add(S.join("qmp_sockets", i) .. ".name", q.name) end
  for i, d in ipairs(f.devices or {}) do
    local p = S.join("devices", i)
    if d.kind == "char" and d.backend == "socket" then add(p .. ".path", d.path) end
    if d.kind == "legacy_serial" then add(p .. ".socket", d.socket) end
    if d.kind == "vhost_user" then add(p .. ".socket_path", d.socket_path) end
  end
  for i, o in ipairs(f.objects or {}) do
    if o.type == "tdx-guest" and not o.qgs_port then
      add(S.join("objects", i) .. ".qgs_socket", o.qgs_socket or objects.QGS_SOCKET)
    end
  end
  return out
end

--- The paths of socket_entries(), in the same order (for the sun_path check).
function methods:socket_paths()
  local out = {}
  for i, e in ipairs(self:socket_entries()) do out[i] = e.path end
  return out
end

H.methods = methods
return H
