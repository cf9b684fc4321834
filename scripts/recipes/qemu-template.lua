--- The demo guest without a share, as a template and its clones
-- (docs/snapshots.md): a template sandbox boots once and is saved; each
-- clone maps its RAM file copy-on-write and starts in a fraction of a
-- second, with no boot.
--
--   vmlua run -d scripts/recipes/qemu-template.lua --set template=1 --id t0
--   vmlua template save t0 demo
--   vmlua run -d scripts/recipes/qemu-template.lua --from demo --id c1
--   vmlua stop c1; vmlua template rm demo
--
-- --set machine=microvm for QEMU's microvm; --set accel=kvm where KVM works.
-- (A share cannot be in a template: virtio-fs blocks the migration a save
-- is.)
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"

local root    = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest   = vmlua.args.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local machine = vmlua.args.machine or "q35"
local accel   = vmlua.args.accel or "tcg"

local cmdline = params.load("qemu-serial"):set("quiet")
if machine == "microvm" and accel == "tcg" then
  local khz = dofile(vmlua.recipe_dir .. "/../lib/tsc.lua").host_khz()
  if khz then cmdline:set("tsc_early_khz", khz) end
end

return vmlua.sandbox {
  id = vmlua.args.id or "template",
  description = "the guest kit without a share: a template and its clones",
  hypervisor = qemu.config {
    machine = { type = machine, accel = accel },
    memory  = { size = "256M" },
    smp     = { cpus = 1 },
    kernel  = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs   = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
  },
  template = vmlua.args.template == "1",
  -- a boot's readiness; a clone is ready once QEMU runs it again
  ready = { serial = "VMLUA-GUEST-READY", timeout = 60,
            hint = "is the guest kit built (make guest)? see the serial log for the guest's own error" },
  stop = { "powerdown", "quit", "term", "kill", grace = 5 },
}
