-- core.wait: exits, sockets, lines, readable objects and signals in one
-- event wait; order, timeouts, misuse, and no fd left behind.
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

local ETIMEDOUT = 110

local function fake(...)
  local p = assert(core.spawn { argv = { P.fake, "--stdout", "up", ... }, stdout = "pipe" })
  assert.equal("up", p.stdout:read_line(10))
  return p
end

--- A child printing lines on stdout (and staying alive until closed).
local function lines(text)
  return assert(core.spawn { argv = { "sh", "-c", "printf '" .. text .. "'; exec cat" },
    stdin = "pipe", stdout = "pipe" })
end

describe("core.wait", function()
  -- core.wait keeps one inotify instance per Lua state for socket
  -- conditions (closing one costs an RCU grace period): create it before
  -- the fd checks below start counting.
  setup(function() core.wait({ { socket = "/tmp/vmlua-warm-up.sock" } }, 0) end)

  local children_before, fds_before
  before_each(function()
    children_before = P.children()
    fds_before = P.fds()
  end)
  after_each(function()
    collectgarbage()
    collectgarbage()
    assert.same(children_before, P.children(), "a child was left behind")
    assert.same(fds_before, P.fds(), "an fd leaked")
    H.cleanup_tmp()
  end)

  describe("exit", function()
    it("fires when the process exits, and reaps it", function()
      local p = assert(core.spawn { argv = { P.fake, "--exit-after-ms", "100", "--exit-code", "3" } })
      local i, ev = core.wait({ { exit = p } }, 10)
      assert.equal(1, i)
      assert.same({ kind = "exit", how = "exited", code = 3 }, ev)
      assert.is_false(P.exists(p.pid))
      assert.same({ "exited", 3 }, { p:wait(0) })
      p:close()
    end)

    it("reports a kill", function()
      local p = fake()
      p:signal("KILL")
      local _, ev = core.wait({ { exit = p } }, 10)
      assert.same({ kind = "exit", how = "killed", code = 9 }, ev)
      p:close()
    end)

    it("of an attached process: exited, no code", function()
      local p = fake()
      local a = assert(core.proc.attach(p.pid, p.start_time))
      p:signal("TERM")
      local _, ev = core.wait({ { exit = a } }, 10)
      assert.same({ kind = "exit", how = "exited" }, ev)
      a:close()
      p:close()
    end)

    it("a wait that times out", function()
      local p = fake()
      local t0 = P.monotonic()
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { exit = p } }, 0.2) })
      local elapsed = P.monotonic() - t0
      assert.is_true(elapsed >= 0.2 and elapsed < 2, elapsed)
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { exit = p } }, 0) })
      p:close()
    end)

    it("the first satisfied condition in array order wins", function()
      local a = assert(core.spawn { argv = { "true" } })
      local b = assert(core.spawn { argv = { "false" } })
      a:wait(10)
      b:wait(10)
      assert.equal(1, (core.wait { { exit = a }, { exit = b } }))
      assert.equal(1, (core.wait { { exit = b }, { exit = a } }))
      local c = fake()
      assert.equal(2, (core.wait { { exit = c }, { exit = b } }))
      a:close()
      b:close()
      c:close()
    end)
  end)

  describe("socket", function()
    it("a socket that never appears: timeout", function()
      local dir = H.tmpdir()
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { socket = dir .. "/never.sock" } }, 0.1) })
    end)

    it("a socket that appears after 200 ms is noticed promptly", function()
      local dir = H.tmpdir()
      local sock, ready = dir .. "/api.sock", dir .. "/bound"
      local p = assert(core.spawn { argv = { P.fake, "--socket", sock, "--delay-ms", "200", "--ready-file", ready } })
      local i, ev = core.wait({ { exit = p }, { socket = sock } }, 10)
      local now = P.monotonic()
      assert.equal(2, i)
      assert.same({ kind = "socket", path = sock }, ev)
      -- The fake writes the bind time right after listen(): read it as it comes.
      local f = assert(core.follow(ready))
      local bound = tonumber(f:read_line(10))
      f:close()
      local gap = now - bound
      print(("\n    socket noticed %.2f ms after the fake's bind%s"):format(gap * 1000,
        P.clock_is_exact and "" or " (upper bound: includes a clock helper's start)"))
      assert.is_true(gap >= 0 and gap < 0.05, gap)
      p:close()
    end)

    it("a socket whose directory does not exist yet", function()
      local base = H.tmpdir()
      local sock = base .. "/a/b/api.sock"
      local p = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; mkdir -p " .. base .. "/a/b; exec " ..
        P.fake .. " --socket " .. sock } })
      local i, ev = core.wait({ { socket = sock }, { exit = p } }, 10)
      assert.equal(1, i)
      assert.equal(sock, ev.path)
      p:close()
    end)

    it("a stale socket file refuses until a listener replaces it", function()
      local dir = H.tmpdir()
      local sock = dir .. "/qmp.sock"
      local p = assert(core.spawn { argv = { P.fake, "--socket", sock } })
      assert.equal(1, (core.wait({ { socket = sock } }, 10)))
      p:signal("KILL") -- leaves the socket file behind
      p:wait(10)
      p:close()
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { socket = sock } }, 0.2) })
      p = assert(core.spawn { argv = { P.fake, "--socket", sock, "--delay-ms", "100" } })
      assert.equal(1, (core.wait({ { socket = sock }, { exit = p } }, 10)))
      p:close()
    end)

    it("the VMM dying first is reported as its exit, not a timeout", function()
      local dir = H.tmpdir()
      local p = assert(core.spawn { argv = { P.fake, "--exit-after-ms", "50", "--exit-code", "1" } })
      local i, ev = core.wait({ { socket = dir .. "/api.sock" }, { exit = p } }, 10)
      assert.equal(2, i)
      assert.same({ kind = "exit", how = "exited", code = 1 }, ev)
      p:close()
    end)

    --- inotify watches held by our fds (the shared instance included).
    local function watches()
      local n = 0
      for _, fd in ipairs(P.fds()) do
        local info = H.read(("/proc/%d/fdinfo/%d"):format(P.getpid(), fd)) or ""
        for _ in info:gmatch("inotify wd:") do n = n + 1 end
      end
      return n
    end

    it("leaves no inotify watch behind", function()
      local base = H.tmpdir()
      local conds = { { socket = base .. "/x/y/s" }, { socket = base .. "/s" } }
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait(conds, 0.01) })
      assert.equal(0, watches())
    end)

    it("follows directories created one level at a time, and leaves no watch behind", function()
      -- every level is a new watch on the deepest existing directory:
      -- 24 of them, more than a fixed table of watches would hold
      local base = H.tmpdir()
      local sock = base .. ("/d"):rep(24) .. "/s"
      local p = assert(core.spawn { argv = { "sh", "-c",
        "for i in $(seq 24); do sleep 0.01; mkdir d; cd d; done; exec " .. P.fake .. " --socket s" },
        cwd = base })
      local i, ev = core.wait({ { socket = sock }, { exit = p } }, 10)
      assert.equal(1, i, ev and ev.kind)
      assert.equal(0, watches())
      p:close()
    end)

    it("a socket directory removed and made again while waiting", function()
      local base = H.tmpdir()
      local dir = base .. "/sandbox"
      assert(core.fs.mkdir(dir))
      local p = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; rm -r sandbox; mkdir sandbox; exec " ..
        P.fake .. " --socket sandbox/api.sock" }, cwd = base })
      local t0 = core.monotonic()
      local i = core.wait({ { socket = dir .. "/api.sock" }, { exit = p } }, 10)
      local took = core.monotonic() - t0
      assert.equal(1, i)
      -- noticed by an event, not found when the timeout ran out
      assert.is_true(took < 3, took)
      p:close()
    end)

    it("raises for paths it cannot watch", function()
      local long = "/tmp/" .. ("x"):rep(120)
      for _, case in ipairs {
        { "@abstract", "conditions%[1%]: abstract sockets cannot be waited for %(no file to watch%)" },
        { long, "conditions%[1%]: socket path " .. long .. " is 125 bytes, over the 107%-byte sun_path limit" },
        { "", "conditions%[1%]: socket must be a path" },
        { 5, "conditions%[1%]: socket must be a path" },
      } do
        local ok, err = pcall(core.wait, { { socket = case[1] } }, 0)
        assert.is_false(ok)
        assert.matches(case[2], err)
      end
    end)
  end)

  describe("line", function()
    it("a line containing plain text (pattern characters are literal)", function()
      local p = lines("booting\\nVMLUA-GUEST-READY (1.5%%)\\nafter\\n")
      local i, ev = core.wait({ { line = p.stdout, find = "READY (1.5%)" } }, 10)
      assert.equal(1, i)
      assert.equal("line", ev.kind)
      assert.equal("VMLUA-GUEST-READY (1.5%)", ev.line)
      assert.equal(p.stdout, ev.stream)
      assert.is_nil(ev.captures)
      assert.equal("after", p.stdout:read_line(5)) -- "booting" was consumed
      p:close()
    end)

    it("a Lua pattern with captures", function()
      local p = lines("cpu 0 up\\nlistening on port 8042 (tcp)\\n")
      local _, ev = core.wait({ { line = p.stdout, pattern = "port (%d+) %((%a+)%)" } }, 10)
      assert.equal("listening on port 8042 (tcp)", ev.line)
      assert.same({ "8042", "tcp" }, ev.captures)
      local _, ev2 = core.wait({ { line = lines("x=7\\n").stdout, pattern = "^x=%d$" } }, 10)
      assert.same({}, ev2.captures)
      p:close()
    end)

    it("any line", function()
      local p = lines("first\\n")
      local _, ev = core.wait({ { line = p.stdout } }, 10)
      assert.equal("first", ev.line)
      p:close()
    end)

    it("a line in a growing file, and in a file created after the follow started", function()
      local dir = H.tmpdir()
      local log = dir .. "/serial.log"
      H.write(log, "[0.0] booting\n")
      local s = assert(core.follow(log))
      local w = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; echo '[1.2] VMLUA-GUEST-READY' >> " .. log } })
      local _, ev = core.wait({ { line = s, find = "GUEST-READY" }, { exit = w } }, 10)
      assert.equal("[1.2] VMLUA-GUEST-READY", ev.line)
      w:close()
      s:close()

      local later = dir .. "/later.log"
      s = assert(core.follow(later))
      w = assert(core.spawn { argv = { "sh", "-c", "sleep 0.1; printf 'noise\\nREADY 3\\n' > " .. later } })
      _, ev = core.wait({ { line = s, pattern = "READY (%d)" } }, 10)
      assert.same({ "3" }, ev.captures)
      w:wait(10)
      w:close()
      s:close()
    end)

    it("several conditions on one stream each see every line", function()
      local p = lines("boot\\nREADY\\n")
      local i, ev = core.wait({ { line = p.stdout, find = "PANIC" }, { line = p.stdout, find = "READY" } }, 10)
      assert.equal(2, i)
      assert.equal("READY", ev.line)
      p:close()
    end)

    it("a matched line stays when an earlier condition wins", function()
      local done = assert(core.spawn { argv = { "true" } })
      done:wait(10)
      local dir = H.tmpdir()
      H.write(dir .. "/log", "noise\nREADY\n")
      local s = assert(core.follow(dir .. "/log"))
      local i = core.wait({ { line = s, find = "PANIC" }, { exit = done }, { line = s, find = "READY" } }, 10)
      assert.equal(2, i)
      assert.equal("READY", s:read_line(5)) -- "noise" was consumed, "READY" kept
      done:close()
      s:close()
    end)

    it("raises when Lua code run by the match closes or reads the stream", function()
      -- string.find is called from inside the wait: a call hook (or a
      -- finalizer) runs Lua code there, which must not leave the wait
      -- reading a freed buffer or a line that is gone
      for _, case in ipairs {
        { function(s) s:close() end, "conditions%[1%]: attempt to use a closed stream" },
        { function(s) s:read_line(0) end, "conditions%[1%]: its line was read during the wait" },
      } do
        local p = lines("hello 1\\n")
        local s, find = p.stdout, string.find
        local ran = false
        debug.sethook(function()
          if not ran and debug.getinfo(2, "f").func == find then
            ran = true
            case[1](s)
          end
        end, "c")
        local ok, err = pcall(core.wait, { { line = s, pattern = "hello (%d)" } }, 5)
        debug.sethook()
        assert.is_true(ran)
        assert.is_false(ok)
        assert.matches(case[2], err)
        p:close()
      end
    end)

    it("a stream closed while a pattern is matched is never read again (two conditions)", function()
      -- The pattern runs Lua code (here a call hook on string.find; a
      -- finalizer does the same) that closes the stream: the next
      -- condition must not read the freed line buffer.
      local p = lines(string.rep("x", 70) .. "\\n")
      local s, find = p.stdout, string.find
      local ran = false
      debug.sethook(function()
        if not ran and debug.getinfo(2, "f").func == find then
          ran = true
          s:close()
        end
      end, "c")
      local ok, err = pcall(core.wait, { { line = s, pattern = "^nomatch" }, { line = s, find = "zzz" } }, 5)
      debug.sethook()
      assert.is_true(ran)
      assert.is_false(ok)
      assert.matches("conditions%[1%]: attempt to use a closed stream", err)
      p:close()
    end)

    it("a Process collected while a pattern is matched closes its streams safely", function()
      -- issue 12 finding 1: the dropped Process's __gc closes the pipe and
      -- frees the line buffer from a collection inside string.find
      local line = string.rep("y", 64)
      for _ = 1, 300 do
        local s = core.spawn { argv = { "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo " .. line
          .. "$i; i=$((i+1)); done" }, stdout = "pipe" }.stdout
        local ok, i, ev = pcall(core.wait, { { line = s, pattern = "^nomatch" }, { line = s, find = "zzz" } }, 2)
        if ok then
          assert.is_nil(i)
          assert.is_true(ev == "eof" or ev == "timeout", tostring(ev))
        else
          assert.matches("attempt to use a closed stream", i)
        end
        s:close()
      end
    end)

    it("reads the conditions raw: what an __index function makes up is not used", function()
      -- The wait keeps C pointers to what the conditions hold, for as long
      -- as it runs: a value an __index function made up is anchored
      -- nowhere, and a collection during the wait (here: from a call hook
      -- on string.find) would free it under the pointer.
      local p = lines("noise\\nhello\\n")
      local cond = setmetatable({ line = p.stdout }, { __index = function(_, k)
        if k == "pattern" then return "^hello" .. ("%s*"):rep(20) end -- a long string: not interned
      end })
      local find = string.find
      debug.sethook(function()
        if debug.getinfo(2, "f").func == find then collectgarbage() end
      end, "c")
      local ok, i, ev = pcall(core.wait, { cond }, 5)
      debug.sethook()
      assert.is_true(ok, i)
      assert.equal(1, i)
      assert.same({ kind = "line", line = "noise", stream = p.stdout }, ev)
      local proxy = setmetatable({}, { __len = function() return 1 end, __index = function() return cond end })
      assert.has_error(function() core.wait(proxy, 0) end, "bad argument #1 to 'wait' (give 1 to 4095 conditions)")
      p:close()
    end)

    it("returns nil, 'eof' when only drained streams are left", function()
      local p = assert(core.spawn { argv = { "echo", "nothing useful" }, stdout = "pipe" })
      assert.same({ nil, "eof" }, { core.wait({ { line = p.stdout, find = "READY" } }, 10) })
      p:close()
    end)

    it("a stream at eof does not make the wait spin", function()
      local p = assert(core.spawn { argv = { "true" }, stdout = "pipe" })
      local q = fake()
      assert.same({ nil, "eof" }, { p.stdout:read_line(10) })
      local t0 = P.monotonic()
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { line = p.stdout }, { exit = q } }, 0.2) })
      assert.is_true(P.monotonic() - t0 >= 0.2)
      p:close()
      q:close()
    end)

    it("a malformed pattern raises, and the wait's fds are closed", function()
      local p = lines("line\\n")
      local dir = H.tmpdir()
      assert.has_error(function()
        core.wait({ { socket = dir .. "/s" }, { line = p.stdout, pattern = "(" } }, 10)
      end)
      p:close()
      -- the after_each hook compares our fds with those before the test
    end)
  end)

  describe("readable", function()
    it("a Stream with data, or at eof", function()
      local p = lines("x\\n")
      assert.same({ 1, { kind = "readable" } }, { core.wait({ { readable = p.stdout } }, 10) })
      assert.equal("x", p.stdout:read_line(0))
      assert.same({ nil, "timeout", ETIMEDOUT }, { core.wait({ { readable = p.stdout } }, 0.05) })
      p.stdin:close()
      assert.equal(1, (core.wait({ { readable = p.stdout } }, 10)))
      p:close()
    end)

    it("a followed file with content", function()
      local dir = H.tmpdir()
      H.write(dir .. "/log", "there\n")
      local s = assert(core.follow(dir .. "/log"))
      assert.equal(1, (core.wait({ { readable = s } }, 10)))
      s:close()
    end)
  end)

  describe("signal", function()
    it("a listed signal, read through a signalfd", function()
      P.with_blocked({ "SIGUSR1" }, function()
        assert.is_true(core.kill(P.getpid(), "USR1"))
        assert.same({ "SIGUSR1" }, core.signals.pending())
        local i, ev = core.wait({ { signal = { "SIGUSR1" } } }, 10)
        assert.equal(1, i)
        assert.same({ kind = "signal", signal = "SIGUSR1", signo = 10 }, ev)
        assert.same({}, core.signals.pending())
      end)
    end)

    it("signal = true: the supervised signals", function()
      P.with_blocked({ "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2" }, function()
        assert.is_true(core.kill(P.getpid(), "TERM"))
        local p = fake()
        local i, ev = core.wait({ { exit = p }, { signal = true } }, 10)
        assert.equal(2, i)
        assert.same({ kind = "signal", signal = "SIGTERM", signo = 15 }, ev)
        p:close()
      end)
    end)

    it("raises when the signal is not blocked", function()
      local saved = core.signals.blocked()
      core.signals.unblock { "SIGUSR2" }
      local ok, err = pcall(core.wait, { { signal = { "SIGUSR2" } } }, 0)
      P.restore_mask(saved)
      assert.is_false(ok)
      assert.matches("SIGUSR2 is not blocked: block it first with core.signals.block", err)
    end)
  end)

  describe("misuse raises", function()
    local p
    before_each(function() p = fake() end)
    after_each(function() p:close() end)

    local cases = {
      { function() return {} end, "give 1 to 4095 conditions" },
      { function() return { "exit" } end, "conditions%[1%]: each condition must be a table" },
      { function() return { {} } end, "give exactly one of exit, socket, line, readable, signal" },
      { function(q) return { { exit = q, socket = "/x" } } end, "give exactly one of" },
      { function(q) return { { exit = q, colour = "red" } } end, "unknown key 'colour'" },
      { function(q) return { { exit = q, find = "x" } } end, "find and pattern go with a line condition" },
      { function(q) return { { line = q.stdout, find = "x", pattern = "y" } } end, "either find or pattern" },
      { function(q) return { { line = q.stdout, find = 5 } } end, "find must be a string" },
      { function(q) return { { line = q } } end, "line must be a Stream" },
      { function() return { { exit = "p" } } end, "exit must be a Process" },
      { function() return { { readable = {} } } end, "readable must be a Stream, Socket or Listener" },
      { function() return { { signal = {} } } end, "signal must be true or a list of signals" },
      { function() return { { signal = { "SIGNOPE" } } } end, "unknown signal 'SIGNOPE'" },
    }
    for _, case in ipairs(cases) do
      it(case[2]:gsub("%%", ""), function()
        local ok, err = pcall(core.wait, case[1](p), 0)
        assert.is_false(ok)
        assert.matches(case[2], err)
      end)
    end

    it("closed handles", function()
      local q = fake()
      local out = q.stdout
      q:close()
      local closed = "bad argument #1 to 'wait' (conditions[1]: attempt to use a closed %s)"
      assert.has_error(function() core.wait { { exit = q } } end, closed:format("process"))
      assert.has_error(function() core.wait { { line = out } } end, closed:format("stream"))
      assert.has_error(function() core.wait { { readable = out } } end, closed:format("stream"))
      local a, b = core.socket.pair()
      a:close()
      assert.has_error(function() core.wait { { readable = a } } end, closed:format("socket"))
      b:close()
    end)

    it("a bad timeout", function()
      assert.has_error(function() core.wait({ { exit = p } }, -1) end)
    end)
  end)
end)
