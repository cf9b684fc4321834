-- core.socket: unix stream sockets, buffered reads, fd passing.
local core = require "vmlua.core"
local H = require "support.h"
local child = require "support.child"
local S = core.socket
local fs = core.fs

local ETIMEDOUT, EPIPE, ENOENT, ECONNREFUSED = 110, 32, 2, 111
local EEXIST, EADDRINUSE, ENAMETOOLONG = 17, 98, 36

local function elapsed(f)
  local t0 = core.monotonic()
  local r = table.pack(f())
  return core.monotonic() - t0, table.unpack(r, 1, r.n)
end

describe("core.socket.pair", function()
  local a, b
  before_each(function() a, b = S.pair() end)
  after_each(function()
    a:close()
    b:close()
  end)

  it("gives two connected sockets", function()
    assert.matches("^vmlua.Socket %(fd %d+%)$", tostring(a))
    assert.equal("integer", math.type(a:fileno()))
    assert.is_true(a:send("ping"))
    assert.equal("ping", b:recv())
    assert.is_true(b:send("pong"))
    assert.equal("pong", a:recv())
  end)

  it("reads lines, with \\n or \\r\\n, split across writes", function()
    a:send("first\r\nsec")
    assert.equal("first", b:read_line(1))
    local dt, v, err, code = elapsed(function() return b:read_line(0.05) end)
    assert.same({ nil, "timeout", ETIMEDOUT }, { v, err, code })
    assert.is_true(dt >= 0.05)
    a:send("ond\n\nthird")
    assert.equal("second", b:read_line(1))
    assert.equal("", b:read_line(1))
    a:shutdown("w")
    assert.equal("third", b:read_line(1))
    assert.same({ nil, "eof" }, { b:read_line(1) })
  end)

  it("times out on a silent peer, for every read", function()
    for _, read in ipairs {
      function() return b:read_line(0.1) end,
      function() return b:read(1, 0.1) end,
      function() return b:recv(10, 0.1) end,
      function() return b:recv_fds(10, 0.1) end,
      function() return b:read_all(0.1) end,
    } do
      local dt, v, err, code = elapsed(read)
      assert.is_nil(v)
      assert.equal("timeout", err)
      assert.equal(ETIMEDOUT, code)
      assert.is_true(dt >= 0.1 and dt < 2, "waited " .. dt)
    end
  end)

  it("reports eof when the peer closes", function()
    a:send("tail")
    a:close()
    assert.equal("tail", b:read_line(1))
    assert.same({ nil, "eof" }, { b:read_line(1) })
    assert.same({ nil, "eof" }, { b:recv() })
    assert.same({ nil, "eof" }, { b:read(1) })
    assert.equal("", b:read_all(1))
  end)

  it("read(n) gives exactly n bytes and leaves the rest buffered", function()
    a:send("abcdef")
    assert.equal("abc", b:read(3, 1))
    assert.equal("", b:read(0, 1))
    assert.equal("de", b:recv(2, 1))
    a:send("gh\nrest")
    assert.equal("fgh", b:read_line(1))
    a:close()
    assert.same({ nil, "eof" }, { b:read(10, 1) })
    assert.equal("rest", b:read_all(1))
  end)

  it("mixes read_line with reads that take part of a pending line", function()
    a:send("abc")
    assert.same({ nil, "timeout", ETIMEDOUT }, { b:read_line(0.01) })
    assert.equal("ab", b:recv(2, 1))
    a:send("d\nxy")
    assert.equal("cd", b:read_line(1))
    assert.equal("x", b:read(1, 1))
    a:send("z\n")
    assert.equal("yz", b:read_line(1))
  end)

  it("read_all collects everything until the peer closes", function()
    a:send(string.rep("x", 100000))
    a:send("end")
    a:shutdown("w")
    local all = b:read_all(5)
    assert.equal(100003, #all)
    assert.equal("end", all:sub(-3))
  end)

  it("send to a closed peer fails with EPIPE (and no SIGPIPE)", function()
    b:close()
    local ok, err, code = a:send("x")
    assert.is_nil(ok)
    assert.equal("send: Broken pipe", err)
    assert.equal(EPIPE, code)
  end)

  it("send times out when the peer does not read", function()
    local big = string.rep("y", 8 * 1024 * 1024)
    local dt, ok, err, code = elapsed(function() return a:send(big, 0.1) end)
    assert.same({ nil, "timeout", ETIMEDOUT }, { ok, err, code })
    assert.is_true(dt >= 0.1 and dt < 2)
  end)

  it("shutdown checks its argument", function()
    assert.has_error(function() a:shutdown("x") end)
    assert.is_true(a:shutdown("r"))
    assert.is_true(a:shutdown())
  end)

  it("raises on misuse", function()
    assert.has_error(function() a:send() end)
    assert.has_error(function() a:send({}) end)
    assert.has_error(function() a:read() end)
    assert.has_error(function() a:read(-1) end)
    assert.has_error(function() a:recv(0) end)
    assert.has_error(function() a:read_line(-1) end)
    assert.has_error(function() a:read_line("soon") end)
  end)

  it("is pollable by core.wait", function()
    local mt = getmetatable(a)
    assert.equal("userdata", type(mt.__vl_poll))
  end)
end)

describe("core.socket handles", function()
  it("close is idempotent and later use raises", function()
    local a, b = S.pair()
    assert.is_true(a:close())
    assert.is_true(a:close())
    assert.equal("vmlua.Socket (closed)", tostring(a))
    assert.has_error(function() a:send("x") end, "attempt to use a closed socket")
    assert.has_error(function() a:fileno() end, "attempt to use a closed socket")
    assert.same({ nil, "eof" }, { b:read_line(1) })
    b:close()
  end)

  it("closes at the end of a <close> scope", function()
    local b
    do
      local a <close>, b2 = S.pair()
      b = b2
      assert.matches("^vmlua.Socket %(fd", tostring(a))
    end
    assert.same({ nil, "eof" }, { b:recv(10, 1) })
    b:close()
  end)
end)

describe("core.socket fd passing", function()
  local a, b, dir
  before_each(function()
    a, b = S.pair()
    dir = H.tmpdir()
  end)
  after_each(function()
    a:close()
    b:close()
    H.cleanup_tmp()
  end)

  it("sends io files, integer fds and Sockets; the received fds are the same files", function()
    local path = dir .. "/shared.txt"
    local f = assert(io.open(path, "w+"))
    local x, y = S.pair()
    assert.is_true(a:send_fds("hello", { f, x:fileno(), y }))
    local data, fds = b:recv_fds(100, 1)
    assert.equal("hello", data)
    assert.equal(3, #fds)
    assert.equal(path, fs.realpath("/proc/self/fd/" .. fds[1]))
    local w = assert(io.open("/proc/self/fd/" .. fds[1], "w"))
    w:write("written through the received fd")
    w:close()
    f:seek("set")
    assert.equal("written through the received fd", f:read("a"))
    assert.equal(fs.readlink("/proc/self/fd/" .. x:fileno()), fs.readlink("/proc/self/fd/" .. fds[2]))
    assert.equal(fs.readlink("/proc/self/fd/" .. y:fileno()), fs.readlink("/proc/self/fd/" .. fds[3]))
    assert.matches("^socket:", fs.readlink("/proc/self/fd/" .. fds[3]))
    for _, fd in ipairs(fds) do assert.is_true(fs.close(fd)) end
    f:close()
    x:close()
    y:close()
  end)

  it("passes 253 fds in one message and refuses more", function()
    local many = {}
    for i = 1, 253 do many[i] = a:fileno() end
    assert.is_true(a:send_fds("m", many))
    local data, fds = b:recv_fds(10, 1)
    assert.equal("m", data)
    assert.equal(253, #fds)
    for _, fd in ipairs(fds) do fs.close(fd) end
    many[254] = a:fileno()
    assert.has_error(function() a:send_fds("m", many) end)
  end)

  it("sends the rest of the data after the fds", function()
    local big = string.rep("z", 300000)
    local f = assert(io.open("/dev/null"))
    -- the peer cannot take 300 kB at once: send and read in turns
    local got = {}
    local l = assert(S.listen(dir .. "/fds.sock"))
    local p = child.start(string.format([[
      local S = require "vmlua.core".socket
      local s = assert(S.connect(%q, 5))
      local data, fds = s:recv_fds(65536, 5)
      local n = #data
      while n < 300000 do n = n + #assert(s:recv(65536, 5)) end
      io.write(#fds, " ", n, "\n")
    ]], dir .. "/fds.sock"))
    local c = assert(l:accept(5))
    assert.is_true(c:send_fds(big, { f }, 5))
    got[1] = p:read_line()
    assert.is_true(p:close())
    assert.equal("1 300000", got[1])
    c:close()
    l:close()
    f:close()
  end)

  --- How many fds this process has open.
  local function open_fds()
    return #fs.list("/proc/self/fd")
  end

  it("closes fds that arrive on a socket that never asked for any (issue 12 finding 8)", function()
    -- a server attaching 200 fds to each greeting byte filled the
    -- client's fd table: everything after failed with EMFILE
    local f = assert(io.open("/dev/null"))
    local many = {}
    for i = 1, 200 do many[i] = f end
    local before = open_fds()
    for _ = 1, 20 do assert.is_true(a:send_fds("x", many)) end
    a:send("\n")
    assert.equal(string.rep("x", 20), b:read_line(5))
    assert.equal(before, open_fds())
    f:close()
  end)

  it("keeps at most 253 fds waiting once recv_fds is used; more are closed", function()
    local f = assert(io.open("/dev/null"))
    local many = {}
    for i = 1, 200 do many[i] = f end
    a:send("0")
    assert.same({ "0", {} }, { b:recv_fds(1, 1) })
    local before = open_fds()
    for _ = 1, 5 do assert.is_true(a:send_fds("y", many)) end
    assert.equal("yyyyy", b:read(5, 5))
    assert.equal(before + 253, open_fds())
    a:send("z")
    local data, fds = b:recv_fds(10, 1)
    assert.equal("z", data)
    assert.equal(253, #fds)
    for _, fd in ipairs(fds) do fs.close(fd) end
    assert.equal(before, open_fds())
    f:close()
  end)

  it("keeps fds that arrive with buffered reads once recv_fds was used, until recv_fds or close", function()
    local f = assert(io.open("/dev/null"))
    a:send("0")
    assert.equal("0", b:recv_fds(1, 1))
    a:send_fds("x", { f })
    a:send("yz")
    assert.equal("x", b:read(1, 1))
    local data, fds = b:recv_fds(10, 1)
    assert.equal("yz", data:sub(-2))
    assert.equal(1, #fds)
    fs.close(fds[1])
    f:close()
  end)

  it("raises for bad fds arguments", function()
    local f = assert(io.open("/dev/null"))
    f:close()
    local x, y = S.pair()
    x:close()
    assert.has_error(function() a:send_fds("", { 0 }) end)
    assert.has_error(function() a:send_fds("x", {}) end)
    assert.has_error(function() a:send_fds("x", 0) end)
    local bad = "bad argument #2 to 'send_fds' (fds[%s)"
    assert.has_error(function() a:send_fds("x", { "0" }) end,
      bad:format("1]: expected an fd, an io file, a Stream or a Socket, got string"))
    assert.has_error(function() a:send_fds("x", { 0, -1 }) end, bad:format("2]: invalid fd -1"))
    assert.has_error(function() a:send_fds("x", { f }) end, bad:format("1]: attempt to use a closed file"))
    assert.has_error(function() a:send_fds("x", { x }) end, bad:format("1]: attempt to use a closed socket"))
    assert.has_error(function() a:send_fds("x", { {} }) end,
      bad:format("1]: expected an fd, an io file, a Stream or a Socket, got table"))
    y:close()
  end)

  it("refuses a followed file, whose only fd is an inotify instance", function()
    local s = assert(core.follow(dir .. "/log"))
    assert.has_error(function() a:send_fds("x", { s }) end,
      "bad argument #2 to 'send_fds' (fds[1]: a followed file has no fd to pass)")
    s:close()
  end)

  it("reports a bad integer fd from sendmsg", function()
    local ok, err, code = a:send_fds("x", { 1000000 })
    assert.is_nil(ok)
    assert.equal("send: Bad file descriptor", err)
    assert.equal(9, code)
  end)
end)

describe("core.socket.connect and listen", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup_tmp() end)

  it("connects, accepts and talks", function()
    local path = dir .. "/qmp.sock"
    local l <close> = assert(S.listen(path))
    assert.equal("vmlua.Listener (" .. path .. ")", tostring(l))
    assert.equal("socket", fs.stat(path).type)
    assert.equal(tonumber("600", 8), fs.stat(path).mode)
    local c <close> = assert(S.connect(path, 1))
    local s <close> = assert(l:accept(1))
    s:send('{"QMP": {"version": {}}}\n')
    assert.same({ QMP = { version = {} } }, core.json.decode(c:read_line(1)))
    c:send('{"execute": "qmp_capabilities"}\n')
    assert.equal('{"execute": "qmp_capabilities"}', s:read_line(1))
  end)

  it("accept times out", function()
    local l <close> = assert(S.listen(dir .. "/x.sock"))
    local dt, v, err, code = elapsed(function() return l:accept(0.1) end)
    assert.same({ nil, "timeout", ETIMEDOUT }, { v, err, code })
    assert.is_true(dt >= 0.1)
  end)

  it("fails to connect to a missing path", function()
    local path = dir .. "/missing.sock"
    assert.same({ nil, "connect " .. path .. ": No such file or directory", ENOENT }, { S.connect(path) })
  end)

  it("fails to connect to a path that is not a socket", function()
    local path = dir .. "/file"
    H.write(path, "x")
    assert.same({ nil, "connect " .. path .. ": Connection refused", ECONNREFUSED }, { S.connect(path, 1) })
  end)

  it("fails to connect to a socket nobody accepts on", function()
    local path = dir .. "/stale.sock"
    -- a listener whose socket file was moved away before it closed leaves
    -- that file behind, with nobody accepting on it
    local gone = assert(S.listen(dir .. "/moving.sock"))
    assert(os.rename(dir .. "/moving.sock", path))
    gone:close()
    assert.equal("socket", fs.stat(path).type)
    assert.same({ nil, "connect " .. path .. ": Connection refused", ECONNREFUSED }, { S.connect(path, 1) })
    -- listen removes such a stale socket file
    local l = assert(S.listen(path))
    local c = assert(S.connect(path, 1))
    c:close()
    l:close()
  end)

  it("times out connecting while the listener's backlog is full", function()
    local path = dir .. "/full.sock"
    local l = assert(S.listen(path, { backlog = 0 }))
    local first = assert(S.connect(path, 1))
    local dt, v, err, code = elapsed(function() return S.connect(path, 0.1) end)
    assert.same({ nil, "timeout", ETIMEDOUT }, { v, err, code })
    assert.is_true(dt >= 0.1 and dt < 2)
    first:close()
    l:close()
  end)

  it("checks the sun_path limit", function()
    local long = "/tmp/" .. string.rep("d", 100) .. "/qmp.sock"
    local msg = "socket path " .. long .. " is 114 bytes, over the 107-byte sun_path limit"
    assert.same({ nil, msg, ENAMETOOLONG }, { S.connect(long) })
    assert.same({ nil, msg, ENAMETOOLONG }, { S.listen(long) })
    assert.same({ nil, "socket path is empty", 22 }, { S.connect("") })
  end)

  it("uses abstract sockets for names starting with @", function()
    local name = "@vmlua-test-" .. core.getpid() .. "-" .. math.random(1e9)
    local l = assert(S.listen(name))
    local c = assert(S.connect(name, 1))
    local s = assert(l:accept(1))
    c:send("abstract\n")
    assert.equal("abstract", s:read_line(1))
    s:close()
    c:close()
    l:close()
    assert.same({ nil, "connect " .. name .. ": Connection refused", ECONNREFUSED }, { S.connect(name) })
  end)

  it("refuses to listen where a server accepts or a file is", function()
    local path = dir .. "/busy.sock"
    local l = assert(S.listen(path))
    assert.same({ nil, "listen " .. path .. ": Address already in use (a server accepts on it)", EADDRINUSE },
      { S.listen(path) })
    l:accept(1):close()   -- the probe's connection
    l:close()
    local file = dir .. "/plain"
    H.write(file, "keep")
    assert.same({ nil, "listen " .. file .. ": File exists (and is not a socket)", EEXIST }, { S.listen(file) })
    assert.equal("keep", H.read(file))
  end)

  it("sets the socket file's mode", function()
    local l1 = assert(S.listen(dir .. "/a.sock", { mode = "0660" }))
    assert.equal(tonumber("660", 8), fs.stat(dir .. "/a.sock").mode)
    local l2 = assert(S.listen(dir .. "/b.sock", { mode = tonumber("700", 8), backlog = 4 }))
    assert.equal(tonumber("700", 8), fs.stat(dir .. "/b.sock").mode)
    l1:close()
    l2:close()
  end)

  it("checks its options", function()
    local p = dir .. "/o.sock"
    assert.has_error(function() S.listen(p, { bogus = 1 }) end)
    assert.has_error(function() S.listen(p, { mode = "rw" }) end)
    assert.has_error(function() S.listen(p, { mode = 99999 }) end)
    assert.has_error(function() S.listen(p, { backlog = -1 }) end)
    assert.has_error(function() S.listen(p, "x") end)
    assert.has_error(function() S.connect(p, -1) end)
    assert.has_error(function() S.connect() end)
    assert.is_nil(fs.stat(p))
  end)

  it("close removes its socket file, but not one that replaced it", function()
    local path = dir .. "/c.sock"
    local l = assert(S.listen(path))
    assert.is_true(l:close())
    assert.is_true(l:close())
    assert.is_false(fs.exists(path))
    assert.has_error(function() l:accept(0) end, "attempt to use a closed listener")
    assert.equal("vmlua.Listener (closed)", tostring(l))

    l = assert(S.listen(path))
    os.remove(path)
    H.write(path, "someone else's")
    l:close()
    assert.equal("someone else's", H.read(path))
  end)

  it("a listener is pollable and has an fd", function()
    local l <close> = assert(S.listen(dir .. "/p.sock"))
    assert.equal("integer", math.type(l:fileno()))
    assert.equal("userdata", type(getmetatable(l).__vl_poll))
  end)
end)

describe("core.socket as a protocol client", function()
  local dir, l
  before_each(function()
    dir = H.tmpdir()
    l = assert(S.listen(dir .. "/api.sock"))
  end)
  after_each(function()
    l:close()
    H.cleanup_tmp()
  end)

  -- A fake server in a child process: once it has read one request line
  -- it sends the pieces (a Lua expression giving an array of strings).
  local function serve(pieces)
    local code = string.format([[
      local core = require "vmlua.core"
      local s = assert(core.socket.connect(%q, 5))
      assert(s:read_line(5))
      for _, piece in ipairs(%s) do assert(s:send(piece, 30)) end
      s:close()
    ]], dir .. "/api.sock", pieces)
    local p = child.start(code)
    local s = assert(l:accept(5))
    return s, p
  end

  local function list(t)
    local q = {}
    for i, v in ipairs(t) do q[i] = string.format("%q", v) end
    return "{" .. table.concat(q, ",") .. "}"
  end

  it("reads an HTTP/1.1 response with Content-Length", function()
    local s, p = serve(list { "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Len",
                              "gth: 19\r\n\r\n", '{"state":"Ru', 'nning"}' })
    s:send("GET /api/v1/vm.info HTTP/1.1\r\n")
    assert.equal("HTTP/1.1 200 OK", s:read_line(5))
    local headers = {}
    while true do
      local line = assert(s:read_line(5))
      if line == "" then break end
      local k, v = line:match("^([^:]+):%s*(.*)$")
      headers[k:lower()] = v
    end
    assert.equal("19", headers["content-length"])
    assert.same({ state = "Running" }, core.json.decode(s:read(tonumber(headers["content-length"]), 5)))
    assert.same({ nil, "eof" }, { s:read_line(5) })
    assert.is_true(p:close())
    s:close()
  end)

  it("reads a chunked HTTP/1.1 body", function()
    local s, p = serve(list { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhel", "lo\r\n",
                              "6\r\n world\r\n0\r\n\r\n" })
    s:send("GET / HTTP/1.1\r\n")
    assert.equal("HTTP/1.1 200 OK", s:read_line(5))
    repeat local h = s:read_line(5) until h == ""
    local body = {}
    while true do
      local size = tonumber(assert(s:read_line(5)), 16)
      if size == 0 then break end
      body[#body + 1] = s:read(size, 5)
      assert.equal("", s:read_line(5))
    end
    assert.equal("", s:read_line(5))
    assert.equal("hello world", table.concat(body))
    assert.is_true(p:close())
    s:close()
  end)

  it("reads a multi-MiB line whole", function()
    local big = string.rep("0123456789abcdef", 5 * 65536)   -- 5 MiB
    local s, p = serve([[{ '{"return": "' .. string.rep("0123456789abcdef", 5 * 65536) .. '"}\n',
                          '{"event": "STOP"}\n' }]])
    s:send("go\n")
    local line = assert(s:read_line(30))
    assert.equal(#big + 14, #line)
    assert.equal(big, core.json.decode(line)["return"])
    assert.equal('{"event": "STOP"}', s:read_line(5))
    assert.is_true(p:close())
    s:close()
  end)
end)
