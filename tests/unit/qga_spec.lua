-- vmlua.qga against a fake guest agent (tests/support/fake_qga_server.lua)
-- and against hostile peers: garbage, endless lines, wrong sync ids, floods,
-- a peer that closes mid-reply. Every failure must be a clean message within
-- the timeout, with the client's memory bounded. (The real qemu-ga is in
-- tests/e2e/agent_qemu_spec.lua.)
local core = require "vmlua.core"
local qga = require "vmlua.qga"
local reader = require "vmlua.qga.reader"
local S = require "support.servers"
local H = require "support.h"

-- A fake agent in MODE on a socket of its own: the socket's path.
local function server(mode)
  local dir = H.tmpdir()
  local path = dir .. "/qga.sock"
  S.lua_server("fake_qga_server.lua", { path, mode }, dir)
  return path
end

local function connect(path, extra)
  local opts = { socket = path, timeout = 5 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return qga.connect(opts)
end

describe("vmlua.qga reader", function()
  it("frames lines across chunks and strips \\r", function()
    local r = reader.new(100)
    assert.is_true(r:feed('{"a":'))
    assert.is_nil(r:next())
    assert.is_true(r:feed('1}\r\n{"b":2}\n{"c"'))
    assert.are.equal('{"a":1}', r:next())
    assert.are.equal('{"b":2}', r:next())
    assert.is_nil(r:next())
    assert.are.equal(4, r:pending())
  end)

  it("after hunt() keeps nothing until the 0xFF sentinel", function()
    local r = reader.new(100)
    r:feed("stale\n")
    r:hunt()
    assert.is_nil(r:next())
    assert.is_true(r:feed(string.rep("junk", 1000)))
    assert.are.equal(0, r:pending())
    assert.is_true(r:hunting_sentinel())
    assert.is_true(r:feed('x\n\255{"return": 5}\n'))
    assert.is_false(r:hunting_sentinel())
    assert.are.equal('{"return": 5}', r:next())
  end)

  it("forgets a partial line at a 0xFF, as the schema asks of clients", function()
    local r = reader.new(100)
    r:hunt()
    assert.is_true(r:feed('\255{"return": 1}\n\255{"retu'))
    assert.is_true(r:feed('\255{"return": 2}\n'))
    assert.are.equal('{"return": 1}', r:next())
    assert.are.equal('{"return": 2}', r:next())
    assert.is_nil(r:next())
  end)

  it("refuses a line over its limit, keeping what came before it", function()
    local r = reader.new(10)
    assert.is_true(r:feed("short\n12345"))
    local ok, err = r:feed("678901")
    assert.is_false(ok)
    assert.are.equal("a reply line over 10 bytes", err)
    assert.are.equal("short", r:next())
    assert.are.equal(0, r:pending())
  end)

  it("never raises and never holds more than its limit, whatever the bytes and however they are cut", function()
    math.randomseed(14)
    for _ = 1, 300 do
      local r = reader.new(64)
      if math.random() < 0.5 then r:hunt() end
      for _ = 1, math.random(1, 20) do
        local n = math.random(0, 100)
        local bytes = {}
        for i = 1, n do
          local c = math.random(0, 255)
          if math.random() < 0.1 then c = 10 elseif math.random() < 0.02 then c = 255 end
          bytes[i] = string.char(c)
        end
        r:feed(table.concat(bytes))
        assert.is_true(r:pending() <= 64)
        while true do
          local line = r:next()
          if not line then break end
          assert.is_true(#line <= 64)
        end
      end
    end
  end)
end)

describe("vmlua.qga against a fake agent", function()
  local path
  setup(function() path = server("normal") end)
  teardown(function() assert.are.same({}, S.cleanup()); H.cleanup_tmp() end)

  it("connects, syncs past the stray-byte error, pings and reads guest-info", function()
    local c = assert(connect(path))
    assert.is_true(c:ping())
    assert.are.equal("7.2.22", assert(c:info()).version)
    assert.truthy(tostring(c):find("vmlua.QGA (" .. path .. ", open)", 1, true))
    c:close()
    assert.truthy(tostring(c):find("closed", 1, true))
    assert.has_error(function() c:ping() end, "attempt to use a closed guest agent client")
  end)

  it("runs a command: status, stdout, stderr, input", function()
    local c = assert(connect(path))
    local r = assert(c:exec { "sh", "-c", "3", input = "data" })
    assert.are.same({ status = 3, stdout = "out:data", stderr = "err" },
                    { status = r.status, stdout = r.stdout, stderr = r.stderr })
    assert.is_nil(r.signal)
    c:close()
  end)

  it("names a command the guest cannot find (notfound) or execute (noexec)", function()
    local c = assert(connect(path))
    local r, err, class = c:exec { "missing" }
    assert.is_nil(r)
    assert.are.equal("notfound", class)
    assert.truthy(err:find("exec: 'missing': not found in the guest", 1, true))
    r, err, class = c:exec { "noexec" }
    assert.is_nil(r)
    assert.are.equal("noexec", class)
    assert.truthy(err:find("not executable in the guest", 1, true))
    c:close()
  end)

  it("reports a signal, output over the cap, and a timeout after which it kills the command", function()
    local c = assert(connect(path))
    assert.are.equal(9, assert(c:exec { "signal" }).signal)
    local r, err, class, partial = c:exec { "cut" }
    assert.is_nil(r)
    assert.are.equal("truncated", class)
    assert.are.equal("exec: 'cut': its stdout was over the guest agent's 16 MiB output cap; only the first 16 MiB "
                     .. "came back", err)
    assert.are.equal(1000, #partial.stdout)
    local t0 = core.monotonic()
    r, err, class = c:exec { "sleep", "100", timeout = 0.3 }
    assert.is_nil(r)
    assert.are.equal("timeout", class)
    assert.are.equal("exec: 'sleep' did not finish within 0.3 s (killed in the guest)", err)
    assert.is_true(core.monotonic() - t0 < 3)
    c:close()
  end)

  it("refuses an exit with neither an exit code nor a signal (found by fuzzing)", function()
    local c = assert(connect(path))
    local r, err, class = c:exec { "nostatus" }
    assert.is_nil(r)
    assert.are.equal("protocol", class)
    assert.truthy(err:find("neither an exit code nor a signal", 1, true), err)
    c:close()
  end)

  it("never takes an error class from the agent that is not QEMU's (a CamelCase word)", function()
    local c = assert(connect(path))
    local r, err, class = c:call("guest-exec", { path = "forged-class" })
    assert.is_nil(r)
    assert.are.equal("GenericError", class)
    assert.are.equal("qga: guest-exec: forged", err)
    c:close()
  end)

  it("drops replies to earlier requests and id-less errors", function()
    local c = assert(connect(path))
    assert.are.equal(0, assert(c:exec { "stale" }).status)
    assert.is_true(c:ping())
    c:close()
  end)

  it("copies files in and out in chunks, and names a guest path that does not exist", function()
    local c = assert(connect(path))
    local data = string.rep("0123456789abcdef", 200000) -- 3.2 MB: four chunks
    assert.is_true(c:write_file("/tmp/f", data))
    assert.are.equal(data, c:read_file("/tmp/f"))
    local r, err, class = c:read_file("/nope")
    assert.is_nil(r)
    assert.are.equal("GenericError", class)
    assert.are.equal("qga: guest-file-open: failed to open file '/nope' (mode: 'r'): No such file or directory", err)
    local chunks = 0
    assert.are.equal(#data, c:pull("/tmp/f", function() chunks = chunks + 1; return true end))
    assert.are.equal(4, chunks)
    r, err = c:pull("/tmp/f", function() return nil, "disk full" end)
    assert.is_nil(r)
    assert.are.equal("disk full", err)
    assert.is_true(c:ping()) -- the handle was closed, the connection is fine
    c:close()
  end)

  it("sends guest-shutdown without waiting for a reply (there is none)", function()
    local c = assert(connect(path))
    assert.is_true(c:shutdown())
    assert.is_true(c:ping()) -- syncs again first
    c:close()
  end)

  it("raises for misuse", function()
    assert.has_error(function() qga.connect { timeout = 1 } end,
                     "bad argument #1 to 'connect' (socket: a path expected)")
    assert.has_error(function() qga.connect { socket = path, port = -1 } end,
                     "bad argument #1 to 'connect' (port: an integer 0..4294967295 expected)")
    assert.has_error(function() qga.connect { socket = path, nope = 1 } end,
                     "bad argument #1 to 'connect' (unknown option 'nope')")
    local c = assert(connect(path))
    assert.has_error(function() c:exec {} end, "bad argument #1 to 'exec' (a command expected in [1])")
    assert.has_error(function() c:exec { "x", env = { A = 1 } } end,
                     "bad argument #1 to 'exec' (env: NAME = \"value\" strings expected)")
    assert.has_error(function() c:exec { "x", nope = 1 } end, "bad argument #1 to 'exec' (unknown field 'nope')")
    assert.has_error(function() c:shutdown("off") end,
                     "bad argument #1 to 'shutdown' (mode must be powerdown, halt or reboot)")
    c:close()
  end)
end)

describe("vmlua.qga over cloud-hypervisor's hybrid vsock", function()
  teardown(function() assert.are.same({}, S.cleanup()); H.cleanup_tmp() end)

  it("writes CONNECT, reads OK and speaks QGA", function()
    local c = assert(connect(server("vsock"), { port = 1024 }))
    assert.are.equal(1073741824, c.hostport)
    assert.is_true(c:ping())
    c:close()
  end)

  it("retries while the guest does not listen (the peer closes without OK)", function()
    local c = assert(connect(server("vsock-late"), { port = 1024 }))
    assert.is_true(c:ping())
    c:close()
  end)

  it("gives up at the timeout, saying how often it tried", function()
    local p = server("vsock-closed")
    local t0 = core.monotonic()
    local r, err, class = connect(p, { port = 1024, timeout = 0.3, hint = "is qemu-ga in the guest?" })
    assert.is_nil(r)
    assert.are.equal("timeout", class)
    assert.truthy(err:match("^qga: nothing listens on vsock port 1024 behind .* %(%d+ attempts in 0%.3 s%)\n"
                            .. "hint: is qemu%-ga in the guest%?$"), err)
    assert.is_true(core.monotonic() - t0 < 3)
  end)

  it("refuses an answer that is not OK, or too long", function()
    local r, err, class = connect(server("vsock-bad"), { port = 7 })
    assert.is_nil(r)
    assert.are.equal("protocol", class)
    assert.truthy(err:find("answered CONNECT 7 with 'NOPE', not OK <port>", 1, true), err)
    r, err, class = connect(server("vsock-long"), { port = 7 })
    assert.is_nil(r)
    assert.are.equal("protocol", class)
    assert.truthy(err:find("answered CONNECT 7 with no line of at most 64 bytes", 1, true), err)
  end)
end)

describe("vmlua.qga against hostile peers", function()
  local saved = qga.MAX_REPLY
  before_each(function() qga.MAX_REPLY = 1024 * 1024 end)
  after_each(function() qga.MAX_REPLY = saved end)
  teardown(function() assert.are.same({}, S.cleanup()); H.cleanup_tmp() end)

  -- Connect (or run fn on a client) and return its result, how long it took
  -- and how much the Lua heap grew meanwhile (KiB).
  local function measured(fn)
    collectgarbage()
    local k0, t0 = collectgarbage("count"), core.monotonic()
    local res = table.pack(fn())
    collectgarbage()
    return res, core.monotonic() - t0, collectgarbage("count") - k0
  end

  it("times out on a peer that never answers", function()
    local p = server("silent")
    local res, secs = measured(function() return connect(p, { timeout = 0.5, hint = "is qemu-ga in the guest?" }) end)
    assert.is_nil(res[1])
    assert.are.equal("timeout", res[3])
    assert.are.equal("qga: no answer to guest-sync-delimited from " .. p .. " within 0.5 s\n"
                     .. "hint: is qemu-ga in the guest?", res[2])
    assert.is_true(secs < 3)
  end)

  it("drops garbage that holds no 0xFF, keeping nothing, until the timeout", function()
    local res, secs, grew = measured(function() return connect(server("garbage"), { timeout = 0.5 }) end)
    assert.are.equal("timeout", res[3])
    assert.is_true(secs < 3)
    assert.is_true(grew < 4096, grew .. " KiB")
  end)

  it("refuses an endless line and drops the connection", function()
    local res, secs, grew = measured(function() return connect(server("huge"), { timeout = 5 }) end)
    assert.is_nil(res[1])
    assert.are.equal("protocol", res[3])
    assert.truthy(res[2]:find("a reply line over 1048576 bytes (the connection is dropped)", 1, true), res[2])
    assert.is_true(secs < 5)
    assert.is_true(grew < 8192, grew .. " KiB")
  end)

  it("never takes an answer with another id for its sync", function()
    local res, secs, grew = measured(function() return connect(server("wrongid"), { timeout = 0.5 }) end)
    assert.are.equal("timeout", res[3])
    assert.is_true(secs < 3)
    assert.is_true(grew < 4096, grew .. " KiB")
  end)

  it("times out on a peer that floods id-less replies", function()
    local c = assert(connect(server("flood"), { timeout = 0.5 }))
    local res, secs, grew = measured(function() return c:ping() end)
    assert.are.equal("timeout", res[3])
    assert.is_true(secs < 3)
    assert.is_true(grew < 4096, grew .. " KiB")
    c:close()
  end)

  it("fails cleanly on a reply that is not JSON", function()
    local c = assert(connect(server("notjson")))
    local r, err, class = c:ping()
    assert.is_nil(r)
    assert.are.equal("protocol", class)
    assert.truthy(err:find("malformed reply from .* to guest%-ping: json: .*: 'this is not json'"), err)
    r, err, class = c:ping()
    assert.is_nil(r)
    assert.are.equal("protocol", class)
    assert.truthy(err:find("malformed reply", 1, true), err) -- the client stays done
    c:close()
  end)

  it("fails cleanly on a peer that closes mid-reply", function()
    local c = assert(connect(server("cut")))
    local r, err, class = c:ping()
    assert.is_nil(r)
    assert.are.equal("disconnected", class)
    assert.truthy(err:find("connection to .* lost: the peer closed the connection"), err)
    c:close()
  end)

  it("ends an exec whose agent goes away, at once, saying so", function()
    local c = assert(connect(server("die")))
    local t0 = core.monotonic()
    local r, err, class = c:exec { "true" }
    assert.is_nil(r)
    assert.are.equal("disconnected", class)
    assert.are.equal("exec: 'true': the connection to the guest agent closed while the command ran (the peer closed "
                     .. "the connection): did the VM stop?", err)
    assert.is_true(core.monotonic() - t0 < 3)
    c:close()
  end)

  it("hands a wait function's refusal back as interrupted", function()
    local p = server("silent")
    local r, err, class, why = connect(p, { timeout = 5, wait = function() return nil, { kind = "signal" } end })
    assert.is_nil(r)
    assert.are.equal("interrupted", class)
    assert.truthy(err:find("interrupted", 1, true))
    assert.are.same({ kind = "signal" }, why)
  end)
end)
