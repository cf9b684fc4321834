-- vmlua.http against hostile servers (tests/support/fake_http_server.lua):
-- servers that never stop sending must not keep a request past its timeout
-- (+ 0.5 s) nor make the client hold more than 100 MiB (issue 12 findings 5
-- and 6). The ordinary replies are in tests/unit/chapi_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local hostile = require "support.hostile"
local http = require "vmlua.http"

after_each(function()
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

local REQUEST = [[
  return require("vmlua.http").request(path, { method = "GET", target = "/api/v1/vm.info", timeout = 2 })
]]

describe("http.request against a server that never stops sending", function()
  local cases = {
    { "endless-continue", "no complete response within 2 s", "timeout" },
    { "endless-trailers", "more than 128 trailer lines", "protocol" },
    { "endless-header", "a response line of more than 16384 bytes", "protocol" },
    { "endless-body", "a body of more than 8388608 bytes", "protocol" },
    { "endless-body-te", "a body of more than 8388608 bytes", "protocol" },
    { "endless-chunks", "no complete response within 2 s", "timeout" },
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      local path = S.fake_http(case[1])
      local secs, mib, res, err, kind = hostile.measure(path, REQUEST)
      assert.same({ "nil", case[2], case[3] }, { res, err, kind })
      assert.is_true(secs < 2 + hostile.SLACK, "took " .. secs)
      assert.is_true(mib < hostile.MAX_MIB, string.format("%.1f MiB", mib))
    end)
  end

  it("vmlua api --timeout 2 against a body that never ends", function()
    local path = S.fake_http("endless-body")
    hostile.vmlua_within_2s({ "api", "--socket", path, "--timeout", "2", "vm.info" },
                            "a body of more than 8388608 bytes")
  end)

  it("a body of exactly MAX_BODY bytes, ended by the close, is still read", function()
    local path = S.fake_http("max-body")
    local res = assert(http.request(path, { method = "GET", target = "/x", timeout = 10 }))
    assert.equal(http.MAX_BODY, #res.body)
  end)
end)

describe("core socket reads with a bound", function()
  it("read_line with max hands out a line in pieces of max bytes", function()
    local a, b = core.socket.pair()
    b:send(string.rep("x", 10) .. "\nyz\n")
    assert.equal("xxxx", a:read_line(1, 4))
    assert.equal("xxxx", a:read_line(1, 4))
    assert.equal("xx", a:read_line(1, 4))
    assert.equal("yz", a:read_line(1, 4))
    assert.has_error(function() a:read_line(1, 0) end)
    a:close()
    b:close()
  end)

  it("read_all with max fails with EMSGSIZE past it, keeping what came", function()
    local a, b = core.socket.pair()
    b:send("0123456789")
    b:close()
    assert.same({ nil, "more than 4 bytes before the end: Message too long", core.errno.EMSGSIZE },
      { a:read_all(1, 4) })
    assert.equal("0123456789", a:read_all(1))
    a:close()
  end)

  it("read_all with max stops a peer that never stops at once", function()
    local path = S.fake_http("endless-body")
    local a = assert(core.socket.connect(path, 5))
    assert(a:send("GET / HTTP/1.1\r\n\r\n"))
    local t0 = core.monotonic()
    local res, err, errno = a:read_all(5, 1 << 20)
    assert.same({ nil, core.errno.EMSGSIZE }, { res, errno }, err)
    assert.is_true(core.monotonic() - t0 < 1)
    a:close()
  end)
end)
