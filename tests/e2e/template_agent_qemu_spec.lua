-- Templates with the guest agent (docs/snapshots.md, "making clones
-- unique"): a clone is ready when its agent answers, and vmlua gives each
-- clone fresh randomness from the host and the host's time through the
-- agent, so clones of one template neither draw the same random numbers nor
-- keep the template's clock.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/e2e/recipes/noshare.lua"

describe("templates with the guest agent (QEMU, real guest, real qemu-ga)", function()
  local w, saved_at
  setup(function()
    w = E.world()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=ta", "--set", "template=1", "--set", "agent=1",
                                      "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    code, _, err = E.vmlua(w, { "template", "save", "ta", "withagent" })
    assert.are.equal(0, code, err)
    saved_at = core.time()
  end)
  teardown(function()
    if w then
      E.vmlua(w, { "template", "rm", "withagent" })
      local problems = E.leftovers(w)
      H.cleanup_tmp()
      assert.are.same({}, problems)
    end
  end)

  local function clone(id)
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--from", "withagent", "--set", "id=" .. id,
                                      "--set", "agent=1", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    return E.state(w, id)
  end

  local function exec(id, ...)
    local code, out, err = E.vmlua(w, { "exec", id, "--", ... })
    assert.are.equal(0, code, err)
    return out
  end

  it("a clone is ready when its agent answers, and its randomness is its own", function()
    local st = clone("ca")
    assert.are.equal("running", st.status)
    assert.are.same({ randomness = true, clock = true }, st.snapshot.refreshed)
    clone("cb")
    local a = exec("ca", "sh", "-c", "head -c 32 /dev/urandom | od -An -tx1")
    local b = exec("cb", "sh", "-c", "head -c 32 /dev/urandom | od -An -tx1")
    assert.are_not.equal(a, b)
    for _, id in ipairs { "ca", "cb" } do assert.are.equal(0, (E.vmlua(w, { "stop", id }))) end
  end)

  it("a clone keeps the host's time, not the template's", function()
    -- the template was saved before the clones above ran: its clock is
    -- behind by at least that long
    clone("cc")
    local guest = tonumber((exec("cc", "date", "+%s"):match("%d+")))
    local now = core.time()
    assert.truthy(now - saved_at > 3, "the test needs the template saved more than 3 s ago")
    assert.truthy(math.abs(guest - now) <= 2, string.format("guest %d, host %.0f", guest, now))
    assert.are.equal(0, (E.vmlua(w, { "stop", "cc" })))
  end)
end)
