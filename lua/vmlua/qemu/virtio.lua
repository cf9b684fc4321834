--- Device kinds: storage, consoles and the small virtio devices (9p, char,
-- serial ports, block, vsock, rng, balloon, SCSI controller).
--
-- Each kind is { fields = {...}, check = fn(dev, path) (optional),
-- emit = fn(dev, ctx, path) -> list of argv strings }. Field names are
-- govmm's in snake_case; the emitted strings follow govmm's newest code,
-- with the fixes documented in docs/api/qemu.md.
local F = require "vmlua.qemu.fields"
local X = require "vmlua.qemu.transport"
local O = require "vmlua.qemu.opts"
local S = require "vmlua.schema"
local fds = require "vmlua.qemu.fds"

local K = {}

-- FSDevice: a 9p share (-fsdev + virtio-9p).
K.fs = {
  fields = X.with {
    driver = F.enum { "virtio-9p" },
    fs_driver = F.enum { "local", "handle", "proxy" },
    id = F.id:req(),
    path = F.path:req(),
    mount_tag = F.word:req(),
    security_model = F.enum { "none", "passthrough", "mapped-xattr", "mapped-file" },
    multidev = F.enum { "remap", "warn", "forbid" },
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("virtio-9p", t))
    X.disable_modern(o, d, t)
    o:add("fsdev", d.id):add("mount_tag", d.mount_tag)
    X.romfile(o, d, t)
    X.iommu(o, ctx, t)
    local fs = O.new(d.fs_driver or "local"):add("id", d.id):add("path", d.path)
    fs:add("security_model", d.security_model or "none"):opt("multidevs", d.multidev)
    return { "-device", o:str(), "-fsdev", fs:str() }
  end,
}

local pathless = { pty = true, console = true }

