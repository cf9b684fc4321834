-- Claims of the documentation that a new user relied on and that were wrong
-- once (issue 13): each is checked against the code it describes.
local H = require "support.h"
local virtiofsd = require "vmlua.virtiofsd"

local function doc(name) return assert(H.read(H.root .. "/docs/" .. name)) end

describe("the docs say", function()
  it("the virtiofsd search order of virtiofsd.CANDIDATES, in the recipe guide and on the virtiofsd page", function()
    local quoted = {}
    for i, c in ipairs(virtiofsd.CANDIDATES) do quoted[i] = "`" .. c .. "`" end
    local recipes = doc("recipes.md"):match("| `virtiofsd.path` | ([^|]*) |")
    local page = doc("api/virtiofsd.md"):match("`virtiofsd.find%(%[candidates%]%)` | ([^|]*) |")
    for _, text in ipairs({ recipes, page }) do
      assert.truthy(text)
      local at = 0
      for _, q in ipairs(quoted) do
        local i = text:find(q, at + 1, true)
        assert.truthy(i, q .. " missing or out of order in: " .. text)
        at = i
      end
    end
  end)

  it("sb:serial_tail(n) is one string of the last n lines", function()
    assert.truthy(doc("recipes.md"):find("`sb:serial_tail(n)`\n(one string: the last `n` lines", 1, true))
    assert.truthy(doc("api/vmlua.md"):find("| `sb:serial_tail([n])` | one string: the last `n` (20) lines", 1, true))
    local runtime = require "vmlua.sandbox.runtime"
    local log = H.tmpdir() .. "/serial.log"
    H.write(log, "a\nb\nc\n")
    local sb = setmetatable({ plan = { serial_log = log } }, runtime.Runtime)
    assert.are.equal("b\nc", sb:serial_tail(2))
    assert.are.equal("a\nb\nc", sb:serial_tail())
    H.cleanup_tmp()
  end)

  it("the plan module is vmlua.sandbox.plan, and its plan keeps the hypervisor's probes under the process too", function()
    assert.falsy(doc("recipes.md"):find("wiring", 1, true))
    assert.falsy(doc("api/vmlua.md"):find("wiring", 1, true))
    local vmlua = require "vmlua"
    local sb = assert(vmlua.load_recipe(H.root .. "/scripts/recipes/qemu-demo.lua", {}))
    local plan = require("vmlua.sandbox.plan").plan(sb, { run_dir = "/run/vmlua-test" })
    assert.are.equal(plan.hypervisor, plan.processes[#plan.processes])
    assert.are.equal(plan.ready, plan.hypervisor.ready)
  end)
end)
