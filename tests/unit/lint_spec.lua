-- Every Lua file of the project passes luacheck (.luacheckrc): unused
-- variables, shadowing, globals and long lines are caught here, not in review.
local core = require "vmlua.core"
local H = require "support.h"

describe("luacheck", function()
  it("reports nothing for lua/, scripts/, tests/ and bench/", function()
    local out = os.tmpname()
    local p = assert(core.spawn { argv = { "luacheck", "--no-color", "--formatter", "plain", "lua", "scripts", "tests", "bench" },
                                  cwd = H.root, stdin = "null", stdout = { file = out, append = false }, stderr = "stdout" })
    local how, code = p:wait(120)
    p:close()
    local report = H.read(out) or ""
    os.remove(out)
    assert.are.equal("", report)
    assert.are.same({ "exited", 0 }, { how, code })
  end)
end)