-- CharDevice: a -chardev, with a virtserialport/virtconsole on top unless
-- driver = "serial" (a chardev for a legacy serial port).
K.char = {
  fields = {
    backend = F.enum({ "pipe", "socket", "console", "serial", "tty", "pty", "file" }):req(),
    driver = F.enum { "virtserialport", "virtconsole", "serial" },
    bus = F.word,
    device_id = F.id,
    id = F.id:req(),
    path = F.path,
    name = F.word,
  },
  check = F.checks(
    F.needed_when("path", function(d) return not pathless[d.backend] end, "for this backend"),
    F.only_when("path", function(d) return not pathless[d.backend] end, "with a backend that has a path"),
    F.only_when("device_id", function(d) return d.driver ~= "serial" end, "with a -device driver"),
    F.only_when("bus", function(d) return d.driver ~= "serial" end, "with a -device driver"),
    F.only_when("name", function(d) return d.driver ~= "serial" end, "with a -device driver")),
  emit = function(d)
    local out = {}
    local driver = d.driver or "virtserialport"
    if driver ~= "serial" then
      local o = O.new(driver):opt("bus", d.bus):add("chardev", d.id)
      o:opt("id", d.device_id):opt("name", d.name)
      out = { "-device", o:str() }
    end
    local c = O.new(d.backend):add("id", d.id):opt("path", d.path)
    if d.backend == "socket" then c:raw("server=on"):raw("wait=off") end
    out[#out + 1] = "-chardev"
    out[#out + 1] = c:str()
    return out
  end,
}

-- LegacySerialDevice: `-serial chardev:<id>`; vmlua also accepts `file` or
-- `socket` and then creates the chardev itself.
K.legacy_serial = {
  fields = { chardev = F.id, file = F.path, socket = F.path, id = F.id },
  check = F.checks(F.one_of({ "chardev", "file", "socket" }, true),
                   F.only_when("id", function(d) return d.chardev == nil end, "with file or socket")),
  emit = function(d, ctx)
    ctx.serials = (ctx.serials or 0) + 1
    if d.chardev then return { "-serial", "chardev:" .. d.chardev } end
    local id = d.id or ("serial" .. (ctx.serials - 1))
    local c
    if d.file then
      c = O.new("file"):add("id", id):add("path", d.file)
    else
      c = O.new("socket"):add("id", id):add("path", d.socket):raw("server=on"):raw("wait=off")
    end
    return { "-chardev", c:str(), "-serial", "chardev:" .. id }
  end,
}

-- SerialDevice: the virtio-serial controller.
K.serial = {
  fields = X.with {
    driver = F.enum { "virtio-serial" },
    id = F.id:req(),
    max_ports = F.count,
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("virtio-serial", t))
    X.disable_modern(o, d, t)
    o:add("id", d.id)
    X.romfile(o, d, t)
    o:opt("max_ports", d.max_ports) -- govmm: only together with romfile
    X.iommu(o, ctx, t)
    return { "-device", o:str() }
  end,
}

-- BlockDevice: -drive if=none + virtio-blk. Beyond govmm: `cache` (the
-- -drive cache mode), `snapshot` (writes go to a temporary overlay that
-- QEMU deletes: the image is never written) and `serial` (the disk's serial
-- as the guest sees it; govmm always used the id).
K.block = {
  fields = X.with {
    driver = F.enum { "virtio-blk" },
    id = F.id:req(),
    file = F.path:req(),
    interface = F.enum { "none", "scsi" },
    aio = F.enum { "threads", "native", "io_uring" },
    format = F.word,
    wce = F.bool,
    share_rw = F.bool,
    read_only = F.bool,
    discard_unmap = F.bool,
    cache = F.enum(F.CACHE_MODES),
    snapshot = F.bool,
    serial = S.string { pattern = "^[%w%-_.]+$", check = function(v, path)
      if #v > 20 then return S.fail(path, "must be at most 20 bytes (the virtio-blk serial size), got %d", #v) end
      return true
    end, pattern_help = "must be letters, digits, '-', '_' or '.'" },
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("virtio-blk", t))
    X.disable_modern(o, d, t)
    o:add("drive", d.id)
    if not d.wce then o:raw("config-wce=off") end
    X.romfile(o, d, t)
    X.iommu(o, ctx, t)
    if d.share_rw then o:raw("share-rw=on") end
    if d.discard_unmap then o:raw("discard=on") end
    o:add("serial", d.serial or d.id)
    local drive = O.new():add("id", d.id):add("file", d.file):opt("aio", d.aio):opt("format", d.format)
    drive:add("if", d.interface or "none")
    if d.read_only then drive:raw("readonly=on") end
    drive:opt("cache", d.cache)
    if d.snapshot then drive:raw("snapshot=on") end
    if d.discard_unmap then drive:raw("discard=unmap") end
    return { "-device", o:str(), "-drive", drive:str() }
  end,
}

-- VSOCKDevice: vhost-vsock with a guest CID.
K.vsock = {
  fields = X.with {
    id = F.id:req(),
    context_id = S.integer({ min = 3, max = 0xffffffff }):req(),
    vhost_fd = fds.ref,
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("vhost-vsock", t))
    X.disable_modern(o, d, t)
    if d.vhost_fd ~= nil then o:add("vhostfd", ctx:fd(d.vhost_fd, path .. ".vhost_fd")) end
    o:add("id", d.id):add("guest-cid", d.context_id)
    X.pcie_bus(o, ctx, t)
    X.romfile(o, d, t)
    X.iommu(o, ctx, t)
    return { "-device", o:str() }
  end,
}

-- RngDevice: rng-random backend + virtio-rng.
K.rng = {
  fields = X.with({
    id = F.id:req(),
    filename = F.path,
    max_bytes = F.count,
    period = F.count,
  }, { no_disable_modern = true }),
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local obj = O.new("rng-random"):add("id", d.id):opt("filename", d.filename)
    local o = O.new(X.driver("virtio-rng", t)):add("rng", d.id)
    X.romfile(o, d, t)
    X.iommu(o, ctx, t)
    o:opt("max-bytes", d.max_bytes):opt("period", d.period)
    return { "-object", obj:str(), "-device", o:str() }
  end,
}

-- BalloonDevice.
K.balloon = {
  fields = X.with {
    id = F.id:req(),
    deflate_on_oom = F.bool,
    free_page_reporting = F.bool,
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("virtio-balloon", t)):add("id", d.id)
    X.romfile(o, d, t)
    o:add("deflate-on-oom", d.deflate_on_oom == true)
    X.disable_modern(o, d, t)
    o:add("free-page-reporting", d.free_page_reporting == true)
    X.iommu(o, ctx, t)
    return { "-device", o:str() }
  end,
}

-- SCSIController: virtio-scsi.
K.scsi = {
  fields = X.with {
    id = F.id:req(),
    bus = F.word,
    addr = F.word,
    iothread = F.id,
  },
  emit = function(d, ctx, path)
    local t = X.resolve(d, ctx, path)
    local o = O.new(X.driver("virtio-scsi", t)):add("id", d.id):opt("bus", d.bus):opt("addr", d.addr)
    X.disable_modern(o, d, t)
    o:opt("iothread", d.iothread)
    X.romfile(o, d, t)
    X.iommu(o, ctx, t)
    return { "-device", o:str() }
  end,
}

return K
