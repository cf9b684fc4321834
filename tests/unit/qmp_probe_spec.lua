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
  it("passes when the migration's end came before a reply that still said inmigrate", function()
    -- QEMU 7.2 sends a query-status reply when its QMP dispatcher resumes,
    -- after the handler ran: the end of the migration can come in between.
    -- The event is then read while waiting for that reply, and nothing
    -- more comes: a probe that waits for the socket waits to its deadline.
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

  it("says where an incoming migration stands when its end never comes", function()
    local rt = runtime(S.fake_qmp("stuck-incoming"))
    local ok, fail = D.probes.qmp.run(rt, { kind = "qmp", state = "paused" }, core.monotonic() + 0.5)
    assert.is_nil(ok)
    assert.equal("timeout", fail.kind)
    assert.equal("inmigrate, incoming migration active, its events could not be turned on "
                 .. "(QMP error GenericError: not now)", fail.last_state)
  end)
end)
