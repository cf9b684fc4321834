-- vmlua.Stream: child pipes and followed files (core.follow).
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

local ETIMEDOUT = 110

--- A child that prints `text` (through printf) and exits.
local function printer(text, opts)
  opts = opts or {}
  opts.argv = { "printf", "%s", text }
  opts.stdout = "pipe"
  return assert(core.spawn(opts))
end

local function append(path, data)
  local f = assert(io.open(path, "a"))
  f:write(data)
  f:close()
end

describe("vmlua.Stream on a pipe", function()
  after_each(function()
    collectgarbage()
    H.cleanup_tmp()
  end)

  it("hands out lines without \\n or \\r\\n, then the unterminated rest, then eof", function()
    local p = printer("one\ntwo\r\n\nlast")
    assert.equal("one", p.stdout:read_line(5))
    assert.equal("two", p.stdout:read_line(5))
    assert.equal("", p.stdout:read_line(5))
    assert.equal("last", p.stdout:read_line(5))
    assert.same({ nil, "eof" }, { p.stdout:read_line(5) })
    assert.same({ nil, "eof" }, { p.stdout:read(5) })
    p:close()
  end)

  it("cuts a line longer than 64 KiB into 64 KiB pieces", function()
    local dir = H.tmpdir()
    H.write(dir .. "/long", ("x"):rep(65536 * 2 + 10) .. "\nend\n")
    local p = assert(core.spawn { argv = { "cat", dir .. "/long" }, stdout = "pipe" })
    assert.equal(65536, #p.stdout:read_line(5))
    assert.equal(65536, #p.stdout:read_line(5))
    assert.equal(("x"):rep(10), p.stdout:read_line(5))
    assert.equal("end", p.stdout:read_line(5))
    p:close()
  end)

  it("read returns what is there", function()
    local p = printer("no newline")
    assert.equal("no newline", p.stdout:read(5))
    assert.same({ nil, "eof" }, { p.stdout:read(5) })
    p:close()
  end)

  it("times out on a silent pipe", function()
    local p = assert(core.spawn { argv = { P.fake }, stdout = "pipe" })
    assert.same({ nil, "timeout", ETIMEDOUT }, { p.stdout:read_line(0.05) })
    assert.same({ nil, "timeout", ETIMEDOUT }, { p.stdout:read(0) })
    p:close()
  end)

  it("a line split across writes is seen whole", function()
    local p = assert(core.spawn { argv = { "sh", "-c", "printf 'hal'; sleep 0.1; printf 'f\\n'" }, stdout = "pipe" })
    assert.equal("half", p.stdout:read_line(5))
    p:close()
  end)

  it("writes to stdin; a reader that is gone gives EPIPE, not SIGPIPE", function()
    local p = assert(core.spawn { argv = { "true" }, stdin = "pipe" })
    p:wait(10)
    local ok, msg, errno = p.stdin:write(("x"):rep(100000))
    assert.is_nil(ok)
    assert.equal("write to pipe: Broken pipe", msg)
    assert.equal(32, errno)
    assert.is_false(core.signals.pending()[1] == "SIGPIPE")
    p:close()
  end)

  it("a large write to a slow reader completes", function()
    local p = assert(core.spawn { argv = { "wc", "-c" }, stdin = "pipe", stdout = "pipe" })
    assert.is_true(p.stdin:write(("y"):rep(1000000)))
    p.stdin:close()
    assert.equal("1000000", p.stdout:read_line(10))
    p:close()
  end)

  it("misuse raises", function()
    local p = assert(core.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
    assert.has_error(function() p.stdin:read_line() end)
    assert.has_error(function() p.stdout:write("x") end)
    assert.has_error(function() p.stdout:read_line(-1) end)
    assert.has_error(function() p.stdin:write({}) end)
    assert.matches("^vmlua.Stream %(write pipe, fd %d+%)$", tostring(p.stdin))
    assert.matches("^vmlua.Stream %(read pipe, fd %d+%)$", tostring(p.stdout))
    assert.equal("number", type(p.stdout:fileno()))
    p.stdout:close()
    p.stdout:close()
    assert.has_error(function() p.stdout:read() end, "attempt to use a closed stream")
    assert.has_error(function() p.stdout:fileno() end, "attempt to use a closed stream")
    p:close()
  end)
end)

describe("core.follow", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    collectgarbage()
    H.cleanup_tmp()
  end)

  it("reads an existing file from the start and then what is appended", function()
    local path = dir .. "/serial.log"
    H.write(path, "boot\nstage 1\n")
    local s = assert(core.follow(path))
    assert.matches("^vmlua.Stream %(follow .*/serial.log%)$", tostring(s))
    assert.equal("boot", s:read_line(5))
    assert.equal("stage 1", s:read_line(5))
    assert.same({ nil, "timeout", ETIMEDOUT }, { s:read_line(0.05) }) -- never eof
    append(path, "stage 2\npart")
    assert.equal("stage 2", s:read_line(5))
    assert.same({ nil, "timeout", ETIMEDOUT }, { s:read_line(0.05) }) -- a partial line waits
    append(path, "ial\n")
    assert.equal("partial", s:read_line(5))
    s:close()
  end)

  it("from = 'end' skips what is there", function()
    local path = dir .. "/log"
    H.write(path, "old\n")
    local s = assert(core.follow(path, { from = "end" }))
    append(path, "new\n")
    assert.equal("new", s:read_line(5))
    s:close()
  end)

  it("wakes up for a write made while it waits", function()
    local path = dir .. "/log"
    H.write(path, "")
    local s = assert(core.follow(path))
    local w = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; echo later >> " .. path } })
    assert.equal("later", s:read_line(5))
    w:wait(5)
    w:close()
    s:close()
  end)

  it("picks up a file created after the follow started (from the start)", function()
    local path = dir .. "/later.log"
    local s = assert(core.follow(path, { from = "end" }))
    assert.same({ nil, "timeout", ETIMEDOUT }, { s:read(0.05) })
    local w = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; printf 'first\\nsecond\\n' > " .. path } })
    assert.equal("first", s:read_line(5))
    assert.equal("second", s:read_line(5))
    w:wait(5)
    w:close()
    s:close()
  end)

  it("restarts at the beginning of a truncated file", function()
    local path = dir .. "/log"
    H.write(path, "a long first line\n")
    local s = assert(core.follow(path))
    assert.equal("a long first line", s:read_line(5))
    H.write(path, "new\n") -- truncates and writes less than before
    assert.equal("new", s:read_line(5))
    s:close()
  end)

  it("switches to a new file that replaces the old one", function()
    local path = dir .. "/log"
    H.write(path, "old 1\n")
    local s = assert(core.follow(path))
    assert.equal("old 1", s:read_line(5))
    append(path, "old 2\n")
    H.write(dir .. "/log.new", "new 1\n")
    assert(os.rename(dir .. "/log.new", path))
    assert.equal("old 2", s:read_line(5)) -- the rest of the old file first
    assert.equal("new 1", s:read_line(5))
    s:close()
  end)

  it("read returns what arrived", function()
    local path = dir .. "/log"
    H.write(path, "abc")
    local s = assert(core.follow(path))
    assert.equal("abc", s:read(5))
    assert.same({ nil, "timeout", ETIMEDOUT }, { s:read(0.02) })
    s:close()
  end)

  it("fails for a missing directory, nil + message + errno", function()
    assert.same({ nil, "cannot watch directory /nonexistent/dir: No such file or directory", 2 },
      { core.follow("/nonexistent/dir/serial.log") })
  end)

  it("fails for a directory", function()
    local ok, msg, errno = core.follow(dir)
    assert.is_nil(ok)
    assert.equal("cannot open " .. dir .. ": Is a directory", msg)
    assert.equal(21, errno)
  end)

  it("checks its options", function()
    assert.has_error(function() core.follow(dir .. "/x", { from = "middle" }) end)
    assert.has_error(function() core.follow(dir .. "/x", { form = "end" }) end,
      "bad argument #2 to 'follow' (unknown option 'form')")
    assert.has_error(function() core.follow(dir .. "/x", "end") end)
    assert.has_error(function() core.follow() end)
  end)

  it("leaks no fd", function()
    local before = P.fds()
    for _ = 1, 3 do
      local s = assert(core.follow(dir .. "/log"))
      s:close()
      assert.is_nil(core.follow("/nonexistent/dir/x"))
    end
    assert(core.follow(dir .. "/log2")) -- dropped at once: collected below
    collectgarbage()
    collectgarbage()
    assert.same(before, P.fds())
  end)
end)
