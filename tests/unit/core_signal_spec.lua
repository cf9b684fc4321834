-- Signals: names and numbers, the process mask, pending signals, core.kill.
-- Every test leaves our signal mask as it found it.
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

describe("signals", function()
  local saved
  before_each(function() saved = core.signals.blocked() end)
  after_each(function()
    P.restore_mask(saved)
    assert.same(saved, core.signals.blocked())
  end)

  describe("names and numbers", function()
    it("signal_name", function()
      assert.equal("SIGTERM", core.signal_name(15))
      assert.equal("SIGKILL", core.signal_name("KILL"))
      assert.equal("SIGCHLD", core.signal_name("SIGCHLD"))
      assert.equal("SIG40", core.signal_name(40))
    end)

    it("signal_number", function()
      assert.equal(15, core.signal_number("SIGTERM"))
      assert.equal(15, core.signal_number("TERM"))
      assert.equal(10, core.signal_number("USR1"))
      assert.equal(6, core.signal_number("SIGIOT"))
      assert.equal(40, core.signal_number("SIG40"))
      assert.equal(2, core.signal_number(2))
    end)

    it("raise for what is not a signal", function()
      for _, bad in ipairs { 0, 65, -1, 1.5, "sigterm", "TERMINATE", "SIG0", "SIG99", "", true } do
        assert.has_error(function() core.signal_number(bad) end, nil, tostring(bad))
      end
      local ok, err = pcall(core.signal_name, "NOPE")
      assert.is_false(ok)
      assert.matches("unknown signal 'NOPE'", err)
      ok, err = pcall(core.signal_name, 99)
      assert.is_false(ok)
      assert.matches("invalid signal number 99", err)
    end)
  end)

  describe("the mask", function()
    it("block and unblock a list", function()
      core.signals.unblock { "SIGUSR2", "SIGWINCH" }
      assert.is_true(core.signals.block { "SIGUSR2", 28 })
      local b = core.signals.blocked()
      local set = {}
      for _, n in ipairs(b) do set[n] = true end
      assert.is_true(set.SIGUSR2 and set.SIGWINCH)
      assert.is_true(core.signals.unblock { "USR2" })
      set = {}
      for _, n in ipairs(core.signals.blocked()) do set[n] = true end
      assert.is_nil(set.SIGUSR2)
      assert.is_true(set.SIGWINCH)
    end)

    it("the default set", function()
      P.restore_mask({})
      assert.same({}, core.signals.blocked())
      core.signals.block()
      assert.same({ "SIGHUP", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGCHLD" }, core.signals.blocked())
      core.signals.unblock()
      assert.same({}, core.signals.blocked())
    end)

    it("refuses what cannot be blocked or is not a signal", function()
      assert.has_error(function() core.signals.block { "SIGKILL" } end)
      assert.has_error(function() core.signals.block { "SIGSTOP" } end)
      assert.has_error(function() core.signals.block { "SIGFOO" } end)
      assert.has_error(function() core.signals.block("SIGTERM") end)
    end)

    it("pending lists without consuming", function()
      P.with_blocked({ "SIGUSR2" }, function()
        assert.same({}, core.signals.pending())
        assert.is_true(core.kill(P.getpid(), "SIGUSR2"))
        assert.same({ "SIGUSR2" }, core.signals.pending())
        assert.same({ "SIGUSR2" }, core.signals.pending())
        assert.equal(1, (core.wait({ { signal = { "USR2" } } }, 1)))
        assert.same({}, core.signals.pending())
      end)
    end)

    it("the vmlua executable starts with the default set blocked", function()
      -- A stand-in vmlua.cli on VMLUA_PATH reports the mask vmlua runs Lua with.
      local dir = H.tmpdir()
      assert(os.execute("mkdir -p " .. dir .. "/vmlua"))
      H.write(dir .. "/vmlua/cli.lua", [[
        local core = require "vmlua.core"
        return { main = function() print(table.concat(core.signals.blocked(), " ")) return 0 end }
      ]])
      local out, how, code = P.output({ H.bin, "anything" }, { env = { VMLUA_PATH = dir } })
      assert.same({ "exited", 0 }, { how, code })
      assert.equal("SIGHUP SIGINT SIGUSR1 SIGUSR2 SIGTERM SIGCHLD\n", out)
      H.cleanup_tmp()
    end)
  end)

  describe("core.kill", function()
    it("sends a signal to a pid", function()
      local p = assert(core.spawn { argv = { P.fake, "--stdout", "up" }, stdout = "pipe" })
      assert.equal("up", p.stdout:read_line(10))
      assert.is_true(core.kill(p.pid, "SIGTERM"))
      assert.same({ "exited", 0 }, { p:wait(10) })
      p:close()
    end)

    it("to a process group with a negative pid", function()
      local p = assert(core.spawn { argv = { P.fake }, pgroup = true })
      assert.is_true(core.kill(-p.pid, 9))
      assert.same({ "killed", 9 }, { p:wait(10) })
      p:close()
    end)

    it("returns nil, message, errno for a missing process", function()
      assert.same({ nil, "kill 2147483600: No such process", 3 }, { core.kill(2147483600, "TERM") })
    end)

    it("raises for pid 0, -1 and bad signals", function()
      assert.has_error(function() core.kill(0, "TERM") end)
      assert.has_error(function() core.kill(-1, "TERM") end)
      assert.has_error(function() core.kill(1, "BOGUS") end)
      assert.has_error(function() core.kill("me", "TERM") end)
    end)
  end)
end)
