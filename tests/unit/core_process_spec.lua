-- vmlua.Process and core.proc: waiting, signalling, terminating with
-- escalation, closing (never a zombie), attaching by pid + start time.
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

local ESRCH, ETIMEDOUT = 3, 110

--- Spawn the fake and wait until it has set up its signal handling.
local function fake(...)
  local p = assert(core.spawn { argv = { P.fake, "--stdout", "up", ... }, stdout = "pipe" })
  assert.equal("up", p.stdout:read_line(10))
  return p
end

describe("vmlua.Process", function()
  local children_before
  before_each(function() children_before = P.children() end)
  after_each(function()
    collectgarbage()
    collectgarbage()
    assert.same(children_before, P.children(), "a child was left behind")
    H.cleanup_tmp()
  end)

  it("has pid and start_time", function()
    local p = fake()
    assert.is_true(math.type(p.pid) == "integer" and p.pid > 1)
    assert.equal(tonumber(P.stat(p.pid)[20]), p.start_time) -- field 22
    assert.equal(core.proc.start_time(p.pid), p.start_time)
    assert.is_nil(p.stdin)
    assert.is_nil(p.stderr)
    assert.is_nil(p.nonexistent_field)
    p:close()
  end)

  it("wait returns the exit code, and again later (cached)", function()
    local p = assert(core.spawn { argv = { P.fake, "--exit-after-ms", "0", "--exit-code", "7" } })
    assert.same({ "exited", 7 }, { p:wait(10) })
    assert.is_false(P.exists(p.pid), "reaped")
    assert.same({ "exited", 7 }, { p:wait() })
    assert.same({ "exited", 7 }, { p:wait(0) })
    p:close()
  end)

  it("a child killed by a signal", function()
    local p = fake()
    assert.is_true(p:signal("SIGUSR1")) -- not handled by the fake: default action
    assert.same({ "killed", 10 }, { p:wait(10) })
    assert.matches("^vmlua.Process %(pid %d+, killed by 10%)$", tostring(p))
    p:close()
  end)

  it("a wait that times out", function()
    local p = fake()
    local t0 = P.monotonic()
    local ok, msg, errno = p:wait(0.2)
    local elapsed = P.monotonic() - t0
    assert.is_nil(ok)
    assert.equal("timeout", msg)
    assert.equal(ETIMEDOUT, errno)
    assert.is_true(elapsed >= 0.2, "returned after " .. elapsed)
    assert.is_true(p:alive())
    assert.matches("^vmlua.Process %(pid %d+, running%)$", tostring(p))
    p:close()
  end)

  it("wait rejects a bad timeout", function()
    local p = fake()
    assert.has_error(function() p:wait(-1) end)
    assert.has_error(function() p:wait("soon") end)
    p:close()
  end)

  it("signal after exit: nil, 'process N has exited', ESRCH", function()
    local p = assert(core.spawn { argv = { "true" } })
    p:wait(10)
    assert.same({ nil, "process " .. p.pid .. " has exited", ESRCH }, { p:signal("TERM") })
    assert.is_false(p:alive())
    p:close()
  end)

  it("signal raises for an unknown signal", function()
    local p = fake()
    assert.has_error(function() p:signal("SIGWHAT") end)
    p:close()
  end)

  it("fileno is the pidfd", function()
    local p = fake()
    local fdinfo = H.read(("/proc/%d/fdinfo/%d"):format(P.getpid(), p:fileno()))
    assert.matches("Pid:%s+" .. p.pid, fdinfo)
    p:close()
  end)

  describe("terminate", function()
    it("returns at once when the signal is honoured", function()
      local p = fake()
      local how, code, secs = p:terminate { grace = 5 }
      print(("\n    terminate (honoured SIGTERM): %s %d after %.4f s"):format(how, code, secs))
      assert.equal("exited", how)
      assert.equal(0, code)
      assert.is_true(secs < 2, secs)
      p:close()
    end)

    it("escalates to SIGKILL after the grace period", function()
      local p = fake("--ignore-term")
      local how, code, secs = p:terminate { grace = 0.3 }
      print(("\n    terminate (ignored SIGTERM, grace 0.3): %s %d after %.4f s"):format(how, code, secs))
      assert.equal("killed", how)
      assert.equal(9, code)
      assert.is_true(secs >= 0.3 and secs < 2.3, secs)
      p:close()
    end)

    it("uses the given signal", function()
      local p = fake("--ignore-term")
      local how, code = p:terminate { signal = "INT", grace = 5 }
      assert.same({ "exited", 0 }, { how, code })
      p:close()
    end)

    it("of an exited process returns its status", function()
      local p = assert(core.spawn { argv = { "false" } })
      p:wait(10)
      local how, code, secs = p:terminate()
      assert.same({ "exited", 1 }, { how, code })
      assert.is_true(secs < 1)
      p:close()
    end)

    describe("group = true", function()
      -- A leader (setsid) that forks a member and prints its pid; the
      -- member outlives the leader unless the group is stopped.
      local function group(script)
        local p = assert(core.spawn { argv = { "/bin/sh", "-c", script }, setsid = true, stdout = "pipe" })
        local member = assert(tonumber(p.stdout:read_line(10)))
        return p, member, assert(core.proc.start_time(member))
      end

      it("stops the members the leader leaves behind, and returns once they are gone", function()
        local p, member, start = group("sleep 60 & echo $!; wait")
        local how, code, secs = p:terminate { grace = 5, group = true }
        assert.same({ "killed", 15 }, { how, code })
        assert.is_false(core.proc.alive(member, start))
        assert.is_true(secs < 2, secs)
        p:close()
      end)

      it("kills a member that ignores the signal once the grace is over", function()
        -- the member prints its pid once it ignores SIGTERM (inherited)
        local p, member, start = group([[(trap '' TERM; exec sh -c 'echo $$; exec sleep 60') & wait]])
        local how, code, secs = p:terminate { grace = 0.3, group = true }
        assert.same({ "killed", 15 }, { how, code })
        assert.is_false(core.proc.alive(member, start))
        assert.is_true(secs >= 0.3 and secs < 2.3, secs)
        p:close()
      end)

      it("reaches the members of a leader that has already exited", function()
        local p, member, start = group("sleep 60 & echo $!")
        assert.same({ "exited", 0 }, { p:wait(10) })
        assert.is_true(core.proc.alive(member, start))
        local how, code = p:terminate { grace = 5, group = true }
        assert.same({ "exited", 0 }, { how, code })
        assert.is_false(core.proc.alive(member, start))
        p:close()
      end)

      it("works on an attached leader (vmlua stop when the supervisor is gone)", function()
        local p, member, start = group("sleep 60 & echo $!; wait")
        local a = assert(core.proc.attach(p.pid, p.start_time))
        local how = a:terminate { grace = 5, group = true }
        assert.equal("exited", how) -- not ours: how it ended is not known
        assert.is_false(core.proc.alive(member, start))
        a:close()
        p:close()
      end)

      it("still reaches a leader that moved to another group", function()
        -- spawned as a group leader, it joins our group (perl-base is Essential in Debian)
        local p = assert(core.spawn { argv = { "perl", "-e",
          "$| = 1; setpgrp(0, " .. P.getpgrp() .. ") or die $!; print qq{moved\\n}; sleep 60" },
          pgroup = true, stdout = "pipe" })
        assert.equal("moved", p.stdout:read_line(10))
        local how, code, secs = p:terminate { grace = 5, group = true }
        assert.same({ "killed", 15 }, { how, code })
        assert.is_true(secs < 2, secs)
        p:close()
      end)

      it("is the process alone without it, or when the process leads no group", function()
        local p, member, start = group("sleep 60 & echo $!; wait")
        p:terminate { grace = 5 }
        assert.is_true(core.proc.alive(member, start))
        assert.is_true(core.kill(member, "SIGKILL"))
        p:close()
        -- not a leader: group = true must not signal the caller's own group
        local q = fake()
        local how, code = q:terminate { grace = 5, group = true }
        assert.same({ "exited", 0 }, { how, code })
        q:close()
      end)
    end)

    it("checks its options", function()
      local p = fake()
      assert.has_error(function() p:terminate { grace = -1 } end)
      assert.has_error(function() p:terminate { wait = 1 } end,
        "bad argument #1 to 'terminate' (unknown option 'wait')")
      assert.has_error(function() p:terminate { signal = "NOPE" } end)
      assert.has_error(function() p:terminate(5) end)
      assert.has_error(function() p:terminate { group = 1 } end,
        "bad argument #1 to 'terminate' (group must be a boolean)")
      assert.is_true(p:alive())
      p:close()
    end)
  end)

  describe("close", function()
    it("kills and reaps a running child", function()
      local p = fake()
      local pid = p.pid
      p:close()
      assert.is_false(P.exists(pid))
      assert.equal(pid, p.pid)
      assert.equal("vmlua.Process (closed)", tostring(p))
      p:close() -- idempotent
      for _, m in ipairs { "wait", "alive", "fileno", "terminate" } do
        assert.has_error(function() p[m](p) end, "attempt to use a closed process")
      end
      assert.has_error(function() p:signal(15) end, "attempt to use a closed process")
    end)

    it("closes the pipes", function()
      local p = assert(core.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
      local out = p.stdout
      p:close()
      assert.has_error(function() out:read_line(0) end, "attempt to use a closed stream")
      assert.equal("vmlua.Stream (closed)", tostring(out))
    end)

    it("__close at the end of a scope", function()
      local pid
      do
        local p <close> = fake()
        pid = p.pid
      end
      assert.is_false(P.exists(pid))
    end)

    it("a collected handle leaves no zombie", function()
      local pid = (function() return fake().pid end)()
      assert.is_true(P.exists(pid))
      collectgarbage()
      collectgarbage()
      assert.is_false(P.exists(pid), "process " .. pid .. " still in /proc")
    end)

    it("a collected handle of an exited child reaps it", function()
      local pid = (function()
        local p = assert(core.spawn { argv = { "true" }, stdout = "pipe" })
        assert.same({ nil, "eof" }, { p.stdout:read_line(10) })
        return p.pid
      end)()
      collectgarbage()
      collectgarbage()
      assert.is_false(P.exists(pid))
    end)
  end)
end)

describe("core.proc", function()
  after_each(function()
    collectgarbage()
    H.cleanup_tmp()
  end)

  it("start_time of a missing pid", function()
    assert.same({ nil, "process 2147483600: No such process", ESRCH }, { core.proc.start_time(2147483600) })
    assert.has_error(function() core.proc.start_time(0) end)
    assert.has_error(function() core.proc.start_time("one") end)
  end)

  it("alive checks the start time and sees zombies as dead", function()
    local p = fake()
    assert.is_true(core.proc.alive(p.pid, p.start_time))
    assert.is_false(core.proc.alive(p.pid, p.start_time + 1))
    assert.is_false(core.proc.alive(2147483600, 1))
    assert.has_error(function() core.proc.alive(p.pid) end)
    -- Exit without being reaped: an attached handle waits without reaping.
    local watcher = assert(core.proc.attach(p.pid, p.start_time))
    assert.is_true(p:signal("KILL"))
    assert.same({ "exited" }, { watcher:wait(10) })
    assert.equal("Z", P.stat(p.pid)[1])
    assert.is_false(core.proc.alive(p.pid, p.start_time))
    watcher:close()
    assert.same({ "killed", 9 }, { p:wait(0) })
    p:close()
  end)

  describe("attach", function()
    it("refuses a process whose start time differs", function()
      local p = fake()
      assert.same({ nil, "process " .. p.pid .. " is not the one recorded (start time differs)", ESRCH },
        { core.proc.attach(p.pid, p.start_time - 1) })
      p:close()
    end)

    it("reports a missing process", function()
      assert.same({ nil, "process 2147483600: No such process", ESRCH }, { core.proc.attach(2147483600, 5) })
    end)

    it("waits by polling, reports 'exited' without a code, and close does not kill", function()
      local p = fake()
      local a = assert(core.proc.attach(p.pid, p.start_time))
      assert.equal(p.pid, a.pid)
      assert.equal(p.start_time, a.start_time)
      assert.same({ nil, "timeout", ETIMEDOUT }, { a:wait(0.05) })
      a:close()
      assert.is_true(p:alive(), "closing an attached handle killed the process")
      a = assert(core.proc.attach(p.pid, p.start_time))
      collectgarbage()
      assert.is_true(a:signal("TERM"))
      assert.same({ "exited" }, { a:wait(10) })
      assert.matches("^vmlua.Process %(pid %d+, exited%)$", tostring(a))
      assert.same({ "exited", 0 }, { p:wait(10) })
      p:close()
      a:close()
    end)

    it("terminate on an attached process", function()
      local p = fake("--ignore-term")
      local a = assert(core.proc.attach(p.pid, p.start_time))
      local how, code, secs = a:terminate { grace = 0.1 }
      assert.equal("exited", how) -- not ours to know how
      assert.is_nil(code)
      assert.is_true(secs >= 0.1)
      assert.same({ "killed", 9 }, { p:wait(10) })
      a:close()
      p:close()
    end)
  end)

  describe("kill", function()
    it("signals after checking the start time", function()
      local p = fake()
      assert.same({ nil, "process " .. p.pid .. " is not the one recorded (start time differs)", ESRCH },
        { core.proc.kill(p.pid, "TERM", p.start_time + 1) })
      assert.is_true(p:alive())
      assert.is_true(core.proc.kill(p.pid, "TERM", p.start_time))
      assert.same({ "exited", 0 }, { p:wait(10) })
      p:close()
    end)

    it("without a start time", function()
      local p = fake()
      assert.is_true(core.proc.kill(p.pid, 9))
      assert.same({ "killed", 9 }, { p:wait(10) })
      p:close()
    end)

    it("a missing process", function()
      assert.same({ nil, "process 2147483600: No such process", ESRCH }, { core.proc.kill(2147483600, "TERM") })
      assert.has_error(function() core.proc.kill(1, "NOPE") end)
    end)
  end)

  describe("info", function()
    -- what /proc shows about a process, for telling whether a pid in a
    -- state file is really the sandbox's (issue 12 finding 3)
    it("of a child: owner, start time, state, program and arguments", function()
      local p = fake("--stderr", "an argument with spaces", "--stderr", "")
      local info = assert(core.proc.info(p.pid))
      assert.same({ p.pid, core.getuid(), core.getuid(), p.start_time },
        { info.pid, info.uid, info.euid, info.start_time })
      assert.is_true(info.state == "S" or info.state == "R", info.state)
      assert.equal(core.fs.realpath(P.fake), info.exe)
      assert.same({ P.fake, "--stdout", "up", "--stderr", "an argument with spaces", "--stderr", "" }, info.cmdline)
      assert.is_nil(info.cmdline_cut)
      p:close()
    end)

    it("of a process of another user", function()
      local p = assert(core.spawn { argv = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                             "sleep", "30" } })
      local info
      -- setpriv execs sleep: wait until it has
      for _ = 1, 200 do
        info = assert(core.proc.info(p.pid))
        if info.cmdline[1] == "sleep" then break end
        core.wait({ { exit = p } }, 0.01)
      end
      assert.same({ 65534, 65534, { "sleep", "30" } }, { info.uid, info.euid, info.cmdline })
      assert.equal(core.fs.realpath(core.fs.which("sleep")), info.exe)
      p:close()
    end)

    it("of a zombie: state Z, no program, no arguments", function()
      local p = assert(core.spawn { argv = { "true" } })
      local watcher = assert(core.proc.attach(p.pid, p.start_time))
      assert.same({ "exited" }, { watcher:wait(10) })
      watcher:close()
      local info = assert(core.proc.info(p.pid))
      assert.same({ "Z", {} }, { info.state, info.cmdline })
      assert.is_nil(info.exe)
      p:close()
      assert.same({ nil, "process " .. p.pid .. ": No such process", ESRCH }, { core.proc.info(p.pid) })
    end)

    it("cuts arguments past 128 KiB, and says so", function()
      local long = string.rep("a", 100 * 1024)
      local p = assert(core.spawn { argv = { "sleep", "30", long, long } })
      local info = assert(core.proc.info(p.pid))
      assert.is_true(info.cmdline_cut)
      assert.equal(long, info.cmdline[3])
      assert.equal(128 * 1024 - (#"sleep" + 1 + #"30" + 1 + #long + 1), #info.cmdline[4])
      p:close()
    end)

    it("a missing process, and misuse", function()
      assert.same({ nil, "process 2147483600: No such process", ESRCH }, { core.proc.info(2147483600) })
      assert.has_error(function() core.proc.info(0) end)
      assert.has_error(function() core.proc.info(1.5) end)
      assert.has_error(function() core.proc.info() end)
    end)
  end)
end)
