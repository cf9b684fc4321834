--- cloud-hypervisor builder: `clh.config{}` checks a recipe's table and
-- turns it into today's cloud-hypervisor command line (`:argv()`), the
-- REST `vm.create` body (`:vm_config()`), or the API-only launch Kata uses
-- (`:api_argv()`).
--
--     local clh = require "vmlua.clh"
--     local cfg = clh.config {
--       kernel = "guest/vmlinux", cmdline = params.load("kata-clh"),
--       cpus = { boot = 2 }, memory = { size = "1G" },
--       disks = { { path = "rootfs.img", readonly = true } },
--       api_socket = "/run/vmlua/demo/clh-api.sock",
--     }
--     cfg:add_share { tag = "vmlua", socket = "/run/vmlua/demo/virtiofsd.sock" }
--     cfg:argv()  --> { "cloud-hypervisor", "--api-socket", "path=...", ... }
--
-- Field names follow cloud-hypervisor's CLI keys (see docs/api/clh.md).
-- Bad input raises an error naming the field (`disks[2].path: missing
-- (required)`) at the caller's line; `:validate()` returns `nil, message`.

local fields = require "vmlua.clh.fields"
local model = require "vmlua.clh.model"
local cli = require "vmlua.clh.cli"
local vmconfig = require "vmlua.clh.vmconfig"
local version = require "vmlua.clh.version"
local S = require "vmlua.schema"

local clh = {}

local Config = {}
Config.__index = Config
Config.__name = "vmlua.clh.config"

--- Which builder this is: the name of its driver (vmlua.driver.clh).
Config.hypervisor = "clh"

clh.DEFAULT_BINARY = "cloud-hypervisor"

local function check(t)
  local ok, err = fields.schema:check(t)
  if not ok then return nil, err end
  return model.check(t)
end

local function new(t)
  return setmetatable({ fields = t }, Config)
end

local function copy_fields(t)
  local c = {}
  for k, v in pairs(t) do c[k] = model.deep_copy(v) end
  return c
end

--- Check `t` and return a builder holding a copy of `t` in `cfg.fields`.
-- Raises at the caller's line when `t` is not a valid configuration.
function clh.config(t)
  if type(t) ~= "table" then
    error(string.format("clh.config: expected a table, got %s", type(t)), 2)
  end
  local ok, err = check(t)
  if not ok then error(err, 2) end
  return new(copy_fields(t))
end

function clh.is_config(v)
  return getmetatable(v) == Config
end

--- `true` or `nil, "field: message"` (after editing `cfg.fields` by hand).
function Config:validate()
  return check(self.fields)
end

local function checked(self, level)
  local ok, err = check(self.fields)
  if not ok then error(err, level + 1) end
  return model.normalize(self.fields)
end

function Config:binary()
  return self.fields.path or clh.DEFAULT_BINARY
end

--- The full command line: argv[1] is the binary, every option after it.
function Config:argv()
  return cli.argv(self:binary(), checked(self, 2))
end

--- The files the command line refers to (nets given as open fds), in child
-- order: entry i is fd 2+i in cloud-hypervisor, as `:argv()` numbers them.
function Config:fds()
  return cli.number_fds(checked(self, 2))
end

--- The REST flow's launch: the VMM alone, with the API socket and the
-- VMM-level options (-v, --log-file, --log-format, --seccomp,
-- --event-monitor); the VM itself comes from `:vm_config()` through
-- `PUT /api/v1/vm.create`.
function Config:api_argv()
  local n = checked(self, 2)
  if n.api_socket == nil then
    error("api_socket: missing (required: the REST flow drives cloud-hypervisor through its API socket)", 2)
  end
  return cli.vmm_options({ self:binary() }, n)
end

--- The `vm.create` body (a plain table for a JSON encoder).
function Config:vm_config()
  return (vmconfig.build(checked(self, 2)))
end

--- Nets given as open tap fds: cloud-hypervisor ignores fds in vm.create,
-- so each must be added with `PUT vm.add-net` (its fds passed with
-- SCM_RIGHTS) before vm.boot. Returns a list of `{ body =, fds = {...} }`.
function Config:net_hotplug()
  local _, hotplug = vmconfig.build(checked(self, 2))
  return hotplug
end

function Config:copy()
  return new(copy_fields(self.fields))
end

--- Apply `change` to a copy of the fields; keep it only if it still checks.
-- Returns true, or nil and "what: message".
local function transact(self, what, change)
  local f = copy_fields(self.fields)
  local ok, err = change(f)
  if ok then ok, err = check(f) end
  if not ok then return nil, what .. ": " .. err end
  self.fields = f
  return true
end

-- add_network, add_disk, set_kernel_param (clh/attach.lua)
require("vmlua.clh.attach").install(Config, transact)

local SHARE = fields.fs_entry

