--- Device kinds: PCI(e) topology (expander bus, root ports, switch ports,
-- bridges), VFIO passthrough, the Intel IOMMU and the platform devices
-- (pvpanic, loader). Same shape as vmlua.qemu.virtio.
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local O = require "vmlua.qemu.opts"

local K = {}

local function not_both_prefs(d, path)
  if d.pref64_reserve ~= nil and d.pref32_reserve ~= nil then
    return S.fail(S.join(path, "pref32_reserve"), "cannot be combined with pref64_reserve")
  end
  return true
end

local reserves = {
  bus_reserve = F.reserve,
  pref64_reserve = F.reserve,
  pref32_reserve = F.reserve,
  mem_reserve = F.reserve,
  io_reserve = F.reserve,
}

local function add_reserves(o, d)
  o:opt("bus-reserve", d.bus_reserve):opt("pref64-reserve", d.pref64_reserve)
  o:opt("pref32-reserve", d.pref32_reserve):opt("mem-reserve", d.mem_reserve):opt("io-reserve", d.io_reserve)
end

-- PXBPCIeDevice: a PCIe expander bus (pxb-pcie).
K.pxb_pcie = {
  fields = {
    id = F.id:req(),
    bus = F.word,
    bus_nr = S.integer({ min = 1, max = 255 }):req(),
    numa_node = F.uint,
  },
  emit = function(d)
    local o = O.new("pxb-pcie"):add("id", d.id):add("bus", d.bus or "pcie.0"):add("bus_nr", d.bus_nr)
    o:opt("numa_node", d.numa_node)
    return { "-device", o:str() }
  end,
}

-- PCIeRootPortDevice.
K.pcie_root_port = {
  fields = F.merge(reserves, {
    id = F.id:req(),
    bus = F.word,
    chassis = F.num_or_word,
    slot = F.num_or_word,
    multifunction = F.bool,
    addr = F.num_or_word,
    romfile = F.path,
  }),
  check = not_both_prefs,
  emit = function(d)
    local o = O.new("pcie-root-port"):add("id", d.id):add("bus", d.bus or "pcie.0")
    o:add("chassis", d.chassis or "0x00"):add("slot", d.slot or "0x00")
    -- govmm drops addr unless multifunction is on
    local addr = d.addr
    if addr == nil and d.multifunction then addr = "0x00" end
    o:opt("addr", addr):add("multifunction", d.multifunction == true)
    add_reserves(o, d)
    o:opt("romfile", d.romfile)
    return { "-device", o:str() }
  end,
}

-- PCIeSwitchUpstreamPortDevice.
K.pcie_switch_upstream_port = {
  fields = { id = F.id:req(), bus = F.word:req() },
  emit = function(d)
    return { "-device", O.new("x3130-upstream"):add("id", d.id):add("bus", d.bus):str() }
  end,
}

-- PCIeSwitchDownstreamPortDevice. (The *_reserve properties need a QEMU
-- with kata's patches; upstream xio3130-downstream has none of them.)
K.pcie_switch_downstream_port = {
  fields = F.merge(reserves, {
    id = F.id:req(),
    bus = F.word:req(),
    chassis = F.num_or_word:req(),
    slot = F.num_or_word:req(),
  }),
  check = not_both_prefs,
  emit = function(d)
    local o = O.new("xio3130-downstream"):add("id", d.id):add("bus", d.bus)
    o:add("chassis", d.chassis):add("slot", d.slot)
    add_reserves(o, d)
    return { "-device", o:str() }
  end,
}

-- BridgeDevice: pci-bridge (type "pci") or pcie-pci-bridge (type "pcie").
local function is_pci_bridge(d) return (d.type or "pci") == "pci" end

K.bridge = {
  fields = {
    type = F.enum { "pci", "pcie" },
    bus = F.word:req(),
    id = F.id:req(),
    chassis = S.integer { min = 1, max = 255 },
    shpc = F.bool,
    addr = F.slot,
    romfile = F.path,
    io_reserve = F.reserve,
    mem_reserve = F.reserve,
    pref64_reserve = F.reserve,
  },
  check = F.checks(
    F.needed_when("chassis", is_pci_bridge, "for a pci bridge: QEMU wants a unique chassis number > 0"),
    F.only_when("chassis", is_pci_bridge, "with type = \"pci\""),
    F.only_when("shpc", is_pci_bridge, "with type = \"pci\"")),
  emit = function(d)
    local o
    if is_pci_bridge(d) then
      o = O.new("pci-bridge"):add("bus", d.bus):add("id", d.id):add("chassis_nr", d.chassis)
      o:add("shpc", d.shpc == true)
    else
      o = O.new("pcie-pci-bridge"):add("bus", d.bus):add("id", d.id)
    end
    if d.addr ~= nil then o:raw("addr=" .. O.hex(d.addr)) end
    o:opt("romfile", d.romfile):opt("io-reserve", d.io_reserve):opt("mem-reserve", d.mem_reserve)
    o:opt("pref64-reserve", d.pref64_reserve)
    return { "-device", o:str() }
  end,
}

-- VFIODevice: vfio-pci by host address (bdf) or mediated device (sysfs_dev);
-- an iommufd object when devfs_dev is a /dev/vfio/devices/ cdev.
K.vfio = {
  fields = {
    bdf = F.word,
    sysfs_dev = F.path,
    id = F.id,
    romfile = F.path,
    vendor_id = F.word,
    device_id = F.word,
    bus = F.word,
    devfs_dev = S.string { pattern = "^/dev/vfio/devices/.",
                           pattern_help = "must be a /dev/vfio/devices/ path (iommufd)" },
  },
  check = F.checks(F.one_of({ "bdf", "sysfs_dev" }, true),
                   F.needed_when("id", function(d) return d.devfs_dev ~= nil end,
                                 "with devfs_dev (it names the iommufd object)")),
  emit = function(d)
    local out = {}
    local iommufd
    if d.devfs_dev then
      iommufd = "iommufd" .. d.id
      out = { "-object", O.new("iommufd"):add("id", iommufd):str() }
    end
    local o = O.new("vfio-pci")
    if d.bdf then o:add("host", d.bdf) else o:add("sysfsdev", d.sysfs_dev) end
    o:opt("id", d.id):opt("x-pci-vendor-id", d.vendor_id):opt("x-pci-device-id", d.device_id)
    o:opt("romfile", d.romfile):opt("bus", d.bus):opt("iommufd", iommufd)
    out[#out + 1] = "-device"
    out[#out + 1] = o:str()
    return out
  end,
}

-- IommuDev: the Intel IOMMU (q35).
K.iommu = {
  fields = { intremap = F.bool, device_iotlb = F.bool, caching_mode = F.bool },
  emit = function(d)
    local o = O.new("intel-iommu"):add("intremap", d.intremap == true)
    o:add("device-iotlb", d.device_iotlb == true):add("caching-mode", d.caching_mode == true)
    return { "-device", o:str() }
  end,
}

-- PVPanicDevice.
K.pvpanic = {
  fields = { no_shutdown = F.bool },
  emit = function(d)
    if d.no_shutdown then return { "-device", "pvpanic", "-no-shutdown" } end
    return { "-device", "pvpanic" }
  end,
}

-- LoaderDevice: the generic loader (a file into guest memory).
K.loader = {
  fields = { file = F.path:req(), id = F.id:req() },
  emit = function(d)
    return { "-device", O.new("loader"):add("file", d.file):add("id", d.id):str() }
  end,
}

return K
