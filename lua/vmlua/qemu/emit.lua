--- Building the QEMU argv from a config, in govmm's LaunchQemu order:
--
--   -name, -uuid, -machine, -cpu, QMP sockets (-qmp/-monitor/-qmp-pretty),
--   -monitor, -m, devices, objects, -rtc, -global, -pflash, -vga, -display,
--   knobs (flags, memory backend or NUMA nodes, -overcommit, -S), -kernel
--   -initrd -append, -bios, iothreads, -incoming, -pidfile, -D, -fw_cfg,
--   -sandbox, -smp, extra_params.
--
-- `M.build(fields)` checks the schema, then emits every section through a
-- context that numbers fds, resolves transports, and checks the rules that
-- need the whole config. It returns the argument list (without the binary)
-- and the fd table, or nil and a message naming the field.
local S = require "vmlua.schema"
local O = require "vmlua.qemu.opts"
local X = require "vmlua.qemu.transport"
local fds = require "vmlua.qemu.fds"
local schema = require "vmlua.qemu.schema"
local sections = require "vmlua.qemu.sections"

local M = {}

local Failure = {}
local Ctx = {}
Ctx.__index = Ctx

--- Abort the build with "path: message".
function Ctx.fail(_, path, fmt, ...)
  local _, msg = S.fail(path, fmt, ...)
  error(setmetatable({ msg = msg }, Failure), 0)
end

function Ctx.check(_, ok, err)
  if not ok then error(setmetatable({ msg = err }, Failure), 0) end
  return ok
end

--- The fd number QEMU sees for a reference.
function Ctx:fd(ref, path)
  local n, err = self.fdt:number(ref, path)
  return self:check(n, err)
end

--- A confidential-guest object that loads its firmware as -bios.
function Ctx:firmware(file, path)
  local bios = self.fields.bios
  if bios ~= nil and bios ~= file then
    self:fail(path, "conflicts with bios %s (this object loads its firmware as -bios)", S.show(bios))
  end
  if self.firmware_from and self.firmware_file ~= file then
    self:fail(path, "conflicts with %s.file %s", self.firmware_from, S.show(self.firmware_file))
  end
  self.firmware_file = file
  self.firmware_from = self.firmware_from or path:gsub("%.file$", "")
end

--- Register a memory backend as the guest RAM and return the options that
-- wire it: -numa node,memdev= (pc, q35) or -machine memory-backend= (microvm).
function Ctx:ram_backend(id, size, path)
  local where = path:match("^knobs") and path or (path .. ".ram")
  if self.ram_owner then
    self:fail(where, "guest RAM already comes from %s", self.ram_owner)
  end
  self.ram_owner = path
  local mem = self.fields.memory
  if not mem then self:fail(where, "needs memory.size (this backend becomes the guest RAM)") end
  if O.bytes(size, 1) ~= O.bytes(mem.size, O.MiB) then
    self:fail(path .. ".size", "must equal memory.size (%s) for the RAM backend, got %s",
              S.show(mem.size), S.show(size))
  end
  if self.microvm then return { "-machine", "memory-backend=" .. id } end
  return { "-numa", "node,memdev=" .. id }
end

local namespaces = { ["-device"] = true, ["-object"] = true, ["-chardev"] = true, ["-netdev"] = true,
                     ["-drive"] = true, ["-fsdev"] = true }

local function id_of(value)
  if value:sub(1, 1) == "{" then return value:match('"id":"([^"]*)"') end
  local plain = value:gsub(",,", "\0")
  for part in (plain .. ","):gmatch("([^,]*),") do
    local id = part:match("^id=(.*)$")
    if id then return (id:gsub("%z", ",")) end
  end
  return nil
end

--- Append the argv strings that `path` produced, checking that the ids they
-- define are unique per kind of QEMU object.
function Ctx:emit(path, list)
  for i = 1, #list do
    local a = list[i]
    self.args[#self.args + 1] = a
    if namespaces[a] and list[i + 1] then
      local id = id_of(list[i + 1])
      if id then
        local key = a .. " " .. id
        local prev = self.ids[key]
        if prev then self:fail(path, "%s id %s is already used by %s", a, S.show(id), prev) end
        self.ids[key] = path
      end
    end
  end
end

local function new_ctx(f)
  local mtype = f.machine and f.machine.type
  local c = setmetatable({
    fields = f, args = {}, ids = {},
    knobs = f.knobs or {},
    microvm = mtype == "microvm",
    transport = X.default(mtype),
    pcie_root = X.pcie_root(mtype),
    fdt = fds.new(f.fds),
  }, Ctx)
  for i = 1, #(f.fds or {}) do c:check(fds.entry:check(f.fds[i], S.join("fds", i))) end
  return c
end

--- Build the argv (without the binary): args, fd table | nil, message.
function M.build(f)
  local ok, err = schema.config:check(f, nil)
  if not ok then return nil, err end
  local c = new_ctx(f)
  local done, res = pcall(sections.run, c, f)
  if not done then
    if getmetatable(res) == Failure then return nil, res.msg end
    error(res, 0)
  end
  return c.args, c.fdt
end

return M
