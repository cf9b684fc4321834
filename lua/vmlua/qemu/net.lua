--- Device kinds: tap/macvtap networking, user-mode networking (slirp) and
-- vhost-user devices (net, scsi, blk, fs). Same shape as vmlua.qemu.virtio.
local S = require "vmlua.schema"
local hostfwd = require "vmlua.hostfwd"
local F = require "vmlua.qemu.fields"
local X = require "vmlua.qemu.transport"
local O = require "vmlua.qemu.opts"
local fds = require "vmlua.qemu.fds"

local K = {}

local function fd_list(ctx, refs, path)
  local nums = {}
  for i, ref in ipairs(refs) do
    nums[i] = string.format("%d", ctx:fd(ref, S.join(path, i)))
  end
  return table.concat(nums, ":")
end

-- NetDevice: `-netdev tap` (by ifname or by open tap fds) + virtio-net.
K.net = {
  fields = X.with {
    type = F.enum { "tap", "macvtap" },
    driver = F.enum { "virtio-net" },
    id = F.id:req(),
    ifname = F.word,
    bus = F.word,
    addr = F.slot,
    script = F.path,
    down_script = F.path,
    fds = S.array(fds.ref, { min = 1 }),
    vhost_fds = S.array(fds.ref, { min = 1 }),
    vhost = F.bool,
    mac_address = F.mac,
    rom = F.bool,
  },
  check = F.checks(
    function(d, path)
      if d.ifname == nil and d.fds == nil then
        return S.fail(S.join(path, "ifname"), "missing (required unless fds are given)")
      end
      if d.type == "macvtap" and d.fds == nil then
        return S.fail(S.join(path, "fds"), "missing (required: a macvtap device is connected by fds)")
      end
      return true
    end,
    F.only_when("vhost_fds", function(d) return d.vhost end, "with vhost = true"),
    F.only_when("romfile", function(d) return d.rom ~= false end, "without rom = false")),
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local nd = O.new("tap"):add("id", d.id)
    if d.vhost then
      nd:raw("vhost=on")
      if d.vhost_fds then nd:add("vhostfds", fd_list(ctx, d.vhost_fds, path .. ".vhost_fds")) end
    end
    if d.fds then
      nd:add("fds", fd_list(ctx, d.fds, path .. ".fds"))
    else
      nd:add("ifname", d.ifname):opt("downscript", d.down_script):opt("script", d.script)
    end
    local o = O.new():add("driver", X.driver("virtio-net", t)):add("netdev", d.id):opt("mac", d.mac_address)
    if d.bus then o:add("bus", d.bus) else X.pcie_bus(o, ctx, t) end
    if d.addr ~= nil then o:raw("addr=" .. O.hex(d.addr)) end
    X.disable_modern(o, d, t)
    if d.fds then
      o:raw("mq=on")
      if t == "pci" then o:add("vectors", 2 * #d.fds + 2) end
    end
    X.romfile(o, d, t)
    X.no_rom(o, d, t)
    X.iommu(o, ctx, t)
    return { "-netdev", nd:str(), "-device", o:str() }
  end,
}

-- User-mode networking (not in govmm): `-netdev user` (QEMU's slirp: NAT
-- out through the host, DHCP, the host as 10.0.2.2) on a virtio-net device,
-- with host-to-guest forwards (`hostfwd=`) and `restrict = true` (no way out
-- of the guest but the forwards).
K.user_net = {
  fields = X.with {
    driver = F.enum { "virtio-net" },
    id = F.id:req(),
    bus = F.word,
    addr = F.slot,
    mac_address = F.mac,
    forwards = S.array(hostfwd.schema),
    restrict = F.bool,
    rom = F.bool,
  },
  check = F.only_when("romfile", function(d) return d.rom ~= false end, "without rom = false"),
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local nd = O.new("user"):add("id", d.id)
    if d.restrict then nd:raw("restrict=on") end
    for _, rule in ipairs(d.forwards or {}) do nd:add("hostfwd", rule) end
    local o = O.new():add("driver", X.driver("virtio-net", t)):add("netdev", d.id):opt("mac", d.mac_address)
    if d.bus then o:add("bus", d.bus) else X.pcie_bus(o, ctx, t) end
    if d.addr ~= nil then o:raw("addr=" .. O.hex(d.addr)) end
    X.disable_modern(o, d, t)
    X.romfile(o, d, t)
    X.no_rom(o, d, t)
    X.iommu(o, ctx, t)
    return { "-netdev", nd:str(), "-device", o:str() }
  end,
}

local is = function(kind) return function(d) return d.vhost_user_type == kind end end

-- VhostUserDevice: a -chardev socket to a vhost-user backend + the device.
K.vhost_user = {
  fields = X.with({
    socket_path = F.path:req(),
    char_dev_id = F.id:req(),
    type_dev_id = F.id,
    address = F.mac,
    tag = F.word,
    cache_size = F.count,
    queue_size = S.integer { min = 1, max = 1024 },
    vhost_user_type = F.enum({ "net", "scsi", "blk", "fs" }):req(),
  }, { no_disable_modern = true }),
  check = F.checks(
    F.needed_when("type_dev_id", function(d) return d.vhost_user_type == "net" or d.vhost_user_type == "scsi" end,
                  "for vhost_user_type net and scsi"),
    F.needed_when("address", is("net"), "for vhost_user_type net"),
    F.needed_when("tag", is("fs"), "for vhost_user_type fs"),
    F.only_when("type_dev_id", function(d) return d.vhost_user_type == "net" or d.vhost_user_type == "scsi" end,
                "with vhost_user_type net or scsi"),
    F.only_when("address", is("net"), "with vhost_user_type net"),
    F.only_when("tag", is("fs"), "with vhost_user_type fs"),
    F.only_when("cache_size", is("fs"), "with vhost_user_type fs"),
    F.only_when("queue_size", is("fs"), "with vhost_user_type fs"),
    function(d, path)
      local q = d.queue_size
      if q and q & (q - 1) ~= 0 then
        return S.fail(S.join(path, "queue_size"), "must be a power of 2, got %d", q)
      end
      return true
    end),
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local out = { "-chardev", O.new("socket"):add("id", d.char_dev_id):add("path", d.socket_path):str() }
    local kind = d.vhost_user_type
    local o
    if kind == "net" then
      local nd = O.new():add("type", "vhost-user"):add("id", d.type_dev_id):add("chardev", d.char_dev_id)
      nd:raw("vhostforce=on")
      out[#out + 1] = "-netdev"
      out[#out + 1] = nd:str()
      o = O.new(X.driver("virtio-net", t)):add("netdev", d.type_dev_id):add("mac", d.address)
    elseif kind == "scsi" then
      o = O.new(X.driver("vhost-user-scsi", t)):add("id", d.type_dev_id):add("chardev", d.char_dev_id)
    elseif kind == "blk" then
      -- govmm also writes logical_block_size=4096,size=512M: QEMU's
      -- vhost-user-blk has neither property and refuses to start.
      o = O.new(X.driver("vhost-user-blk", t)):add("chardev", d.char_dev_id)
    else
      o = O.new(X.driver("vhost-user-fs", t)):add("chardev", d.char_dev_id):add("tag", d.tag)
      o:add("queue-size", d.queue_size or 1024)
      if d.cache_size then o:raw(string.format("cache-size=%dM", d.cache_size)) end
      X.iommu(o, ctx, t) -- where govmm's fs device has it (before the bus)
    end
    X.pcie_bus(o, ctx, t)
    X.romfile(o, d, t)
    if kind ~= "fs" then X.iommu(o, ctx, t) end
    out[#out + 1] = "-device"
    out[#out + 1] = o:str()
    return out
  end,
}

return K
