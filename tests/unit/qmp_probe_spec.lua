-- The qemu driver's qmp probe against the fake QMP server
-- (tests/support/fake_qmp_server.lua): the end of an incoming migration
-- whose event comes in the same read as a reply. The real QEMU is in
-- tests/e2e/incoming_qemu_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local qmp = require "vmlua.qmp"
local D = require "vmlua.driver.qemu"
local probes = require "vmlua.sandbox.probes"

-- The probe also waits for the stop signals, which vmlua blocks to read
-- them through a signalfd.
local saved
before_each(function()
  saved = core.signals.blocked()
  core.signals.block(probes.STOP_SIGNALS)
end)

after_each(function()
  core.signals.unblock(probes.STOP_SIGNALS)
  core.signals.block(saved)
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

--- Just what the probe asks of a runtime: the control socket, a client on
-- it, and the processes to watch (none here).
local function runtime(path)
  return {
    plan = { control_socket = path },
    watched = function() return {} end,
    control = function(_, timeout) return qmp.connect(path, { timeout = timeout }) end,
  }
end

describe("the qmp probe", function()
  it("passes when the migration's end came in the same read as the reply that still said inmigrate", function()
    -- The event then sits in the client's buffer, not in the kernel's: the
    -- probe's wait must count it (core.wait counts a Socket's buffered lines).
    local rt = runtime(S.fake_qmp("normal"))
    local t0 = core.monotonic()
    local ok, fail = D.probes.qmp.run(rt, { kind = "qmp", state = "paused" }, t0 + 3)
    assert.is_true(ok, fail and fail.kind)
    assert.truthy(core.monotonic() - t0 < 1)
  end)

  it("times out with the last state when the state never comes", function()
    local rt = runtime(S.fake_qmp("normal"))
    local t0 = core.monotonic()
    local ok, fail = D.probes.qmp.run(rt, { kind = "qmp", state = "running" }, t0 + 0.5)
    assert.is_nil(ok)
    assert.equal("timeout", fail.kind)
    assert.equal("paused", fail.last_state)
  end)
end)
