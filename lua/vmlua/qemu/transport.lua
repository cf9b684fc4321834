--- Virtio transports: which QEMU driver name a virtio device gets and which
-- options apply.
--
-- x86 only: `pci` (default: `virtio-*-pci`) or `mmio` (`virtio-*-device`,
-- the default on the microvm machine). As govmm: `disable-modern=` and
-- `romfile=` are PCI properties; on PCIe machines (`hasPCIeRoot`: machine
-- type q35* or virt*) the net, vhost-user and vsock devices are pinned with
-- `bus=pcie.0`. Unlike govmm, setting a PCI-only option on an mmio device
-- is an error instead of being dropped, and `knobs.iommu_platform` adds
-- `iommu_platform=on` on every virtio device (govmm: CCW only); on PCI also
-- `disable-legacy=on`, since QEMU refuses iommu_platform on a transitional
-- (legacy-capable) virtio-pci device. When a device uses mmio, the argv asks
-- for modern virtio-mmio (`-global virtio-mmio.force-legacy=false`; QEMU's
-- default is legacy virtio-mmio, which cannot carry vhost-user devices such
-- as virtio-fs, nor iommu_platform) unless global_param sets it.
local F = require "vmlua.qemu.fields"

local X = {}

X.names = { "pci", "mmio" }

--- The fields every transport-aware virtio device accepts.
X.fields = {
  transport = F.enum(X.names),
  disable_modern = F.bool,
  romfile = F.path,
}

--- The virtio fields plus `extra`.
function X.with(extra, opts)
  local fields = F.merge(X.fields, extra)
  if opts and opts.no_disable_modern then fields.disable_modern = nil end
  return fields
end

--- The default transport for a machine type.
function X.default(machine_type)
  if machine_type == "microvm" then return "mmio" end
  return "pci"
end

--- govmm's hasPCIeRoot.
function X.pcie_root(machine_type)
  return type(machine_type) == "string" and (machine_type:find("^q35") or machine_type:find("^virt")) ~= nil
end

--- Resolve a device's transport; PCI-only options on mmio are an error.
function X.resolve(dev, ctx, path)
  local t = dev.transport or ctx.transport
  if t == "mmio" then ctx.mmio_used = true end
  if t ~= "pci" then
    if dev.romfile ~= nil then
      ctx:fail(path .. ".romfile", "only applies to the pci transport (this device uses %s)", t)
    end
    if dev.disable_modern then
      ctx:fail(path .. ".disable_modern", "only applies to the pci transport (this device uses %s)", t)
    end
  elseif dev.disable_modern and ctx.knobs.iommu_platform then
    ctx:fail(path .. ".disable_modern",
             "cannot be combined with knobs.iommu_platform (which needs a modern-only device)")
  end
  return t
end

--- "virtio-9p" -> "virtio-9p-pci" | "virtio-9p-device".
function X.driver(base, transport)
  return base .. (transport == "pci" and "-pci" or "-device")
end

--- `disable-modern=true|false` on PCI (govmm always writes it there).
function X.disable_modern(o, dev, transport)
  if transport == "pci" then o:add("disable-modern", dev.disable_modern and "true" or "false") end
end

function X.romfile(o, dev, transport)
  if transport == "pci" and dev.romfile then o:add("romfile", dev.romfile) end
end

function X.iommu(o, ctx, transport)
  if ctx.knobs.iommu_platform then
    if transport == "pci" then o:raw("disable-legacy=on") end
    o:raw("iommu_platform=on")
  end
end

--- `rom = false` (not in govmm): no option ROM on a PCI NIC (`romfile=`),
-- so the firmware does not run iPXE (about 1-2 s under TCG) before a
-- kernel that QEMU boots directly. mmio devices have no ROM.
function X.no_rom(o, dev, transport)
  if transport == "pci" and dev.rom == false then o:raw("romfile=") end
end

--- `bus=pcie.0` for a PCI device on a PCIe machine.
function X.pcie_bus(o, ctx, transport)
  if transport == "pci" and ctx.pcie_root then o:raw("bus=pcie.0") end
end

return X
