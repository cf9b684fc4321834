--- A QEMU recipe for the network and disk end-to-end tests: the guest kit
-- without a share (no virtiofsd), every knob given with --set:
--   id=ID  machine=q35|microvm  timeout=SEC
--   net=none|user|tap  forward=RULE  forward2=RULE  isolated=1  tap=NAME  address=CIDR
--   kernel_ip=1|0 (the guest's address on its kernel command line, not by DHCP)
--   httpd=PORT  fetch=URL  ping=ADDR|gateway   (what the guest kit does: tests/guest/README.md)
--   disk=IMAGE  overlay=1  keep_overlay=1  ephemeral=1  read_only=1  format=FMT  mount=vda
-- The guest stays up until stopped (vmlua stop, or SIGTERM to run).
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"
local a = vmlua.args

local guest = os.getenv("VMLUA_GUEST") or (vmlua.recipe_dir .. "/../../../build/guest")
local machine = a.machine or "q35"
local cmdline = params.load("qemu-serial"):set("quiet")
for _, k in ipairs { "httpd", "fetch", "ping" } do
  if a[k] then cmdline:set("vmlua." .. k, a[k]) end
end
if a.mount then cmdline:set("vmlua.disk", a.mount) end
if machine == "microvm" then
  local tsc = dofile(vmlua.recipe_dir .. "/../../../scripts/lib/tsc.lua")
  local khz = tsc.host_khz()
  if khz then cmdline:set("tsc_early_khz", khz) end
end

local network
if a.net and a.net ~= "none" then
  network = { mode = a.net, isolated = a.isolated == "1" or nil, tap = a.tap, address = a.address }
  if a.kernel_ip then network.kernel_ip = a.kernel_ip == "1" end
  if a.forward then network.forward = { a.forward, a.forward2 } end
end

local disks
if a.disk then
  local flag = function(k) return a[k] == "1" or nil end
  disks = { { image = a.disk, format = a.format, overlay = flag("overlay"), keep_overlay = flag("keep_overlay"),
              ephemeral = flag("ephemeral"), read_only = flag("read_only") } }
end

return vmlua.sandbox {
  id = a.id or "netdisk",
  hypervisor = qemu.config {
    machine = { type = machine, accel = "tcg" },
    memory = { size = "256M" },
    smp = { cpus = 1 },
    kernel = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
  },
  network = network,
  disks = disks,
  ready = { serial = "VMLUA-GUEST-READY", timeout = tonumber(a.timeout or "120") },
  stop = { "powerdown", "quit", "term", "kill", grace = 10 },
}
