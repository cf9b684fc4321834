--- A QEMU recipe for the end-to-end tests: the guest kit with a share,
-- every knob a test needs given with --set:
--   machine=q35|microvm  marker=TEXT|none (what the guest prints)
--   want=TEXT (what the recipe waits for)  timeout=SEC  id=ID  share=DIR
--   keep=1 (stay up; otherwise stop once ready)  halt=1 (guest powers off at once)
--   extra=ARG (one extra QEMU argument)  virtiofsd=PATH  qemu=PATH
--   stop=powerdown,quit,term,kill  grace=SEC  ready=serial|qmp|fn|serial+agent
--   agent=1 (the guest agent: ready and stop through it unless ready=/stop= say
--   otherwise)  agent_timeout=SEC  guest_agent=off (the guest runs no qemu-ga)
--   template=1
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"
local a = vmlua.args

local guest = os.getenv("VMLUA_GUEST") or (vmlua.recipe_dir .. "/../../../build/guest")
local machine = a.machine or "q35"
local cmdline = params.load("qemu-serial"):set("quiet"):set("vmlua.share", "vmlua")
if a.marker then cmdline:set("vmlua.marker", a.marker) end
if a.halt then cmdline:set("vmlua.halt", "1") end
if a.guest_agent then cmdline:set("vmlua.agent", a.guest_agent) end
if machine == "microvm" then
  local tsc = dofile(vmlua.recipe_dir .. "/../../../scripts/lib/tsc.lua")
  local khz = tsc.host_khz()
  if khz then cmdline:set("tsc_early_khz", khz) end
end

local stop
if a.stop or not a.agent then
  stop = {}
  for step in (a.stop or "powerdown,quit,term,kill"):gmatch("[^,]+") do stop[#stop + 1] = step end
  stop.grace = tonumber(a.grace or "5")
end

local ready
local marker_probe = { serial = a.want or "VMLUA-GUEST-READY", timeout = tonumber(a.timeout or "60"),
                       hint = "the test guest prints its marker once its share is mounted" }
if a.agent and not a.ready then
  ready = nil -- the agent's default: ready once it answers
elseif a.ready == "serial+agent" then
  ready = { marker_probe, { agent = true, timeout = tonumber(a.agent_ready or "5") } }
elseif a.ready == "qmp" then
  ready = { qmp = "running", timeout = tonumber(a.timeout or "60") }
elseif a.ready == "fn" then
  local greeting = (a.share or "share") .. "/hello-from-guest.txt"
  ready = { fn = function() return io.open(greeting) ~= nil end, timeout = tonumber(a.timeout or "60") }
else
  ready = marker_probe
end

return vmlua.sandbox {
  id = a.id or "e2e",
  hypervisor = qemu.config {
    path = a.qemu,
    machine = { type = machine, accel = "tcg" },
    memory = { size = "256M" },
    smp = { cpus = 1 },
    kernel = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
    extra_params = a.extra and { a.extra } or nil,
  },
  shares = { { tag = "vmlua", source = a.share or "share", virtiofsd = { path = a.virtiofsd } } },
  ready = ready,
  stop = stop,
  agent = a.agent and { timeout = tonumber(a.agent_timeout or "10") } or nil,
  timeouts = { ready = tonumber(a.timeout or "60") },
  template = a.template == "1" or nil,
  on_ready = function(sb)
    io.stdout:write("READY ", sb.id, " ", tostring(sb.pid), "\n")
    io.stdout:flush()
    if not a.keep then sb:stop() end
  end,
  on_exit = function(_, exit)
    io.stdout:write("EXIT ", exit.how, " ", tostring(exit.code), "\n")
  end,
}
