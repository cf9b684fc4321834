--- The guest kit without a share (what snapshots and templates need: a
-- virtio-fs device blocks migration), for the snapshot, template and
-- restore specs. Knobs, given with --set:
--   id=ID  machine=q35|microvm  keep=1 (stay up; otherwise stop once ready)
--   ready=serial|qmp|paused  timeout=SEC  template=1  from=NAME  restore=DIR
--   incoming=FILE (QEMU reads a migration stream from FILE at start: -incoming fd:)
--   memory=SIZE  net=user (user-mode networking)  agent=1 (the guest agent: ready
--   and stopped through it)
local vmlua  = require "vmlua"
local qemu   = require "vmlua.qemu"
local params = require "vmlua.params"
local a = vmlua.args

local guest = os.getenv("VMLUA_GUEST") or (vmlua.recipe_dir .. "/../../../build/guest")
local machine = a.machine or "q35"
local cmdline = params.load("qemu-serial"):set("quiet")
if machine == "microvm" then
  local tsc = dofile(vmlua.recipe_dir .. "/../../../scripts/lib/tsc.lua")
  local khz = tsc.host_khz()
  if khz then cmdline:set("tsc_early_khz", khz) end
end

local timeout = tonumber(a.timeout or "60")
local ready
if a.ready == "qmp" then
  ready = { qmp = "running", timeout = timeout }
elseif a.ready == "paused" then
  ready = { qmp = "paused", timeout = timeout }
else
  ready = { serial = "VMLUA-GUEST-READY", timeout = timeout }
end

local incoming
if a.incoming then
  incoming = { migration_type = "fd", fd = assert(io.open(a.incoming, "rb")) }
end

return vmlua.sandbox {
  id = a.id or "noshare",
  hypervisor = qemu.config {
    machine = { type = machine, accel = "tcg" },
    memory = { size = a.memory or "256M" },
    smp = { cpus = 1 },
    kernel = { path = guest .. "/vmlinux", initrd = guest .. "/initrd.gz", params = cmdline },
    knobs = { no_graphic = true, no_reboot = true, no_defaults = true, no_user_config = true },
    incoming = incoming,
  },
  template = a.template == "1" or nil,
  network = a.net and { mode = a.net } or nil,
  from = a.from,
  restore = a.restore,
  agent = a.agent == "1" or nil,
  ready = a.agent ~= "1" and ready or nil,
  stop = a.agent ~= "1" and { "powerdown", "quit", "term", "kill", grace = 5 } or nil,
  on_ready = function(sb)
    io.stdout:write("READY ", sb.id, " ", tostring(sb.pid), "\n")
    io.stdout:flush()
    if not a.keep then sb:stop() end
  end,
  on_exit = function(_, exit)
    io.stdout:write("EXIT ", exit.how, " ", tostring(exit.code), "\n")
  end,
}
