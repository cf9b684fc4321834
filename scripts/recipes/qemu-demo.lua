--- The README's main job: boot the project's guest kit (make guest) under
-- QEMU with a shared folder and the guest agent, show the file the guest
-- wrote into the share and run a command in the guest (sb:exec), then stop
-- it gracefully (guest-shutdown through the agent, then the ACPI power button).
--
--   vmlua run scripts/recipes/qemu-demo.lua
--   vmlua run scripts/recipes/qemu-demo.lua --set keep=1      # stay up until Ctrl-C
--   vmlua run scripts/recipes/qemu-demo.lua -d                # detach: vmlua exec demo -- ls /
--   vmlua run scripts/recipes/qemu-demo.lua -- uname -a       # one-shot: run, print, stop
--   vmlua run scripts/recipes/qemu-demo.lua --set accel=kvm --set share=/tmp/s
--   vmlua run scripts/recipes/qemu-demo.lua --set net=user --set port=2222  # user-mode network,
--     host 127.0.0.1:2222 -> guest :22 (--set kernel_ip=1: its address on the kernel command
--     line instead of DHCP)
--   vmlua run scripts/recipes/qemu-demo.lua --set agent=0     # no agent: ready on the serial marker
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"

local root  = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest = vmlua.args.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local share = vmlua.args.share or (root .. "/build/demo-share")
local greeting = share .. "/hello-from-guest.txt"
local with_agent = vmlua.args.agent ~= "0"

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
  -- qemu-ga on a virtio-serial port: ready once it answers, stopped with
  -- guest-shutdown first; sb:exec, vmlua exec, vmlua cp. Without it: ready
  -- on the guest's marker, stopped by the ACPI power button.
  agent  = with_agent,
  ready  = not with_agent and { serial = "VMLUA-GUEST-READY", timeout = 60,
             hint = "is the guest kit built (make guest)? see the serial log for the guest's own error" } or nil,
  on_start = function()
    os.remove(greeting) -- so that what we show below was written by this boot
  end,
  on_ready = function(sb)
    if sb.command or sb.detached then return end -- one-shot or -d: the command line is for vmlua
    local f = io.open(greeting, "r")
    if not f then error("the guest did not write " .. greeting) end
    io.stdout:write("--- ", greeting, " (written by the guest) ---\n", f:read("a"))
    f:close()
    if with_agent then
      local r = assert(sb:exec { "uname", "-sr" })
      io.stdout:write("--- uname -sr, run in the guest by its agent (exit status ", r.status, ") ---\n", r.stdout)
    end
    io.stdout:flush()
    if not sb.args.keep then sb:stop() end
  end,
}
