--- The convenience commands of vmlua.qmp's client: govmm's set (query_status,
-- stop, cont, quit, system_powerdown, device_add/del, blockdev_*, netdev_*,
-- chardev_*, object_*, getfd, balloon, migrate*, qom_*, dump_guest_memory,
-- ...), each a thin layer over Client:_execute. vmlua.qmp installs them as
-- client methods.
local json = require("vmlua.core").json
local check = require "vmlua.qmp.check"
local check_usable, check_opts, check_string, check_table = check.usable, check.opts, check.string, check.table
local limit, TIMEOUT_ONLY = check.limit, check.TIMEOUT_ONLY

local C = {}

--- The simple commands: method name -> QMP command, without arguments.
local SIMPLE = {
  query_status = "query-status",
  stop = "stop",
  cont = "cont",
  query_cpus_fast = "query-cpus-fast",
  query_hotpluggable_cpus = "query-hotpluggable-cpus",
  query_migrate = "query-migrate",
  query_qmp_schema = "query-qmp-schema",
}

for method, cmd in pairs(SIMPLE) do
  C[method] = function(self, opts)
    check_usable(self, method)
    opts = check_opts(opts, TIMEOUT_ONLY, method)
    return self:_execute(cmd, nil, limit(self, opts))
  end
end

--- quit: success whether QEMU answers first or just closes the connection.
function C:quit(opts)
  check_usable(self, "quit")
  opts = check_opts(opts, TIMEOUT_ONLY, "quit")
  return self:_execute("quit", nil, limit(self, opts))
end

--- system_powerdown, then wait for the POWERDOWN event (as govmm does).
-- Returns {}, the event.
function C:system_powerdown(opts)
  check_usable(self, "system_powerdown")
  opts = check_opts(opts, TIMEOUT_ONLY, "system_powerdown")
  return self:_execute_then_event("system_powerdown", nil, opts, "POWERDOWN", nil, "POWERDOWN event")
end

--- Commands whose arguments are one table: method -> QMP command.
local WITH_ARGS = {
  device_add = "device_add",
  blockdev_add = "blockdev-add",
  netdev_add = "netdev_add",
}

for method, cmd in pairs(WITH_ARGS) do
  C[method] = function(self, args, opts)
    check_usable(self, method)
    check_table(args, "the arguments", method)
    opts = check_opts(opts, TIMEOUT_ONLY, method)
    return self:_execute(cmd, args, limit(self, opts))
  end
end

--- Commands that take one string argument: method -> { command, member }.
local BY_NAME = {
  blockdev_del = { "blockdev-del", "node-name" },
  netdev_del = { "netdev_del", "id" },
  chardev_remove = { "chardev-remove", "id" },
  object_del = { "object-del", "id" },
  closefd = { "closefd", "fdname" },
  migrate_incoming = { "migrate-incoming", "uri" },
}

for method, spec in pairs(BY_NAME) do
  C[method] = function(self, value, opts)
    check_usable(self, method)
    check_string(value, spec[2], method)
    opts = check_opts(opts, TIMEOUT_ONLY, method)
    return self:_execute(spec[1], { [spec[2]] = value }, limit(self, opts))
  end
end

--- device_del, then wait for DEVICE_DELETED with data.device == id (as
-- govmm does). A PCI(e) device is only deleted once the guest acknowledges
-- the unplug. Returns {}, the event.
function C:device_del(id, opts)
  check_usable(self, "device_del")
  check_string(id, "id", "device_del")
  opts = check_opts(opts, TIMEOUT_ONLY, "device_del")
  local res, ev_or_err, class = self:_execute_then_event("device_del", { id = id }, opts, "DEVICE_DELETED",
                                                   { device = id }, string.format("DEVICE_DELETED event for '%s'", id))
  if res == nil and class == "timeout" and ev_or_err:find("DEVICE_DELETED", 1, true) then
    ev_or_err = ev_or_err .. " (a PCI device goes only once the guest acknowledges the unplug)"
  end
  return res, ev_or_err, class
end

--- chardev-add with a backend table: { type = "socket", data = {...} }.
function C:chardev_add(id, backend, opts)
  check_usable(self, "chardev_add")
  check_string(id, "id", "chardev_add")
  check_table(backend, "the backend", "chardev_add")
  opts = check_opts(opts, TIMEOUT_ONLY, "chardev_add")
  return self:_execute("chardev-add", { id = id, backend = backend }, limit(self, opts))
end

