--- Disk images: the format of an image file, told by its first bytes
-- (qcow2 by its magic "QFI\xfb"; vmdk, vhdx, vhd, qed and vdi are named so
-- that they can be refused; anything else is raw), and the qemu-img command
-- line that creates a qcow2 overlay backed by an image (qemu-img is QEMU's
-- image tool, used for the overlays of every hypervisor).
local M = {}

M.QEMU_IMG = "qemu-img"
--- The formats a sandbox's disk may have.
M.FORMATS = { "raw", "qcow2" }

local MAGICS = {
  { at = 0, magic = "QFI\xfb", format = "qcow2" },
  { at = 0, magic = "KDMV", format = "vmdk" },
  { at = 0, magic = "# Disk DescriptorFile", format = "vmdk" },
  { at = 0, magic = "vhdxfile", format = "vhdx" },
  { at = 0, magic = "conectix", format = "vhd" },
  { at = 0, magic = "QED\0", format = "qed" },
  { at = 64, magic = "\x7f\x10\xda\xbe", format = "vdi" },
}

--- The format of the image at `path`, or nil and the error of opening it.
function M.detect(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local head = f:read(72) or ""
  f:close()
  for _, m in ipairs(MAGICS) do
    if head:sub(m.at + 1, m.at + #m.magic) == m.magic then return m.format end
  end
  return "raw"
end

--- Is `format` one a sandbox's disk may have?
function M.supported(format)
  for _, f in ipairs(M.FORMATS) do
    if f == format then return true end
  end
  return false
end

--- The argv that creates the qcow2 `overlay` backed by `base` (an absolute
-- path, recorded in the overlay) of `format`, its size taken from the base.
function M.overlay_argv(base, format, overlay)
  return { M.QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", base, "-F", format, overlay }
end

return M
