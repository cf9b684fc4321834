--- vmlua.qemu: a QEMU command-line builder with govmm's Config in snake_case.
--
--     local qemu = require "vmlua.qemu"
--     local cfg = qemu.config {
--       machine = { type = "q35", accel = "tcg" },
--       memory = { size = "256M" }, smp = { cpus = 1 },
--       kernel = { path = "vmlinuz", initrd = "initrd.gz", params = "console=ttyS0" },
--       devices = { { kind = "rng", id = "rng0" } },
--     }
--     cfg:argv()  --> { "qemu-system-x86_64", "-machine", "q35,accel=tcg", ... }
--
-- `qemu.config{}` raises (at the caller's line) for any invalid field;
-- `cfg:validate()` returns true or nil, msg; `cfg:argv()` validates and
-- raises at its caller. The reference is docs/api/qemu.md.
local S = require "vmlua.schema"
local fds = require "vmlua.qemu.fds"
local emit = require "vmlua.qemu.emit"
local helpers = require "vmlua.qemu.helpers"
local devices = require "vmlua.qemu.devices"
local objects = require "vmlua.qemu.objects"

local M = {
  DEFAULT_BINARY = "qemu-system-x86_64",
  device_kinds = devices.kinds,
  object_types = objects.types,
  shared_memory = helpers.shared_memory,
  virtiofs = helpers.virtiofs,
  serial = helpers.serial,
  qmp_socket = helpers.qmp_socket,
}

local Config = {}
Config.__index = Config
for name, fn in pairs(helpers.methods) do Config[name] = fn end
for name, fn in pairs(require "vmlua.qemu.attach") do Config[name] = fn end

-- Tables are copied (keeping their metatables: a params object is copied
-- too); files, sockets and other userdata are shared.
local function deep_copy(v, seen)
  if type(v) ~= "table" or fds.is_file(v) then return v end
  local mt = getmetatable(v)
  if mt ~= nil and type(mt) ~= "table" then return v end -- protected metatable: share
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in next, v do c[deep_copy(k, seen)] = deep_copy(x, seen) end
  return setmetatable(c, mt)
end

local function new(fields)
  return setmetatable({ hypervisor = "qemu", fields = fields }, Config)
end

--- Build a config from a govmm-style table (copied). Raises at the caller's
-- line when a field is invalid.
function M.config(t)
  if type(t) ~= "table" then
    error("qemu.config: expected a table, got " .. S.show(t), 2)
  end
  local fields = deep_copy(t, {})
  local ok, err = emit.build(fields)
  if not ok then error(err, 2) end
  return new(fields)
end

--- true, or nil and a message naming the field.
function Config:validate()
  local args, err = emit.build(self.fields)
  if not args then return nil, err end
  return true
end

--- The QEMU binary: `path`, or qemu-system-x86_64 (looked up in PATH).
function Config:binary()
  return self.fields.path or M.DEFAULT_BINARY
end

--- The argv: { binary, options... }. Raises at the caller when invalid.
function Config:argv()
  local args, err = emit.build(self.fields)
  if not args then error(err, 2) end
  table.insert(args, 1, self:binary())
  return args
end

--- The files to pass to QEMU, in child order (entry i is fd 2+i): the
-- `fds` list followed by any file the argv refers to that is not in it.
function Config:fds()
  local args, fdt = emit.build(self.fields)
  if not args then error(fdt, 2) end
  return fdt:files()
end

--- A deep copy (files and sockets are shared, not duplicated).
function Config:copy()
  return new(deep_copy(self.fields, {}))
end

function Config:__tostring()
  return "qemu.config(" .. (self.fields.name or self:binary()) .. ")"
end

--- Is `v` a config built by this module?
function M.is_config(v)
  return getmetatable(v) == Config
end

return M