--- Add a virtio-fs share `{ tag =, socket =, queue_size =, num_queues = }`
-- and force shared guest memory, which vhost-user back-ends need.
-- Returns true, or nil and a message (a duplicate tag, a bad value).
function Config:add_share(share)
  if type(share) ~= "table" then error("add_share: expected a table, got " .. S.show(share), 2) end
  return transact(self, "add_share", function(f)
    local index = #(f.fs or {}) + 1
    local ok, err = SHARE:check(share, S.join("fs", index))
    if not ok then return nil, err end
    for i, e in ipairs(f.fs or {}) do
      if e.tag == share.tag then
        return S.fail(S.join(S.join("fs", index), "tag"), "duplicate tag %q (also fs[%d].tag)", share.tag, i)
      end
    end
    f.fs = f.fs or {}
    f.fs[index] = model.deep_copy(share)
    if type(f.memory) == "table" then
      f.memory.shared = true
    elseif f.memory ~= nil then
      f.memory = { size = f.memory, shared = true }
    else
      f.memory = { shared = true }
    end
    return true
  end)
end

local PATH = S.string { nonempty = true, no_comma = true }

local function path_arg(path, name)
  if type(path) ~= "string" then error(name .. ": expected a path, got " .. S.show(path), 3) end
end

--- Send the serial port (ttyS0) to a file. Returns true or nil, message.
function Config:set_serial_file(path)
  path_arg(path, "set_serial_file")
  return transact(self, "set_serial_file", function(f)
    local ok, err = PATH:check(path, "serial.file")
    if not ok then return nil, err end
    f.serial = { mode = "file", file = path }
    return true
  end)
end

--- The serial port's file, or nil when it does not go to a file.
function Config:serial_file()
  local s = self.fields.serial
  if type(s) == "table" and (s.mode == "file" or (s.mode == nil and s.file ~= nil)) then return s.file end
  return nil
end

--- Set the API socket path (the control socket `vmlua api` talks to).
-- Returns true or nil, message.
function Config:set_control_socket(path)
  path_arg(path, "set_control_socket")
  return transact(self, "set_control_socket", function(f)
    local ok, err = PATH:check(path, "api_socket")
    if not ok then return nil, err end
    f.api_socket = path
    return true
  end)
end

--- The API socket path, or nil (none, or given as an fd).
function Config:control_socket()
  local a = self.fields.api_socket
  if type(a) == "string" then return a end
  if type(a) == "table" then return a.path end
  return nil
end

--- Files the VM reads at start (for `vmlua check`): a list of
-- `{ field = "disks[1].path", path = ... }`.
function Config:kernel_files()
  local f, out = self.fields, {}
  for _, k in ipairs { "kernel", "initramfs", "firmware" } do
    if type(f[k]) == "string" then out[#out + 1] = { field = k, path = f[k] } end
  end
  for i, d in ipairs(f.disks or {}) do
    if d.path ~= nil then out[#out + 1] = { field = S.join(S.join("disks", i), "path"), path = d.path } end
  end
  for i, p in ipairs(f.pmem or {}) do
    if p.file ~= nil then out[#out + 1] = { field = S.join(S.join("pmem", i), "file"), path = p.file } end
  end
  return out
end

--- Every unix socket path the configuration names, with the field that
-- names it: a list of `{ field = "fs[1].socket", path = ... }`.
function Config:socket_entries()
  local f, out = self.fields, {}
  local function add(field, path)
    if type(path) == "string" then out[#out + 1] = { field = field, path = path } end
  end
  local api = f.api_socket
  add(type(api) == "table" and "api_socket.path" or "api_socket", type(api) == "table" and api.path or api)
  for _, k in ipairs { "serial", "console" } do
    if type(f[k]) == "table" then add(k .. ".socket", f[k].socket) end
  end
  if type(f.vsock) == "table" then add("vsock.socket", f.vsock.socket) end
  if type(f.tpm) == "table" then add("tpm.socket", f.tpm.socket) end
  for _, list in ipairs { "disks", "net", "fs", "user_devices" } do
    for i, d in ipairs(f[list] or {}) do add(S.join(S.join(list, i), "socket"), d.socket) end
  end
  return out
end

--- Every unix socket path the configuration names (for the sun_path length
-- check): a list of strings, in the order of `socket_entries()`.
function Config:socket_paths()
  local out = {}
  for i, e in ipairs(self:socket_entries()) do out[i] = e.path end
  return out
end

function Config:__tostring()
  return "clh.config(" .. self:binary() .. ")"
end

-- ------------------------------------------------------------ versions

--- Parse `cloud-hypervisor --version` output (or a bare "v53.0"):
-- `{ major, minor, patch, extra, commits, commit, dirty, text }` or
-- `nil, message`.
clh.parse_version = version.parse

--- `version_at_least(v, min)`: both strings or parsed tables.
clh.version_at_least = version.at_least

--- `check_version(v, min)` -> true | nil, "cloud-hypervisor v0.2.0 is older than the required v0.3.0".
clh.check_version = version.check

return clh
