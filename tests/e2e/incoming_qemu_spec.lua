-- End to end, real QEMU (TCG): a recipe whose QEMU takes a migration
-- stream at start (`incoming`, -incoming fd:) is ready by `{ qmp = "paused" }`
-- (issue 13, item 4). QEMU's switch from "inmigrate" to "paused" comes with
-- no event unless the migration's `events` capability is on, so a probe
-- that only waited for events never passed ("last state: inmigrate").
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"
local qmp = require "vmlua.qmp"

local RECIPE = H.root .. "/tests/e2e/recipes/noshare.lua"

describe("a QEMU sandbox started from a migration stream (incoming)", function()
  local w
  setup(function() w = E.world() end)
  teardown(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("is ready by { qmp = 'paused' } once the stream is loaded", function()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=src", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    -- a migration stream of the paused guest, in a file (QEMU writes it to
    -- an fd it received with getfd)
    local stream = w.dir .. "/stream"
    local c = assert(qmp.connect(w.run .. "/src/qmp.sock", { timeout = 30 }))
    assert(c:migrate_set_capabilities { events = true })
    assert(c:execute("stop"))
    local f = assert(io.open(stream, "wb"))
    assert(c:getfd("stream", f))
    f:close()
    assert(c:migrate("fd:stream"))
    assert(c:wait_event("MIGRATION", 60, { status = "completed" }))
    c:close()
    assert.are.equal(0, (E.vmlua(w, { "stop", "src" })))

    local t0 = core.monotonic()
    local rcode, out, rerr = E.vmlua(w, { "run", RECIPE, "--set", "id=dst", "--set", "incoming=" .. stream,
                                          "--set", "ready=paused", "--set", "timeout=30", "--progress" })
    assert.are.equal(0, rcode, rerr)
    assert.truthy(rerr:find("qmp probe (state paused) passed", 1, true), rerr)
    assert.truthy(out:find("READY dst", 1, true), out)
    assert.truthy(core.monotonic() - t0 < 30)
    assert.are.same({}, E.leftovers(w))
  end)
end)
