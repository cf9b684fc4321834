--- The guest kit on QEMU's microvm machine: virtio-mmio devices, no PCI,
-- ACPI kept on for the power button. Under TCG the guest gets the host's TSC
-- frequency (tsc_early_khz), without which a busy host can hang its boot.
--
--   vmlua run scripts/recipes/qemu-microvm.lua [--set keep=1] [--set accel=kvm]
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"
local tsc    = dofile(vmlua.recipe_dir .. "/../lib/tsc.lua")

local root  = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest = vmlua.args.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local share = vmlua.args.share or (root .. "/build/microvm-share")
local accel = vmlua.args.accel or "tcg"

local cmdline = params.load("qemu-serial"):set("quiet"):set("vmlua.share", "vmlua")
local khz = tsc.host_khz()
if accel == "tcg" and khz then cmdline:set("tsc_early_khz", khz) end

return vmlua.sandbox {
  id = vmlua.args.id or "microvm",
  description = "the guest kit under QEMU microvm with a virtio-fs share",
  hypervisor = qemu.config {
    machine = { type = "microvm", accel = accel },
    memory  = { size = "256M" },
    smp     = { cpus = 1 },
    kernel  = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs   = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
  },
  shares = { { tag = "vmlua", source = share, create = true } },
  ready  = { serial = "VMLUA-GUEST-READY", timeout = 60 },
  stop   = { "powerdown", "quit", "term", "kill", grace = 5 },
  on_ready = function(sb)
    io.stdout:write(sb.id, " is ready; the guest wrote ", share, "/hello-from-guest.txt\n")
    if not sb.args.keep then sb:stop() end
  end,
}
