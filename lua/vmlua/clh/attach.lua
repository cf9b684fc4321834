--- The builder-contract methods for a sandbox's network and disks
-- (docs/drivers.md) on cloud-hypervisor: add_network (`--net tap=,ip=,
-- mask=,mac=` or open tap fds), add_disk (`--disk path=,readonly=,
-- image_type=,backing_files=,direct=,serial=`) and set_kernel_param
-- (`cmdline`). `install(Config, transact)` adds them to the builder.
local S = require "vmlua.schema"
local params = require "vmlua.params"
local openfile = require "vmlua.openfile"
local ids = require "vmlua.ids"

local M = {}

local MAC = S.string { pattern = "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
                       pattern_help = "must be a MAC address such as \"02:00:00:00:00:01\"" }
local WORD = S.string { nonempty = true, no_comma = true }

local network_args = S.record({
  mode = S.string { enum = { "user", "tap" }, required = true },
  id = WORD,
  mac = MAC,
  ifname = WORD,
  fds = S.array(openfile.entry, { min = 1 }),
  host_address = WORD,
  netmask = WORD,
  forward = S.array(S.any {}),
  isolated = S.boolean {},
}, { check = function(a, path)
  if a.mode == "user" then
    return S.fail(S.join(path, "mode"), "cloud-hypervisor has no user-mode network (QEMU's slirp); use a tap")
  end
  if a.forward ~= nil or a.isolated ~= nil then
    return S.fail(S.join(path, a.forward ~= nil and "forward" or "isolated"), "only with mode \"user\"")
  end
  if (a.ifname == nil) == (a.fds == nil) then
    return S.fail(path, "a tap needs exactly one of ifname (cloud-hypervisor opens or creates it) and fds")
  end
  if a.fds ~= nil and (a.host_address ~= nil or a.netmask ~= nil) then
    return S.fail(S.join(path, "host_address"), "only with ifname (a tap given as fds is set up by its creator)")
  end
  return true
end })

local disk_args = S.record({
  path = S.string { nonempty = true, no_comma = true, required = true },
  id = WORD,
  format = S.string { enum = { "raw", "qcow2" } },
  read_only = S.boolean {},
  cache = S.string {},
  serial = WORD,
  snapshot = S.boolean {},
  backing_files = S.boolean {},
}, { check = function(a, path)
  if a.snapshot then
    return S.fail(S.join(path, "snapshot"), "cloud-hypervisor has no snapshot mode (writes to a throwaway layer"
                  .. " need a qcow2 overlay with backing_files)")
  end
  if a.cache ~= nil and a.cache ~= "writeback" and a.cache ~= "none" then
    return S.fail(S.join(path, "cache"), "cloud-hypervisor has writeback (its default) and none (direct=on), got %s",
                  S.show(a.cache))
  end
  return true
end })

local function table_arg(v, name)
  if type(v) ~= "table" then error(name .. ": expected a table, got " .. S.show(v), 3) end
end

function M.install(Config, transact)
  --- A virtio-net device on a tap: `ifname` (cloud-hypervisor opens it, or
  -- creates it and gives the host side `host_address`/`netmask`) or `fds`
  -- (open tap files, passed on); `mac`, `id` (default vmlua-netN).
  function Config:add_network(args)
    table_arg(args, "add_network")
    local ok, err = network_args:check(args, "add_network")
    if not ok then return nil, err end
    return transact(self, "add_network", function(f)
      f.net = f.net or {}
      f.net[#f.net + 1] = { id = args.id or ids.free(f.net, "vmlua-net"), tap = args.ifname, ip = args.host_address,
                            mask = args.netmask, mac = args.mac, fd = args.fds }
      return true
    end)
  end

  --- A virtio-blk disk: `path`, `format` (image_type), `read_only`,
  -- `cache` ("none": direct=on), `serial`, `backing_files` (open a qcow2
  -- image's backing file: an overlay needs it), `id` (default vmlua-diskN).
  function Config:add_disk(args)
    table_arg(args, "add_disk")
    local ok, err = disk_args:check(args, "add_disk")
    if not ok then return nil, err end
    return transact(self, "add_disk", function(f)
      f.disks = f.disks or {}
      f.disks[#f.disks + 1] = { id = args.id or ids.free(f.disks, "vmlua-disk"), path = args.path,
                                readonly = args.read_only, image_type = args.format, serial = args.serial,
                                backing_files = args.backing_files, direct = args.cache == "none" or nil }
      return true
    end)
  end

  --- Set kernel parameter `key` (to `value`, or bare when nil) in cmdline,
  -- replacing an earlier one.
  function Config:set_kernel_param(key, value)
    local p, perr = params.with(self.fields.cmdline, key, value, "set_kernel_param")
    return transact(self, "set_kernel_param", function(f)
      if f.kernel == nil then return nil, "no kernel to pass parameters to (kernel is not set)" end
      if not p then return nil, perr end
      f.cmdline = p
      return true
    end)
  end
end

return M
