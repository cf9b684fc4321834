-- tests/fakes/fake-vmm as the benchmarks use it: standing in for QEMU
-- (--qemu: the socket is the -qmp path, QEMU's other options are ignored)
-- and recording its exit time (--exit-file). Its other options are covered
-- by the core_* specs that use it.
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

--- Start the fake with argv, wait for its socket; returns the process.
local function start_on(sock, argv)
  local p = assert(core.spawn { argv = argv, stdout = "null", stderr = "null" })
  local i = core.wait({ { socket = sock }, { exit = p } }, 10)
  assert.equal(1, i, "the fake did not bind " .. sock)
  return p
end

describe("fake-vmm", function()
  local children_before
  before_each(function() children_before = P.children() end)
  after_each(function()
    assert.same(children_before, P.children(), "a child was left behind")
    H.cleanup_tmp()
  end)

  describe("--qemu", function()
    it("binds the path of -qmp unix:path=P,... among QEMU's options, --qemu last", function()
      local dir = H.tmpdir()
      local sock, bound = dir .. "/qmp.sock", dir .. "/bound"
      local p = start_on(sock, { P.fake, "-machine", "q35,accel=tcg", "-qmp",
        "unix:path=" .. sock .. ",server=on,wait=off", "-chardev", "file,id=serial0,path=" .. dir .. "/serial.log",
        "-serial", "chardev:serial0", "-nographic", "--no-reboot", "-m", "256M",
        "--qemu", "--ready-file", bound })
      assert.is_true(p:signal("SIGTERM"))
      assert.same({ "exited", 0 }, { p:wait(10) })
      -- written right after listen(): read once the fake has gone
      assert.truthy(tonumber(H.read(bound)))
      assert.is_false(core.fs.exists(sock), "the socket is removed at exit")
      p:close()
    end)

    it("takes the unix:P,... form, and ',,' as an escaped comma", function()
      local dir = H.tmpdir()
      local sock = dir .. "/a,b.sock"
      local p = start_on(sock, { P.fake, "--qemu", "-qmp", "unix:" .. dir .. "/a,,b.sock,server=on,wait=off" })
      p:signal("SIGTERM")
      assert.same({ "exited", 0 }, { p:wait(10) })
      p:close()
    end)

    it("keeps --delay-ms: the socket appears only that much later", function()
      local dir = H.tmpdir()
      local sock = dir .. "/qmp.sock"
      local t0 = core.monotonic()
      local p = start_on(sock, { P.fake, "-qmp", "unix:path=" .. sock .. ",server=on", "--qemu", "--delay-ms", "150" })
      assert.is_true(core.monotonic() - t0 >= 0.15)
      p:signal("SIGTERM")
      p:wait(10)
      p:close()
    end)

    it("without --qemu, QEMU's options are still unknown (exit 2)", function()
      local out = P.output({ P.fake, "-machine", "q35" }, { stderr = "stdout" })
      assert.truthy(out:find("fake-vmm: unknown option -machine", 1, true), out)
    end)

    it("a fake option without its value is a usage error in --qemu mode too", function()
      local p = assert(core.spawn { argv = { P.fake, "--qemu", "--delay-ms" }, stderr = "null" })
      assert.same({ "exited", 2 }, { p:wait(10) })
      p:close()
    end)
  end)

  describe("--exit-file", function()
    it("records when --exit-after-ms was due", function()
      local dir = H.tmpdir()
      local ef = dir .. "/exit"
      local t0 = core.monotonic()
      local p = assert(core.spawn { argv = { P.fake, "--exit-after-ms", "100", "--exit-code", "3",
                                             "--exit-file", ef } })
      assert.same({ "exited", 3 }, { p:wait(10) })
      local t = tonumber(H.read(ef))
      assert.is_true(t >= t0 + 0.1 and t <= core.monotonic(), tostring(t))
      p:close()
    end)

    it("records when SIGTERM was read", function()
      local dir = H.tmpdir()
      local ef, sock = dir .. "/exit", dir .. "/s.sock"
      local p = start_on(sock, { P.fake, "--socket", sock, "--exit-file", ef })
      local t0 = core.monotonic()
      p:signal("SIGTERM")
      assert.same({ "exited", 0 }, { p:wait(10) })
      local t = tonumber(H.read(ef))
      assert.is_true(t >= t0 and t <= core.monotonic(), tostring(t))
      p:close()
    end)

    it("an exit file it cannot write: exit 1 with the path", function()
      local p = assert(core.spawn { argv = { P.fake, "--exit-after-ms", "0", "--exit-file", "/nonexistent/x" },
                                    stderr = "pipe" })
      local err = p.stderr:read_line(10)
      assert.same({ "exited", 1 }, { p:wait(10) })
      assert.equal("fake-vmm: /nonexistent/x: No such file or directory", err)
      p:close()
    end)
  end)
end)
