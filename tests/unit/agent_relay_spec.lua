-- The guest agent's relay (vmlua.sandbox.agent_relay): a supervisor holds
-- the agent's socket and serves agent.sock, one client at a time, bytes
-- passed as they are; clients of a sandbox found by id use it, and go to the
-- agent's socket directly when nobody serves it. The agent is the fake
-- (tests/support/fake_qga_server.lua); the relay runs in a child process, as
-- it does in a supervisor.
local core = require "vmlua.core"
local qga = require "vmlua.qga"
local agent = require "vmlua.sandbox.agent"
local S = require "support.servers"
local H = require "support.h"
local child = require "support.child"

-- Start the fake agent and a relay in front of it; returns the fake's
-- socket, the relay's socket and the relay's process.
local function relay_for()
  local dir = H.tmpdir()
  local up = dir .. "/qga.sock"
  S.lua_server("fake_qga_server.lua", { up, "normal" }, dir)
  local code = string.format([[
    local core = require "vmlua.core"
    local relay = require "vmlua.sandbox.agent_relay"
    local rt = { plan = { agent = { socket = %q } }, driver = { agent = { relay = true } }, dir = %q,
                 state = { agent = {} }, save = function() return true end }
    local r = assert(relay.open(rt))
    io.stdout:write(rt.state.agent.relay, "\n")
    io.stdout:flush()
    while true do
      local i = core.wait(r:conditions(), 60)
      if not i or not r:handle(i) then break end
    end
  ]], up, dir)
  local p = child.start(code, { LUA_PATH = package.path, LUA_CPATH = package.cpath })
  local path = p:read_line()
  assert.are.equal(dir .. "/agent.sock", path)
  return up, path, p
end

describe("the guest agent's relay", function()
  after_each(function()
    assert.are.same({}, S.cleanup())
    H.cleanup_tmp()
  end)

  it("passes a client's exchange through, one client after another", function()
    local _, path, p = relay_for()
    for _ = 1, 3 do
      local c = assert(qga.connect { socket = path, timeout = 5 })
      assert.is_true(c:ping())
      assert.are.equal(2, assert(c:exec { "sh", "-c", "2" }).status)
      c:close()
    end
    p.proc:close()
  end)

  it("serves clients in turn: the second waits until the first leaves", function()
    local _, path, p = relay_for()
    local a = assert(qga.connect { socket = path, timeout = 5 })
    local r, _, class = qga.connect { socket = path, timeout = 0.3 }
    assert.is_nil(r)
    assert.are.equal("timeout", class)
    local b_sock = assert(core.socket.connect(path))
    assert.is_true(a:ping())
    a:close()
    local b = assert(qga.over(b_sock, { socket = path, timeout = 5 }))
    assert.is_true(b:ping())
    b:close()
    p.proc:close()
  end)

  it("is what a sandbox found by id talks to; without it, the agent's socket", function()
    local up, path, p = relay_for()
    local driver = require("vmlua.driver").named("qemu")
    local dir = path:match("^(.*)/agent%.sock$")
    local st = { id = "r", hypervisor = "qemu", agent = { socket = up, relay = path, timeout = 5 } }
    local sb = agent.attached(st, driver, dir, "running")
    assert.are.equal(path, sb.plan.agent.relay)
    local c = assert(sb:agent())
    assert.are.equal(path, c.path)
    c:close()
    p.proc:close() -- the relay is gone: its socket refuses, the agent's own is used
    c = assert(sb:agent())
    assert.are.equal(up, c.path)
    assert.is_true(c:ping())
    c:close()
  end)
end)
