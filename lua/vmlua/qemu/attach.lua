--- The builder-contract methods for a sandbox's network and disks
-- (docs/drivers.md): add_network, add_disk and set_kernel_param. Each
-- changes the config transactionally (helpers.transact): true, or nil and a
-- message, the config unchanged; an argument of the wrong Lua type raises at
-- the caller.
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local H = require "vmlua.qemu.helpers"
local params = require "vmlua.params"
local openfile = require "vmlua.openfile"
local hostfwd = require "vmlua.hostfwd"
local ids = require "vmlua.ids"

local methods = {}

local network_args = S.record({
  mode = S.string { enum = { "user", "tap" }, required = true },
  id = F.id,
  mac = F.mac,
  forward = S.array(hostfwd.schema),
  isolated = S.boolean {},
  ifname = F.word,
  fds = S.array(openfile.entry, { min = 1 }),
  host_address = S.string {},
  netmask = S.string {},
}, { check = function(a, path)
  if a.host_address ~= nil or a.netmask ~= nil then
    return S.fail(S.join(path, a.host_address ~= nil and "host_address" or "netmask"),
                  "QEMU does not set up the host side of a tap: its creator does (vmlua, before the start)")
  end
  if a.mode == "user" then
    if a.ifname ~= nil or a.fds ~= nil then
      return S.fail(S.join(path, a.ifname ~= nil and "ifname" or "fds"), "only with mode \"tap\"")
    end
  else
    if a.forward ~= nil or a.isolated ~= nil then
      return S.fail(S.join(path, a.forward ~= nil and "forward" or "isolated"), "only with mode \"user\"")
    end
    if (a.ifname == nil) == (a.fds == nil) then
      return S.fail(path, "a tap needs exactly one of ifname (a tap that exists) and fds (open tap files)")
    end
  end
  return true
end })

--- A virtio-net device on user-mode networking (`mode = "user"`: forward
-- rules as "tcp:127.0.0.1:2222-:22", `isolated`: restrict=on) or on a tap
-- (`mode = "tap"`: an existing tap by `ifname`, opened by QEMU without
-- scripts, or open tap files in `fds`). `mac`, `id` (default vmlua-netN).
function methods:add_network(args)
  local ok, err = H.method_args(network_args, args, "add_network", "table")
  if not ok then return nil, err end
  return H.transact(self, "add_network", function(f)
    local id = args.id or ids.free(f.devices, "vmlua-net")
    -- a kernel booted directly needs no network boot ROM (iPXE)
    local rom = not (f.kernel and f.kernel.path) and nil or false
    if args.mode == "user" then
      H.append(f, "devices", { kind = "user_net", id = id, mac_address = args.mac, forwards = args.forward,
                               restrict = args.isolated, rom = rom })
    elseif args.fds then
      -- a file is its own reference; a host fd number joins `fds` and is
      -- referred to by its index there (vmlua.qemu.fds)
      local refs = {}
      for i, fd in ipairs(args.fds) do
        if math.type(fd) == "integer" then
          H.append(f, "fds", fd)
          refs[i] = #f.fds
        else
          refs[i] = fd
        end
      end
      H.append(f, "devices", { kind = "net", type = "tap", id = id, fds = refs, mac_address = args.mac, rom = rom })
    else
      H.append(f, "devices", { kind = "net", type = "tap", id = id, ifname = args.ifname, mac_address = args.mac,
                               script = "no", down_script = "no", rom = rom })
    end
    return true
  end)
end

local disk_args = S.record {
  path = F.path:req(),
  id = F.id,
  format = S.string { enum = { "raw", "qcow2" } },
  read_only = S.boolean {},
  cache = S.string { enum = F.CACHE_MODES },
  serial = S.string {},
  snapshot = S.boolean {},
  backing_files = S.boolean {},
}

--- A virtio-blk disk on the image at `path`: `format`, `read_only`,
-- `cache` (writeback, none, writethrough, directsync, unsafe), `serial`,
-- `snapshot` (writes go to a temporary file QEMU deletes), `id` (default
-- vmlua-diskN). `backing_files` is accepted for the contract's sake: QEMU
-- always opens a qcow2 image's backing chain.
function methods:add_disk(args)
  local ok, err = H.method_args(disk_args, args, "add_disk", "table")
  if not ok then return nil, err end
  return H.transact(self, "add_disk", function(f)
    H.append(f, "devices", { kind = "block", id = args.id or ids.free(f.devices, "vmlua-disk"), file = args.path,
                             format = args.format, read_only = args.read_only, cache = args.cache,
                             serial = args.serial, snapshot = args.snapshot })
    return true
  end)
end

--- Set kernel parameter `key` (to `value`, or bare when nil) on the
-- kernel's command line (kernel.params), replacing an earlier one.
function methods:set_kernel_param(key, value)
  local p0 = self.fields.kernel and self.fields.kernel.params
  local p, perr = params.with(p0, key, value, "set_kernel_param")
  return H.transact(self, "set_kernel_param", function(f)
    if not (f.kernel and f.kernel.path) then
      return nil, "no kernel to pass parameters to (kernel.path is not set)"
    end
    if not p then return nil, perr end
    f.kernel.params = p
    return true
  end)
end

return methods
