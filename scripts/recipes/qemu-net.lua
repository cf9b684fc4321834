--- The guest kit on a network and a throwaway disk: user-mode networking
-- with a forward from the host's 127.0.0.1:8080 to the guest's web server
-- (busybox httpd, started by the kit's vmlua.httpd=80), and, with --set
-- disk=IMAGE, an ext4 image the guest mounts through a qcow2 overlay that
-- vmlua creates in the sandbox dir and removes at the end: the image is
-- never written.
--
--   vmlua run scripts/recipes/qemu-net.lua --set keep=1     # then: curl http://127.0.0.1:8080/
--   vmlua run scripts/recipes/qemu-net.lua --set port=8081 --set disk=/tmp/data.ext4
--   vmlua run scripts/recipes/qemu-net.lua --set net=tap    # a host-only tap instead (root)
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"

local a = vmlua.args
local root  = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest = a.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local port  = a.port or "8080"

local cmdline = params.load("qemu-serial"):set("quiet"):set("vmlua.httpd", "80")
if a.disk then cmdline:set("vmlua.disk", "vda") end

local network = { mode = "user", forward = { "tcp:127.0.0.1:" .. port .. "-:80" } }
if a.net == "tap" then network = { mode = "tap" } end

return vmlua.sandbox {
  id = a.id or "net",
  description = "the guest kit with a web server behind a port forward, and an overlay disk",
  hypervisor = qemu.config {
    machine = { type = "q35", accel = a.accel or "tcg" },
    memory  = { size = "256M" },
    smp     = { cpus = 1 },
    kernel  = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs   = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
  },
  network = network,
  disks   = a.disk and { { image = a.disk, overlay = true } } or nil,
  ready   = { serial = "VMLUA-GUEST-READY", timeout = 60,
              hint = "is the guest kit built (make guest)? see the serial log for the guest's own error" },
  stop    = { "powerdown", "quit", "term", "kill", grace = 5 },
  on_ready = function(sb)
    -- sb.network: what state.json records (the forwards, the tap's addresses)
    local n = sb.network
    local where = n.tap and ("http://" .. n.tap.guest .. "/") or ("http://127.0.0.1:" .. n.forwards[1].host_port .. "/")
    io.stdout:write(sb.id, " is up: its web server answers at ", where, "\n")
    io.stdout:flush()
    if not sb.args.keep then sb:stop() end
  end,
}
