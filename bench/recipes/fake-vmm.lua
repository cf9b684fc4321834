--- The benchmarks' sandbox: tests/fakes/fake-vmm standing in for QEMU. It
-- binds the QMP socket vmlua wires in (-qmp unix:path=...) `delay` ms after
-- it starts and runs until SIGTERM (or `exit` ms after it starts); its bind
-- and exit times (CLOCK_MONOTONIC) go to `ready_file` and `exit_file`.
--
--   vmlua run --detach bench/recipes/fake-vmm.lua --set vmm=build/fakes.d/fake-vmm \
--     --set id=b1 --set delay=100 --set ready_file=/tmp/bound
--
-- Readiness is the socket accepting connections; the stop policy is SIGTERM,
-- then SIGKILL. With --set disk=IMAGE the sandbox has a disk through a
-- qcow2 overlay vmlua creates before the start (the fake ignores -drive).
local vmlua = require "vmlua"
local qemu = require "vmlua.qemu"
local a = vmlua.args

local extra = { "--qemu", "--delay-ms", a.delay or "0" }
local function add(opt, v) if v then extra[#extra + 1] = opt; extra[#extra + 1] = v end end
add("--ready-file", a.ready_file)
add("--exit-file", a.exit_file)
add("--exit-after-ms", a.exit)

return vmlua.sandbox {
  id = a.id or "bench",
  description = "fake-vmm as QEMU: the socket is ready after delay ms",
  hypervisor = qemu.config {
    path = a.vmm or (vmlua.recipe_dir .. "/../../build/fakes.d/fake-vmm"),
    machine = { type = "q35" },
    extra_params = extra,
  },
  disks = a.disk and { { image = a.disk, overlay = true } } or nil,
  ready = { socket = "qmp.sock", timeout = 10 },
  stop = { "term", "kill", grace = 2 },
}
