--- The README's main job: boot the project's guest kit (make guest) under
-- QEMU with a shared folder, wait for the guest's ready marker, show the file
-- the guest wrote into the share, then stop it gracefully (ACPI power button).
--
--   vmlua run scripts/recipes/qemu-demo.lua
--   vmlua run scripts/recipes/qemu-demo.lua --set keep=1      # stay up until Ctrl-C
--   vmlua run scripts/recipes/qemu-demo.lua --set accel=kvm --set share=/tmp/s
--   vmlua run scripts/recipes/qemu-demo.lua --set net=user --set port=2222  # user-mode network,
--     host 127.0.0.1:2222 -> guest :22 (--set kernel_ip=1: its address on the kernel command
--     line instead of DHCP)
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"

local root  = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest = vmlua.args.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local share = vmlua.args.share or (root .. "/build/demo-share")
local greeting = share .. "/hello-from-guest.txt"

return vmlua.sandbox {
  id = vmlua.args.id or "demo",
  description = "the guest kit under QEMU (q35) with a virtio-fs share",
  hypervisor = qemu.config {
    machine = { type = "q35", accel = vmlua.args.accel or "tcg" },
    memory  = { size = "256M" },
    smp     = { cpus = 1 },
    -- vmlinux: the uncompressed kernel boots ~3 s faster than vmlinuz under TCG
    kernel  = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz",
                params = params.load("qemu-serial"):set("quiet"):set("vmlua.share", "vmlua") },
    knobs   = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
  },
  shares = { { tag = "vmlua", source = share, create = true } },
  network = vmlua.args.net == "user" and { mode = "user", kernel_ip = vmlua.args.kernel_ip == "1" or nil,
                                           forward = { "tcp:127.0.0.1:" .. (vmlua.args.port or "2222") .. "-:22" } }
            or nil,
  ready  = { serial = "VMLUA-GUEST-READY", timeout = 60,
             hint = "is the guest kit built (make guest)? see the serial log for the guest's own error" },
  stop   = { "powerdown", "quit", "term", "kill", grace = 5 },
  on_start = function()
    os.remove(greeting) -- so that what we show below was written by this boot
  end,
  on_ready = function(sb)
    local f = io.open(greeting, "r")
    if not f then error("the guest did not write " .. greeting) end
    io.stdout:write("--- ", greeting, " (written by the guest) ---\n", f:read("a"))
    f:close()
    io.stdout:flush()
    if not sb.args.keep then sb:stop() end
  end,
}