--- chardev-add of a unix socket (govmm's ExecuteCharDevUnixSocketAdd).
-- opts: server (default false), wait (servers only, default false: a
-- waiting server would stop QEMU until a client connects), reconnect
-- (seconds, clients only), timeout.
function C:chardev_add_unix_socket(id, path, opts)
  check_usable(self, "chardev_add_unix_socket")
  check_string(id, "id", "chardev_add_unix_socket")
  check_string(path, "path", "chardev_add_unix_socket")
  opts = check_opts(opts, { server = true, wait = true, reconnect = true, timeout = true }, "chardev_add_unix_socket")
  local data = { addr = { type = "unix", data = { path = path } }, server = opts.server == true }
  if data.server then data.wait = opts.wait == true end
  if opts.reconnect ~= nil then
    if math.type(opts.reconnect) ~= "integer" or opts.reconnect < 0 then
      error("bad argument to 'chardev_add_unix_socket' (reconnect must be an integer >= 0)", 2)
    end
    data.reconnect = opts.reconnect
  end
  return self:_execute("chardev-add", { id = id, backend = { type = "socket", data = data } },
                       limit(self, opts))
end

--- object-add (QEMU >= 6.0 flat form): qom_type, id and the properties.
function C:object_add(qom_type, id, props, opts)
  check_usable(self, "object_add")
  check_string(qom_type, "qom_type", "object_add")
  check_string(id, "id", "object_add")
  if props ~= nil then check_table(props, "props", "object_add") end
  opts = check_opts(opts, TIMEOUT_ONLY, "object_add")
  local args = { ["qom-type"] = qom_type, id = id }
  for k, v in pairs(props or {}) do args[k] = v end
  return self:_execute("object-add", args, limit(self, opts))
end

--- getfd: hand QEMU an fd (integer, io file or core Socket) under `fdname`;
-- the fd travels by SCM_RIGHTS with the command itself.
function C:getfd(fdname, fd, opts)
  check_usable(self, "getfd")
  check_string(fdname, "fdname", "getfd")
  if fd == nil then error("bad argument to 'getfd' (an fd is required)", 2) end
  opts = check_opts(opts, TIMEOUT_ONLY, "getfd")
  return self:_execute("getfd", { fdname = fdname }, limit(self, opts), { fd })
end

--- balloon: the guest's target memory size in bytes.
function C:balloon(bytes, opts)
  check_usable(self, "balloon")
  if math.type(bytes) ~= "integer" then error("bad argument to 'balloon' (bytes must be an integer)", 2) end
  opts = check_opts(opts, TIMEOUT_ONLY, "balloon")
  return self:_execute("balloon", { value = bytes }, limit(self, opts))
end

--- migrate to `uri` ("unix:/path", "exec:...", "tcp:..."); it runs in the
-- background: follow it with query_migrate or the MIGRATION events.
function C:migrate(uri, opts)
  check_usable(self, "migrate")
  check_string(uri, "uri", "migrate")
  opts = check_opts(opts, TIMEOUT_ONLY, "migrate")
  return self:_execute("migrate", { uri = uri }, limit(self, opts))
end

--- migrate-set-capabilities from { name = bool, ... } (sent sorted by name)
-- or QMP's own array { { capability = name, state = bool }, ... }.
function C:migrate_set_capabilities(caps, opts)
  check_usable(self, "migrate_set_capabilities")
  check_table(caps, "caps", "migrate_set_capabilities")
  opts = check_opts(opts, TIMEOUT_ONLY, "migrate_set_capabilities")
  local list = {}
  if #caps > 0 then
    list = caps
  else
    local names = {}
    for k in pairs(caps) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do list[#list + 1] = { capability = k, state = caps[k] and true or false } end
  end
  return self:_execute("migrate-set-capabilities", { capabilities = json.array(list) }, limit(self, opts))
end

--- qom-get: the property's value (any JSON value: a boolean property can
-- give false, so test the result against nil).
function C:qom_get(path, property, opts)
  check_usable(self, "qom_get")
  check_string(path, "path", "qom_get")
  check_string(property, "property", "qom_get")
  opts = check_opts(opts, TIMEOUT_ONLY, "qom_get")
  return self:_execute("qom-get", { path = path, property = property }, limit(self, opts))
end

function C:qom_set(path, property, value, opts)
  check_usable(self, "qom_set")
  check_string(path, "path", "qom_set")
  check_string(property, "property", "qom_set")
  if value == nil then error("bad argument to 'qom_set' (a value is required)", 2) end
  opts = check_opts(opts, TIMEOUT_ONLY, "qom_set")
  return self:_execute("qom-set", { path = path, property = property, value = value }, limit(self, opts))
end

--- dump-guest-memory to `protocol` ("file:/path" or "fd:NAME"); args:
-- paging (default false), format ("elf", "kdump-zlib", ...), detach.
function C:dump_guest_memory(protocol, args, opts)
  check_usable(self, "dump_guest_memory")
  check_string(protocol, "protocol", "dump_guest_memory")
  if args ~= nil then check_table(args, "args", "dump_guest_memory") end
  opts = check_opts(opts, TIMEOUT_ONLY, "dump_guest_memory")
  local a = { protocol = protocol, paging = false }
  for k, v in pairs(args or {}) do a[k] = v end
  return self:_execute("dump-guest-memory", a, limit(self, opts))
end

return C
