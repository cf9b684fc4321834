-- vmlua.qmp against a fake QMP server (tests/support/fake_qmp_server.lua, a
-- lua5.4 child): what QEMU will not do on demand — malformed greetings,
-- garbage, events before the greeting, multi-MiB lines, disconnects in the
-- middle of a command, servers that never answer. The real QEMU is in
-- tests/e2e/qmp_qemu_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local qmp = require "vmlua.qmp"
local child = require "support.child"
local hostile = require "support.hostile"

local ETIMEDOUT = 110

local clients = {}
local function connect(path, opts)
  local c, err, errno = qmp.connect(path, opts or { timeout = 5 })
  if c then clients[#clients + 1] = c end
  return c, err, errno
end

--- Seconds f() takes, and its results.
local function timed(f)
  local t0 = core.monotonic()
  local r = table.pack(f())
  return core.monotonic() - t0, table.unpack(r, 1, r.n)
end

after_each(function()
  for _, c in ipairs(clients) do c:close() end
  clients = {}
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

describe("qmp.connect", function()
  it("reads the greeting, negotiates, reports the version without gating it", function()
    local path = S.fake_qmp("normal")
    local c = assert(connect(path))
    assert.same({ major = 7, minor = 2, micro = 0, package = "fake" }, c:version())
    assert.same({ "oob" }, c:capabilities())
    assert.equal("open", c.state)
    assert.matches("^vmlua%.QMP %(.*qmp%.sock, open%)$", tostring(c))
    -- qmp_capabilities was sent: a second one is refused by the server
    local res, err, class = c:execute("qmp_capabilities")
    assert.is_nil(res)
    assert.equal("QMP error CommandNotFound: Capabilities negotiation is already complete, command ignored", err)
    assert.equal("CommandNotFound", class)
  end)

  it("keeps events sent before the greeting in the queue", function()
    local path = S.fake_qmp("events-first")
    local c = assert(connect(path))
    local evs = c:events()
    assert.equal(2, #evs)
    assert.same({ "RESUME", "STOP" }, { evs[1].event, evs[2].event })
    assert.same({}, c:events())
  end)

  local malformed = {
    { "not-json", "not JSON %(json: .*%): 'Welcome to the fake monitor'" },
    { "no-qmp", "no \"QMP\" object: '{\"hello\": 1}'" },
    { "bad-version", "QMP%.version%.qemu%.major is not an integer" },
    { "no-caps", "QMP%.capabilities is missing or not an array" },
  }
  for _, case in ipairs(malformed) do
    it("fails on a malformed greeting (" .. case[1] .. ") naming what is wrong", function()
      local path = S.fake_qmp(case[1])
      local c, err = connect(path)
      assert.is_nil(c)
      assert.matches("^qmp: malformed greeting from " .. path:gsub("%p", "%%%0") .. ": " .. case[2], err)
    end)
  end

  it("times out on a server that accepts and never greets", function()
    local path = S.fake_qmp("silent")
    local secs, c, err, errno = timed(function() return connect(path, { timeout = 0.3 }) end)
    assert.is_nil(c)
    assert.equal(ETIMEDOUT, errno)
    assert.matches("no greeting from .* within 0%.3 s %(QEMU serves one QMP client at a time", err)
    assert.is_true(secs >= 0.29 and secs < 2, "took " .. secs)
  end)

  it("fails when the server closes before the greeting", function()
    local path = S.fake_qmp("close")
    local c, err = connect(path)
    assert.is_nil(c)
    assert.equal("qmp: " .. path .. " closed the connection before the greeting", err)
  end)

  it("fails when qmp_capabilities is refused", function()
    local path = S.fake_qmp("caps-error")
    local c, err = connect(path)
    assert.is_nil(c)
    assert.equal("qmp: " .. path .. ": qmp_capabilities failed: QMP error GenericError: capabilities refused", err)
  end)

  it("fails with the errno for a socket path that does not exist", function()
    local dir = H.tmpdir()
    local c, err, errno = connect(dir .. "/none.sock")
    assert.is_nil(c)
    assert.equal("qmp: connect " .. dir .. "/none.sock: No such file or directory", err)
    assert.equal(2, errno)
  end)

  it("fails on a socket nobody listens on (a stale socket file)", function()
    local dir = H.tmpdir()
    -- a process that binds and dies leaves the file, as a crashed QEMU does
    local code = string.format("require('vmlua.core').socket.listen(%q); os.exit(0)", dir .. "/stale.sock")
    local _, _, ok = child.run(code)
    assert.is_true(ok)
    assert.equal("socket", core.fs.stat(dir .. "/stale.sock").type)
    local c, err, errno = connect(dir .. "/stale.sock", { timeout = 1 })
    assert.is_nil(c)
    assert.equal("qmp: connect " .. dir .. "/stale.sock: Connection refused", err)
    assert.equal(111, errno)
  end)

  it("raises for misuse", function()
    assert.has_error(function() qmp.connect(nil) end,
                     "bad argument #1 to 'connect' (socket path expected, got nil)")
    assert.has_error(function() qmp.connect("/x", { timout = 1 }) end,
                     "bad argument to 'connect' (unknown option 'timout')")
    assert.has_error(function() qmp.connect("/x", { timeout = -1 }) end,
                     "bad argument to 'connect' (timeout must be a number >= 0)")
  end)
end)

describe("qmp client:execute", function()
  local path
  before_each(function() path = S.fake_qmp("normal") end)

  it("returns the result table; an empty return is an (empty) object table", function()
    local c = assert(connect(path))
    assert.same({ a = 1, b = { "x" } }, c:execute("echo", { a = 1, b = { "x" } }))
    local empty = c:execute("echo")
    assert.same({}, empty)
    assert.equal('{}', core.json.encode(empty))
    -- arguments {} are sent as an object
    assert.equal('{}', core.json.encode(c:execute("echo", {})))
  end)

  it("turns an error reply into nil, 'QMP error CLASS: desc', CLASS", function()
    local c = assert(connect(path))
    assert.same({ nil, "QMP error GenericError: it failed", "GenericError" }, { c:execute("fail") })
    assert.same({ nil, "QMP error CommandNotFound: The command foo has not been found", "CommandNotFound" },
                { c:execute("foo") })
    -- the client is fine afterwards
    assert.same({ x = 1 }, c:execute("echo", { x = 1 }))
  end)

  it("takes an error class only if it looks like QEMU's (found by fuzzing)", function()
    -- a server could otherwise answer with class "timeout" or "disconnected"
    local c = assert(connect(path))
    for _, class in ipairs { "timeout", "disconnected", "Generic&rror", "", "x y" } do
      assert.same({ nil, "QMP error GenericError: it failed", "GenericError" },
        { c:execute("fail-as", { class = class }) })
    end
    assert.same({ nil, "QMP error DeviceNotFound: it failed", "DeviceNotFound" },
      { c:execute("fail-as", { class = "DeviceNotFound" }) })
  end)

  it("skips garbage lines between replies", function()
    local c = assert(connect(path))
    assert.same({ after_garbage = true }, c:execute("garbage"))
    assert.equal(2, c.skipped_lines) -- the non-JSON line and the array
    assert.same({ z = true }, c:execute("echo", { z = true }))
  end)

  it("accepts a reply without an id when nothing else is outstanding", function()
    local c = assert(connect(path))
    assert.same({ noid = true }, c:execute("noid"))
  end)

  it("reads a reply line of several MiB", function()
    local c = assert(connect(path))
    local size = 6 * 1024 * 1024 + 17
    local res = assert(c:execute("big", { size = size }, { timeout = 30 }))
    assert.equal(size, #res)
    assert.equal(string.rep("x", 64), res:sub(-64))
    assert.same({ ok = 1 }, c:execute("echo", { ok = 1 }))
  end)

  it("times out on a command that is never answered, and stays usable", function()
    local c = assert(connect(path))
    local secs, res, err, class = timed(function() return c:execute("hang", nil, { timeout = 0.2 }) end)
    assert.same({ nil, "qmp: no reply to 'hang' within 0.2 s", "timeout" }, { res, err, class })
    assert.is_true(secs >= 0.19 and secs < 1.5, "took " .. secs)
    assert.equal("open", c.state)
    assert.same({ after = "hang" }, c:execute("echo", { after = "hang" }))
  end)

  it("drops a late reply by its id: the next command gets its own reply", function()
    local c = assert(connect(path))
    local res, err, class = c:execute("slow", { delay = 0.3 }, { timeout = 0.05 })
    assert.same({ nil, "qmp: no reply to 'slow' within 0.05 s", "timeout" }, { res, err, class })
    -- the late { slow = true } arrives first and is dropped
    assert.same({ mine = true }, c:execute("echo", { mine = true }))
    assert.same({}, c.pending)
    -- after a timeout, a reply without an id cannot be told apart: it is
    -- only taken once no late reply is outstanding (here: none is)
    assert.same({ noid = true }, c:execute("noid"))
  end)

  it("fails the pending command when the server disconnects mid-reply, and marks the client", function()
    local c = assert(connect(path))
    local res, err, class = c:execute("cut")
    assert.is_nil(res)
    assert.equal("disconnected", class)
    assert.equal("qmp: connection to " .. path .. " lost waiting for the reply to 'cut': "
                 .. "the server closed the connection (eof)", err)
    assert.equal("disconnected", c.state)
    -- later commands fail at once with the reason
    local secs, r2, e2, c2 = timed(function() return c:execute("echo") end)
    assert.same({ nil, "disconnected" }, { r2, c2 })
    assert.equal("qmp: connection to " .. path .. " lost before 'echo' was sent: "
                 .. "the server closed the connection (eof)", e2)
    assert.is_true(secs < 0.5)
    assert.same({}, c:events())
    -- the socket stays open (at eof) until close, so a wait on it returns
    assert.equal(1, (core.wait({ { readable = c:socket() } }, 1)))
    assert.is_true(c:close())
    assert.equal("closed", c.state)
  end)

  it("fails the pending command when the server closes without replying", function()
    local c = assert(connect(path))
    local res, err, class = c:execute("drop", nil, { timeout = 5 })
    assert.same({ nil, "disconnected" }, { res, class })
    assert.matches("lost waiting for the reply to 'drop'", err)
  end)

  it("quit: a server that closes before answering is success too", function()
    local c = assert(connect(path))
    assert.same({}, c:quit())
    local c2 = assert(connect(path))
    -- the same through execute("quit") (what the stop policy calls)
    assert.same({}, c2:execute("quit"))
  end)

  it("sends fds with the command in the same write (SCM_RIGHTS)", function()
    local c = assert(connect(path))
    local f = assert(io.open("/dev/null"))
    local a, b = core.socket.pair()
    assert.same({ fds = 2 }, c:execute("count-fds", nil, { fds = { f, a } }))
    assert.same({ fds = 0 }, c:execute("count-fds"))
    -- getfd sends one fd with the command (the fake answers 'not found')
    local _, err = c:getfd("fd0", f)
    assert.equal("QMP error CommandNotFound: The command getfd has not been found", err)
    f:close(); a:close(); b:close()
  end)

  it("raises for misuse and after close", function()
    local c = assert(connect(path))
    assert.has_error(function() c:execute(42) end,
                     "bad argument to 'execute' (the command must be a string, got number)")
    assert.has_error(function() c:execute("echo", "x") end,
                     "bad argument to 'execute' (the arguments must be a table, got string)")
    assert.has_error(function() c:execute("echo", nil, { tiemout = 1 }) end,
                     "bad argument to 'execute' (unknown option 'tiemout')")
    assert.has_error(function() c.execute("echo") end,
                     "bad argument to 'execute' (QMP client expected; use ':' to call methods)")
    assert.has_error(function() c:device_del(nil) end, "bad argument to 'device_del' (id must be a string, got nil)")
    c:close()
    assert.is_true(c:close()) -- idempotent
    assert.has_error(function() c:execute("echo") end, "attempt to use a closed QMP client")
    assert.has_error(function() c:events() end, "attempt to use a closed QMP client")
    assert.has_error(function() c:socket() end, "attempt to use a closed QMP client")
  end)

  it("closes with <close> and when collected", function()
    local sock
    do
      local c <close> = assert(qmp.connect(path, { timeout = 5 }))
      sock = c:socket()
      assert.equal("vmlua.Socket (fd " .. sock:fileno() .. ")", tostring(sock))
    end
    assert.equal("vmlua.Socket (closed)", tostring(sock))
    local c2 = assert(qmp.connect(path, { timeout = 5 }))
    sock = c2:socket()
    c2 = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    assert.equal("vmlua.Socket (closed)", tostring(sock))
  end)
end)

describe("qmp events", function()
  local path
  before_each(function() path = S.fake_qmp("normal") end)

  it("queues events that arrive before a reply; events() drains them", function()
    local c = assert(connect(path))
    assert(c:execute("emit", { events = { "A", "B", "C" } }))
    local evs = c:events()
    assert.same({ "A", "B", "C" }, { evs[1].event, evs[2].event, evs[3].event })
    assert.same({ n = 2 }, evs[2].data)
    assert.same({ seconds = evs[1].timestamp.seconds, microseconds = 250000 }, evs[1].timestamp)
    assert.equal(evs[1].timestamp.seconds + 0.25, evs[1].time)
    assert.same({}, c:events())
  end)

  it("events() also reads what is already on the socket, without blocking", function()
    local c = assert(connect(path))
    assert(c:execute("emit", { events = { "X", "Y" }, after = true }))
    -- the events follow the reply: they are on the socket, not yet read
    assert.equal(1, (core.wait({ { readable = c:socket() } }, 5)))
    local seen = {}
    local deadline = core.monotonic() + 5
    while #seen < 2 and core.monotonic() < deadline do
      for _, e in ipairs(c:events()) do seen[#seen + 1] = e.event end
      if #seen < 2 then core.wait({ { readable = c:socket() } }, 1) end
    end
    assert.same({ "X", "Y" }, seen)
    -- nothing there: returns at once
    local secs, evs = timed(function() return c:events() end)
    assert.same({}, evs)
    assert.is_true(secs < 0.05, "events() blocked for " .. secs)
  end)

  it("core.wait on the socket wakes up for an event that comes later", function()
    local c = assert(connect(path))
    assert(c:execute("later", { event = "RESUME", delay = 0.2 }))
    local t0 = core.monotonic()
    local i = core.wait({ { readable = c:socket() } }, 5)
    assert.equal(1, i)
    assert.is_true(core.monotonic() - t0 >= 0.15)
    local evs = c:events()
    assert.equal("RESUME", evs[1].event)
  end)

  it("wait_event takes a queued event, reads for a later one, filters by data", function()
    local c = assert(connect(path))
    assert(c:execute("emit", { events = { "A", "B", "A" } }))
    local ev = assert(c:wait_event("A", 1, { n = 3 }))
    assert.same({ n = 3 }, ev.data)
    ev = assert(c:wait_event("B", 1, function(e) return e.data.n == 2 end))
    assert.equal("B", ev.event)
    -- the first A is still queued
    ev = assert(c:wait_event(nil, 1))
    assert.same({ "A", 1 }, { ev.event, ev.data.n })
    assert(c:execute("later", { event = "SHUTDOWN", delay = 0.1 }))
    ev = assert(c:wait_event("SHUTDOWN", 5))
    assert.equal("SHUTDOWN", ev.event)
    assert.same({}, c:events())
  end)

  it("wait_event times out with a message, queueing what did not match", function()
    local c = assert(connect(path))
    assert(c:execute("later", { event = "OTHER", delay = 0.05 }))
    local secs, ev, err, class = timed(function() return c:wait_event("NEVER", 0.3) end)
    assert.same({ nil, "qmp: no NEVER event within 0.3 s", "timeout" }, { ev, err, class })
    assert.is_true(secs >= 0.29 and secs < 2)
    assert.equal("OTHER", c:events()[1].event)
  end)

  it("bounds the queue, counting what it dropped", function()
    local c = assert(connect(path))
    local old = qmp.MAX_QUEUED_EVENTS
    qmp.MAX_QUEUED_EVENTS = 3
    local ok, err = pcall(function()
      assert(c:execute("emit", { events = { "E1", "E2", "E3", "E4", "E5" } }))
    end)
    qmp.MAX_QUEUED_EVENTS = old
    assert(ok, err)
    local evs = c:events()
    assert.same({ "E3", "E4", "E5" }, { evs[1].event, evs[2].event, evs[3].event })
    assert.equal(2, c.dropped_events)
  end)

  it("device_del waits for DEVICE_DELETED of that id, even one sent before the reply", function()
    local c = assert(connect(path))
    -- an old DEVICE_DELETED for the same id, queued before: must not count
    assert(c:execute("emit", { events = { "DEVICE_DELETED" } }))
    local res, ev = c:device_del("dev1")
    assert.same({}, res)
    assert.same({ device = "dev1", path = "/machine/peripheral/dev1" }, ev.data)
    local left = c:events()
    assert.equal(1, #left)
    assert.same({ n = 1 }, left[1].data)
  end)

  it("system_powerdown waits for POWERDOWN", function()
    local c = assert(connect(path))
    local res, ev = c:system_powerdown { timeout = 2 }
    assert.same({}, res)
    assert.equal("POWERDOWN", ev.event)
  end)
end)

describe("qmp against a server that never stops sending (issue 12 findings 5 and 6)", function()
  -- each call must return within its timeout + 0.5 s, and the client
  -- process stay under 100 MiB
  local cases = {
    { "events instead of a reply", "flood-events", "timeout" },
    { "garbage lines instead of a reply", "flood-garbage", "timeout" },
    { "one line that never ends", "endless-line", "timeout" },
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      local path = S.fake_qmp("normal")
      local secs, mib, res, err, class = hostile.measure(path, string.format([[
        local c = assert(require("vmlua.qmp").connect(path, { timeout = 5 }))
        return c:execute(%q, nil, { timeout = 2 })
      ]], case[2]))
      assert.same({ "nil", case[3] }, { res, class }, err)
      assert.matches("no reply to '" .. case[2]:gsub("%p", "%%%0") .. "' within 2 s", err)
      assert.is_true(secs >= 2 and secs < 2 + hostile.SLACK, "took " .. secs)
      assert.is_true(mib < hostile.MAX_MIB, string.format("%.1f MiB", mib))
    end)
  end

  it("events before a greeting that never comes", function()
    local path = S.fake_qmp("flood-events")
    local secs, mib, res, err = hostile.measure(path, [[
      return require("vmlua.qmp").connect(path, { timeout = 2 })
    ]])
    assert.equal("nil", res)
    assert.matches("no greeting from .* within 2 s", err)
    assert.is_true(secs >= 2 and secs < 2 + hostile.SLACK, "took " .. secs)
    assert.is_true(mib < hostile.MAX_MIB, string.format("%.1f MiB", mib))
  end)

  it("events while waiting for an event that never comes", function()
    local path = S.fake_qmp("normal")
    local secs, mib, res, err, class = hostile.measure(path, [[
      local c = assert(require("vmlua.qmp").connect(path, { timeout = 5 }))
      c:execute("flood-events", nil, { timeout = 0.1 })
      return c:wait_event("SHUTDOWN", 2)
    ]])
    assert.same({ "nil", "timeout" }, { res, class }, err)
    assert.is_true(secs >= 2 and secs < 2.1 + hostile.SLACK, "took " .. secs)
    assert.is_true(mib < hostile.MAX_MIB, string.format("%.1f MiB", mib))
  end)

  it("events() returns at once with what has come", function()
    local path = S.fake_qmp("normal")
    local secs, mib, n = hostile.measure(path, [[
      local c = assert(require("vmlua.qmp").connect(path, { timeout = 5 }))
      c:execute("flood-events", nil, { timeout = 0.1 })
      local t0 = require("vmlua.core").monotonic()
      return #c:events(), require("vmlua.core").monotonic() - t0
    ]])
    assert.is_true(tonumber(n) > 0)
    assert.is_true(secs < 0.1 + hostile.SLACK, "took " .. secs)
    assert.is_true(mib < hostile.MAX_MIB, string.format("%.1f MiB", mib))
  end)

  it("vmlua qmp --timeout 2 against a server streaming events", function()
    local path = S.fake_qmp("normal")
    hostile.vmlua_within_2s({ "qmp", "--socket", path, "--timeout", "2", "flood-events" }, "within 2 s")
  end)
end)
