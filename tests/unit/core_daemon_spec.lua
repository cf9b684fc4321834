-- core.fork_detached: a supervisor in its own session, logging to a file,
-- reporting readiness through a pipe. Run in a separate lua5.4 so that the
-- fork does not copy busted.
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

--- Run a Lua script (with vmlua.core on the path) and return its stdout.
local function run_lua(body)
  local script = "local core = require 'vmlua.core'\n" .. body
  local out, how, code = P.output({ "lua5.4", "-e", script })
  return out, how, code
end

--- Wait until a process that is not our child has exited.
local function wait_gone(pid, start)
  local h = core.proc.attach(pid, start)
  if h then
    h:wait(10)
    h:close()
  end
  assert.is_false(core.proc.alive(pid, start))
end

describe("core.fork_detached", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup_tmp() end)

  it("forks a supervisor in a new session that logs to a file", function()
    local log = dir .. "/supervisor.log"
    local out = run_lua(([[
      io.write("before fork\n")
      local role, pipe, pid = core.fork_detached { log = %q }
      if role == "child" then
        local stat = io.open("/proc/self/stat"):read("a")
        local me, sid = stat:match("^(%%d+) .*%%) %%S+ %%d+ %%d+ (%%d+)")
        io.write("child stdout\n")
        io.stdout:flush()
        io.stderr:write("child stderr\n")
        local stdin = io.read("a")
        pipe:write(("ready %%s %%s %%s\n"):format(me, sid, stdin == "" and "null" or "tty"))
        pipe:close()
        io.stdout:flush()
        os.exit(0)
      end
      local line = assert(pipe:read_line(10))
      io.write(role, " ", pid, " ", line, "\n")
    ]]):format(log))
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal("before fork", lines[1], "output buffered before fork appears once")
    assert.equal(2, #lines, out)
    local pid, me, sid, stdin = lines[2]:match("^parent (%d+) ready (%d+) (%d+) (%a+)$")
    assert.equal(pid, me)
    assert.equal(me, sid, "the supervisor leads its own session")
    assert.equal("null", stdin)
    wait_gone(tonumber(pid), core.proc.start_time(tonumber(pid)) or 0)
    assert.equal("child stdout\nchild stderr\n", H.read(log))
    assert.equal("-rw-------", (P.output({ "stat", "-c", "%A", log }):gsub("\n", "")))
  end)

  it("the reader sees eof when the supervisor dies before reporting", function()
    local out = run_lua(([[
      local role, pipe, pid = core.fork_detached { log = %q }
      if role == "child" then os.exit(3) end
      io.write(tostring(select(2, pipe:read_line(10))), "\n")
    ]]):format(dir .. "/log"))
    assert.equal("eof\n", out)
  end)

  it("appends to an existing log", function()
    local log = dir .. "/log"
    H.write(log, "earlier\n")
    run_lua(([[
      local role, pipe = core.fork_detached { log = %q }
      if role == "child" then print("again"); io.stdout:flush(); pipe:write("ok\n"); os.exit(0) end
      pipe:read_line(10)
    ]]):format(log))
    -- the child wrote before reporting, so the log is complete
    assert.equal("earlier\nagain\n", H.read(log))
  end)

  it("a Process inherited by the supervisor is watched, not reaped: it is not its child", function()
    local out = run_lua(([[
      local p = assert(core.spawn { argv = { "cat" }, stdin = "pipe", stdout = "null" })
      local role, pipe = core.fork_detached { log = %q }
      if role == "child" then
        local ok, why = p:wait(0)
        pipe:write(("%%s %%s %%s\n"):format(p:alive(), ok, why))
        pipe:close()
        os.exit(0)
      end
      io.write(assert(pipe:read_line(10)), "\n")
      p:close()
    ]]):format(dir .. "/log"))
    assert.equal("true nil timeout\n", out)
  end)

  it("a Listener copy closed in the supervisor leaves the socket file to its owner", function()
    local sock = dir .. "/s.sock"
    local out = run_lua(([[
      local l = assert(core.socket.listen(%q))
      local role, pipe = core.fork_detached { log = %q }
      if role == "child" then
        l:close()
        pipe:write("closed\n")
        pipe:close()
        os.exit(0)
      end
      assert(pipe:read_line(10) == "closed")
      local c = assert(core.socket.connect(%q))
      io.write(tostring(core.fs.exists(%q)), " ", tostring(l:accept(5) ~= nil), "\n")
      c:close()
      l:close()
      io.write(tostring(core.fs.exists(%q)), "\n")
    ]]):format(sock, dir .. "/log", sock, sock, sock))
    assert.equal("true true\nfalse\n", out)
  end)

  it("logs to the file even when started with stdout closed", function()
    -- with fd 1 closed, the log is opened as fd 1 itself: it must survive
    -- being put in place, not be closed with the other setup fds
    local log = dir .. "/log"
    local script = ([[
      local core = require 'vmlua.core'
      local role, pipe = core.fork_detached { log = %q }
      if role == "child" then
        io.write("to stdout\n"); io.stdout:flush()
        io.stderr:write("to stderr\n")
        pipe:write("ok\n"); pipe:close(); os.exit(0)
      end
      io.stderr:write(pipe:read_line(10), "\n")
    ]]):format(log)
    -- the sanitizer runtime (asan flavour) for the lua5.4 behind sh
    local preload = os.getenv("VMLUA_ASAN_PRELOAD")
    local env = preload and preload ~= "" and { LD_PRELOAD = preload } or nil
    local out, how, code = P.output({ "sh", "-c", 'exec "$0" -e "$1" >&-', "lua5.4", script },
      { stderr = "stdout", env = env })
    assert.same({ "exited", 0, "ok\n" }, { how, code, out })
    assert.equal("to stdout\nto stderr\n", H.read(log))
  end)

  --- Run script in a lua5.4 child that holds `b` as its fd 3 (handed down,
  -- not close-on-exec); returns the child's stdout lines.
  local function with_fd3(b, script)
    local preload = os.getenv("VMLUA_ASAN_PRELOAD")
    local p = assert(core.spawn { argv = { "lua5.4", "-e", "local core = require 'vmlua.core'\n" .. script },
                                  env = preload and preload ~= "" and { LD_PRELOAD = preload } or nil,
                                  fds = { b }, stdout = "pipe" })
    local lines = {}
    while true do
      local line = p.stdout:read_line(20)
      if not line then break end
      lines[#lines + 1] = line
    end
    p:wait(20)
    p:close()
    return lines
  end

  local SUPERVISOR = [[
    local f = assert(io.open(%q, "w"))        -- opened by Lua code before the fork
    local role, pipe, pid = core.fork_detached { log = %q, keep_fds = %s }
    if role == "child" then
      f:write("written by the supervisor\n")
      f:close()
      pipe:write(core.fs.exists("/proc/self/fd/3") and "fd3 open\n" or "fd3 closed\n")
      pipe:close()
      local idle = core.socket.pair()
      idle:recv(1, 30)
      os.exit(0)
    end
    f:close()
    io.write(pid, "\n", pipe:read_line(10), "\n")
  ]]

  it("the supervisor keeps none of the fds its caller handed down (issue 12 finding 9)", function()
    -- `sh -c "vmlua run -d R 9>&1 | cat"` never finished: the supervisor
    -- held the pipe
    local a, b = core.socket.pair()
    local lines = with_fd3(b, SUPERVISOR:format(dir .. "/f", dir .. "/log", "nil"))
    b:close()
    local pid = tonumber(lines[1])
    assert.equal("fd3 closed", lines[2])
    local t0 = core.monotonic()
    assert.equal("", a:read_all(5), "the supervisor holds the caller's fd")
    assert.is_true(core.monotonic() - t0 < 2)
    assert.equal("written by the supervisor\n", H.read(dir .. "/f"))
    local start = core.proc.start_time(pid)
    core.kill(pid, "SIGTERM")
    wait_gone(pid, start)
    a:close()
  end)

  it("keeps the handed-down fds named in keep_fds", function()
    local a, b = core.socket.pair()
    local lines = with_fd3(b, SUPERVISOR:format(dir .. "/f", dir .. "/log", "{ 3 }"))
    b:close()
    assert.equal("fd3 open", lines[2])
    local pid = tonumber(lines[1])
    local start = core.proc.start_time(pid)
    core.kill(pid, "SIGTERM")
    wait_gone(pid, start)
    assert.equal("", a:read_all(5))
    a:close()
  end)

  it("a log that cannot be opened: nil, message, errno, no fork", function()
    local children = P.children()
    assert.same({ nil, "cannot open /nonexistent/dir/x.log: No such file or directory", 2 },
      { core.fork_detached { log = "/nonexistent/dir/x.log" } })
    assert.same(children, P.children())
  end)

  it("checks its options", function()
    assert.has_error(function() core.fork_detached() end)
    assert.has_error(function() core.fork_detached {} end)
    assert.has_error(function() core.fork_detached { log = 5 } end)
    assert.has_error(function() core.fork_detached { log = dir .. "/x", detach = true } end,
      "bad argument #1 to 'fork_detached' (unknown option 'detach')")
    assert.has_error(function() core.fork_detached { log = dir .. "/x", keep_fds = 3 } end,
      "bad argument #1 to 'fork_detached' (keep_fds must be an array of fds)")
    assert.has_error(function() core.fork_detached { log = dir .. "/x", keep_fds = { "3" } } end,
      "bad argument #1 to 'fork_detached' (keep_fds[1]: expected an fd, an io file, a Stream or a Socket, got string)")
  end)
end)
