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

--- Which builder this is (the sandbox layer dispatches on it).
Config.hypervisor = "clh"

clh.DEFAULT_BINARY = "cloud-hypervisor"

local function check(t)
  local ok, err = fields.schema:check(t)
  if not ok then return nil, err end
  return model.check(t)
end

--- Check `t` and return a builder (a copy of `t` with methods). Raises at
-- the caller's line when `t` is not a valid configuration.
function clh.config(t)
  if type(t) ~= "table" then
    error(string.format("clh.config: expected a table, got %s", type(t)), 2)
  end
  local ok, err = check(t)
  if not ok then error(err, 2) end
  local self = {}
  for k, v in pairs(t) do self[k] = model.deep_copy(v) end
  return setmetatable(self, Config)
end

function clh.is_config(v)
  return getmetatable(v) == Config
end

--- `true` or `nil, "field: message"`.
function Config:validate()
  return check(self)
end

local function checked(self, level)
  local ok, err = check(self)
  if not ok then error(err, level + 1) end
  return model.normalize(self)
end

function Config:binary()
  return self.path or clh.DEFAULT_BINARY
end

--- The full command line: argv[1] is the binary, every option after it.
function Config:argv()
  return cli.argv(self:binary(), checked(self, 2))
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
  local c = {}
  for k, v in pairs(self) do c[k] = model.deep_copy(v) end
  return setmetatable(c, Config)
end

local SHARE = fields.fs_entry

--- Add a virtio-fs share `{ tag =, socket =, queue_size =, num_queues = }`
-- and force shared guest memory, which vhost-user back-ends need.
-- Returns self.
function Config:add_share(share)
  local index = #(self.fs or {}) + 1
  S.assert(SHARE, share, S.join("fs", index), 2)
  for i, f in ipairs(self.fs or {}) do
    if f.tag == share.tag then
      error(string.format("fs[%d].tag: duplicate tag %q (also fs[%d].tag)", index, share.tag, i), 2)
    end
  end
  self.fs = self.fs or {}
  self.fs[index] = model.deep_copy(share)
  if type(self.memory) == "table" then
    self.memory.shared = true
  elseif self.memory ~= nil then
    self.memory = { size = self.memory, shared = true }
  else
    self.memory = { shared = true }
  end
  return self
end

local PATH = S.string { nonempty = true, no_comma = true }

--- Send the serial port (ttyS0) to a file. Returns self.
function Config:set_serial_file(path)
  S.assert(PATH, path, "serial.file", 2)
  self.serial = { mode = "file", file = path }
  return self
end

--- The serial port's file, or nil when it does not go to a file.
function Config:serial_file()
  local s = self.serial
  if type(s) == "table" and (s.mode == "file" or (s.mode == nil and s.file ~= nil)) then return s.file end
  return nil
end

--- Set the API socket path (the control socket `vmlua api` talks to).
-- Returns self.
function Config:set_control_socket(path)
  S.assert(PATH, path, "api_socket", 2)
  self.api_socket = path
  return self
end

--- The API socket path, or nil (none, or given as an fd).
function Config:control_socket()
  local a = self.api_socket
  if type(a) == "string" then return a end
  if type(a) == "table" then return a.path end
  return nil
end

--- Files the VM reads at start (for `vmlua check`): a list of
-- `{ field = "disks[1].path", path = ... }`.
function Config:kernel_files()
  local out = {}
  for _, k in ipairs { "kernel", "initramfs", "firmware" } do
    if type(self[k]) == "string" then out[#out + 1] = { field = k, path = self[k] } end
  end
  for i, d in ipairs(self.disks or {}) do
    if d.path ~= nil then out[#out + 1] = { field = S.join(S.join("disks", i), "path"), path = d.path } end
  end
  for i, p in ipairs(self.pmem or {}) do
    if p.file ~= nil then out[#out + 1] = { field = S.join(S.join("pmem", i), "file"), path = p.file } end
  end
  return out
end

--- Every unix socket path the configuration names, with the field that
-- names it: a list of `{ field = "fs[1].socket", path = ... }`.
function Config:socket_entries()
  local out = {}
  local function add(field, path)
    if type(path) == "string" then out[#out + 1] = { field = field, path = path } end
  end
  local api = self.api_socket
  add(type(api) == "table" and "api_socket.path" or "api_socket", type(api) == "table" and api.path or api)
  for _, k in ipairs { "serial", "console" } do
    if type(self[k]) == "table" then add(k .. ".socket", self[k].socket) end
  end
  if type(self.vsock) == "table" then add("vsock.socket", self.vsock.socket) end
  if type(self.tpm) == "table" then add("tpm.socket", self.tpm.socket) end
  for _, list in ipairs { "disks", "net", "fs", "user_devices" } do
    for i, d in ipairs(self[list] or {}) do add(S.join(S.join(list, i), "socket"), d.socket) end
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
