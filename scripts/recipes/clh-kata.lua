--- The seed's sandbox as a recipe: Kata's 2019 cloud-hypervisor driver
-- (clh.go), done right. cloud-hypervisor is started with only an API socket
-- and driven over REST as the newest Kata driver does (vm.create, vm.boot,
-- vm.info Running), with virtiofsd sharing a folder as "kataShared", Kata's
-- kernel parameters, an entropy source and the hybrid vsock in the sandbox dir,
-- through which vmlua reaches the guest agent (qemu-ga on vsock port 1024:
-- sb:exec, vmlua exec, vmlua cp).
--
--   vmlua run scripts/recipes/clh-kata.lua --set clh=/usr/local/bin/cloud-hypervisor
--   vmlua run scripts/recipes/clh-kata.lua --set flow=cli     # everything on the command line
--   vmlua run scripts/recipes/clh-kata.lua -- uname -a        # one-shot: run, print, stop
--   vmlua run scripts/recipes/clh-kata.lua --set agent=0      # no agent: ready on the marker
local vmlua  = require "vmlua"
local clh    = require "vmlua.clh"
local params = require "vmlua.params"

local id    = vmlua.args.id or "kata"
local root  = require("vmlua.core").fs.realpath(vmlua.recipe_dir .. "/../..")
local guest = vmlua.args.guest or os.getenv("VMLUA_GUEST") or (root .. "/build/guest")
local share = vmlua.args.share or (root .. "/build/kata-share")

local cmdline = params.load("kata-clh")
if vmlua.args.debug then cmdline:merge(params.load("kata-clh-debug")) end
cmdline:set("console", "ttyS0"):set("vmlua.share", "kataShared")
local with_agent = vmlua.args.agent ~= "0"
local ready = { { api = "Running", timeout = 10 }, { serial = "VMLUA-GUEST-READY", timeout = 60 } }
if with_agent then ready[#ready + 1] = { agent = true, timeout = 60 } end
local stop = { "powerdown", "shutdown", "term", "kill", grace = 3 }
if with_agent then table.insert(stop, 1, "agent") end

return vmlua.sandbox {
  id = id,
  description = "Kata's cloud-hypervisor sandbox: REST flow, virtiofsd, Kata kernel parameters",
  flow = vmlua.args.flow or "api",
  hypervisor = clh.config {
    path      = vmlua.args.clh or "/usr/local/bin/cloud-hypervisor",
    kernel    = guest .. "/vmlinux",
    initramfs = guest .. "/initrd.gz",
    cmdline   = cmdline,
    cpus      = { boot = tonumber(vmlua.args.cpus or "1") },
    memory    = { size = vmlua.args.memory or "512M" },
    rng       = { src = "/dev/urandom" },
    vsock     = { cid = 3, socket = vmlua.sandbox_dir(id) .. "/clh.sock" },
    console   = "off",
  },
  shares = { { tag = "kataShared", source = share, create = true } },
  -- the guest agent over the hybrid vsock above (Kata's agent speaks ttrpc
  -- there; vmlua speaks the QEMU guest agent's protocol)
  agent  = with_agent and { port = 1024 } or nil,
  -- the newest Kata flow: the VM is ready when vm.info says Running; then
  -- the guest's own marker on the serial console, then the agent answering
  ready  = ready,
  stop   = stop,
}
