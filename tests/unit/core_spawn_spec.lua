-- core.spawn: options, failures reported synchronously, what the child
-- inherits (environment, cwd, stdio, fds, signal state, session).
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

describe("core.spawn", function()
  local children_before
  before_each(function() children_before = P.children() end)
  after_each(function()
    collectgarbage()
    collectgarbage()
    assert.same(children_before, P.children(), "a child was left behind")
    H.cleanup_tmp()
  end)

  describe("option checks raise", function()
    local cases = {
      { {}, "argv must be a table of strings, got nil" },
      { { argv = {} }, "argv must not be empty" },
      { { argv = { "true", 3 } }, "argv%[2%] must be a string, got number" },
      { { argv = { "tr\0ue" } }, "argv%[1%] contains a NUL byte" },
      { { argv = { "true" }, bogus = 1 }, "unknown option 'bogus'" },
      { { argv = { "true" }, [1] = "x" }, "unknown option '1'" },
      { { argv = { "true" }, env = "A=1" }, "env must be a table, got string" },
      { { argv = { "true" }, env = { A = 1 } }, "env.A must be a string or false, got number" },
      { { argv = { "true" }, env = { ["A=B"] = "1" } }, "env: invalid variable name 'A=B'" },
      { { argv = { "true" }, env_clear = "yes" }, "env_clear must be a boolean, got string" },
      { { argv = { "true" }, cwd = 5 }, "cwd must be a string, got number" },
      { { argv = { "true" }, stdout = "pip" }, "stdout: invalid value 'pip'" },
      { { argv = { "true" }, stdout = "stdout" }, "stdout: invalid value 'stdout'" },
      { { argv = { "true" }, stdin = -1 }, "stdin: invalid fd %-1" },
      { { argv = { "true" }, stdout = { path = "/tmp/x" } }, "stdout: unknown option 'path'" },
      { { argv = { "true" }, stdout = { file = 1 } }, "stdout.file must be a string, got number" },
      { { argv = { "true" }, stdout = { file = "/tmp/x", append = 1 } }, "stdout.append must be a boolean" },
      { { argv = { "true" }, stderr = {} }, "stderr.file must be a string, got nil" },
      { { argv = { "true" }, fds = 3 }, "fds must be a table, got number" },
      { { argv = { "true" }, fds = { "x" } },
        "fds%[1%]: expected an fd, an io file, a Stream or a Socket, got string" },
      { { argv = { "true" }, setsid = 1 }, "setsid must be a boolean, got number" },
      { { argv = { "true" }, pgroup = "no" }, "pgroup must be a boolean, got string" },
      { { argv = { "true" }, die_with_parent = "SIGNOPE" }, "die_with_parent: unknown signal 'SIGNOPE'" },
    }
    for _, case in ipairs(cases) do
      it(case[2]:gsub("%%", ""), function()
        local ok, err = pcall(core.spawn, case[1])
        assert.is_false(ok)
        assert.matches("bad argument #1 to '[%w.]*spawn' %(" .. case[2], err)
      end)
    end

    it("reads the options raw: what an __index function makes up is not used", function()
      -- the path is kept as a C pointer until the child opens it: a string
      -- made up by __index would be anchored nowhere
      local out = setmetatable({}, { __index = function(_, k) if k == "file" then return "/tmp/x" end end })
      local ok, err = pcall(core.spawn, { argv = { "true" }, stdout = out })
      assert.is_false(ok)
      assert.matches("%(stdout.file must be a string, got nil%)", err)
      ok, err = pcall(core.spawn, setmetatable({}, { __index = { argv = { "true" } } }))
      assert.is_false(ok)
      assert.matches("%(argv must be a table of strings, got nil%)", err)
    end)

    it("needs a table", function()
      assert.has_error(function() core.spawn("true") end)
    end)

    it("raises for a closed io file in fds", function()
      local f = assert(io.open("/dev/null"))
      f:close()
      local ok, err = pcall(core.spawn, { argv = { "true" }, fds = { f } })
      assert.is_false(ok)
      assert.matches("%(fds%[1%]: attempt to use a closed file%)", err)
    end)

    it("names a closed handle in fds, and refuses a followed file", function()
      local a, b = core.socket.pair()
      a:close()
      local ok, err = pcall(core.spawn, { argv = { "true" }, fds = { b, a } })
      assert.is_false(ok)
      assert.matches("%(fds%[2%]: attempt to use a closed socket%)", err)
      b:close()
      local dir = assert(core.fs.mkdtemp("/tmp/vt"))
      finally(function() core.fs.remove_tree(dir) end)
      local s = assert(core.follow(dir .. "/log"))
      ok, err = pcall(core.spawn, { argv = { "true" }, stdout = s })
      s:close()
      assert.is_false(ok)
      assert.matches("%(stdout: a followed file has no fd to pass%)", err)
    end)
  end)

  describe("failures return nil, message, errno and leave nothing", function()
    local fds_before
    before_each(function() fds_before = P.fds() end)
    after_each(function() assert.same(fds_before, P.fds(), "an fd leaked") end)

    it("a missing absolute path", function()
      local p, err, errno = core.spawn { argv = { "/usr/local/bin/cloud-hypervisor-missing" }, stdout = "pipe" }
      assert.is_nil(p)
      assert.equal("cannot execute /usr/local/bin/cloud-hypervisor-missing: No such file or directory", err)
      assert.equal(2, errno)
    end)

    it("a name not on PATH (looked up before forking)", function()
      local p, err, errno = core.spawn { argv = { "vmlua-no-such-program" } }
      assert.is_nil(p)
      assert.equal("cannot execute vmlua-no-such-program: No such file or directory", err)
      assert.equal(2, errno)
    end)

    it("a file that is not executable", function()
      local dir = H.tmpdir()
      H.write(dir .. "/vmm", "#!/bin/sh\n")
      local p, err, errno = core.spawn { argv = { dir .. "/vmm" } }
      assert.is_nil(p)
      assert.equal("cannot execute " .. dir .. "/vmm: Permission denied", err)
      assert.equal(13, errno)
    end)

    it("a cwd that cannot be entered", function()
      local p, err, errno = core.spawn { argv = { "true" }, cwd = "/nonexistent/dir" }
      assert.is_nil(p)
      assert.equal("cannot change directory to /nonexistent/dir: No such file or directory", err)
      assert.equal(2, errno)
    end)

    it("a stdio file that cannot be opened", function()
      local p, err, errno = core.spawn { argv = { "true" }, stderr = { file = "/nonexistent/x/err.log" } }
      assert.is_nil(p)
      assert.equal("cannot open /nonexistent/x/err.log: No such file or directory", err)
      assert.equal(2, errno)
    end)

    it("an fd to pass that is not open", function()
      local p, err, errno = core.spawn { argv = { "true" }, fds = { 250 } }
      assert.is_nil(p)
      assert.equal("cannot pass fd 250 to the child as fd 3: Bad file descriptor", err)
      assert.equal(9, errno)
    end)
  end)

  describe("the child's environment", function()
    local function env_of(opts)
      local out = P.output({ "env" }, opts)
      local t = {}
      for k, v in out:gmatch("([^\n=]+)=([^\n]*)") do t[k] = v end
      return t
    end

    it("inherits the environment and adds env", function()
      local t = env_of { env = { VMLUA_T1 = "one two", VMLUA_T2 = "=x=" } }
      assert.equal("one two", t.VMLUA_T1)
      assert.equal("=x=", t.VMLUA_T2)
      assert.equal(os.getenv("PATH"), t.PATH)
    end)

    it("env values replace inherited ones and false removes them", function()
      local t = env_of { env = { PATH = "/bin:/usr/bin", HOME = false } }
      assert.equal("/bin:/usr/bin", t.PATH)
      assert.is_nil(t.HOME)
    end)

    it("env_clear starts from nothing", function()
      local out = P.output({ "/usr/bin/env" }, { env_clear = true, env = { ONLY = "this" } })
      assert.equal("ONLY=this\n", out)
      assert.equal("", (P.output({ "/usr/bin/env" }, { env_clear = true })))
    end)

    it("runs in cwd", function()
      local dir = H.tmpdir()
      assert.equal(dir .. "\n", (P.output({ "pwd" }, { cwd = dir })))
    end)
  end)

  describe("stdio", function()
    it("pipes stdout and stderr separately", function()
      local p = assert(core.spawn { argv = { P.fake, "--stdout", "out", "--stderr", "err",
        "--exit-after-ms", "0" }, stdout = "pipe", stderr = "pipe" })
      assert.equal("out", p.stdout:read_line(5))
      assert.equal("err", p.stderr:read_line(5))
      assert.same({ "exited", 0 }, { p:wait(5) })
      assert.is_nil(p.stdin)
      p:close()
    end)

    it("stderr = 'stdout' shares the pipe", function()
      local out = P.output({ P.fake, "--stderr", "to stderr", "--exit-after-ms", "0" }, { stderr = "stdout" })
      assert.equal("to stderr\n", out)
    end)

    it("writes a file, appending by default, 0600 when created", function()
      local dir = H.tmpdir()
      local log = dir .. "/vmm.log"
      H.write(log, "before\n")
      for _ = 1, 2 do
        local p = assert(core.spawn { argv = { P.fake, "--stderr", "line", "--exit-after-ms", "0" },
          stderr = { file = log } })
        p:wait(5)
        p:close()
      end
      assert.equal("before\nline\nline\n", H.read(log))
      local p = assert(core.spawn { argv = { P.fake, "--stderr", "fresh", "--exit-after-ms", "0" },
        stderr = { file = log, append = false } })
      p:wait(5)
      p:close()
      assert.equal("fresh\n", H.read(log))
      local created = dir .. "/new.log"
      p = assert(core.spawn { argv = { "true" }, stdout = { file = created } })
      p:wait(5)
      p:close()
      assert.equal("-rw-------", (P.output({ "stat", "-c", "%A", created }):gsub("\n", "")))
    end)

    it("reads stdin from a file, an io file or /dev/null", function()
      local dir = H.tmpdir()
      H.write(dir .. "/in", "from a file\n")
      assert.equal("from a file\n", (P.output({ "cat" }, { stdin = { file = dir .. "/in" } })))
      local f = assert(io.open(dir .. "/in"))
      assert.equal("from a file\n", (P.output({ "cat" }, { stdin = f })))
      f:close()
      assert.equal("", (P.output({ "cat" }, { stdin = "null" })))
    end)

    it("writes to an io file, flushed first", function()
      local dir = H.tmpdir()
      local f = assert(io.open(dir .. "/out", "w"))
      f:write("first\n") -- flushed before the child writes
      local p = assert(core.spawn { argv = { "echo", "second" }, stdout = f })
      p:wait(5)
      p:close()
      f:close()
      assert.equal("first\nsecond\n", H.read(dir .. "/out"))
    end)

    it("writes to an integer fd", function()
      local cat = assert(core.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
      local p = assert(core.spawn { argv = { "echo", "via fd" }, stdout = cat.stdin:fileno() })
      p:wait(5)
      p:close()
      cat.stdin:close()
      assert.equal("via fd", cat.stdout:read_line(5))
      assert.same({ "exited", 0 }, { cat:wait(5) })
      cat:close()
    end)

    it("a writable stdin pipe", function()
      local p = assert(core.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
      assert.is_true(p.stdin:write("hello\nworld\n"))
      p.stdin:close()
      assert.equal("hello", p.stdout:read_line(5))
      assert.equal("world", p.stdout:read_line(5))
      assert.same({ nil, "eof" }, { p.stdout:read_line(5) })
      assert.same({ "exited", 0 }, { p:wait(5) })
      p:close()
    end)
  end)

  describe("fds", function()
    it("the child holds exactly 0, 1, 2 and the passed fds as 3, 4, ...", function()
      local dir = H.tmpdir()
      local a = assert(io.open(dir .. "/a", "w"))
      local b = assert(io.open(dir .. "/b", "w"))
      local out = P.output({ P.fake, "--list-fds" }, { fds = { a, b, a } })
      a:close()
      b:close()
      assert.equal("0\n1\n2\n3\n4\n5\n", out)
    end)

    it("passes the right files in the right order", function()
      local dir = H.tmpdir()
      local a = assert(io.open(dir .. "/a", "w"))
      local b = assert(io.open(dir .. "/b", "w"))
      local p = assert(core.spawn { argv = { "sh", "-c", "echo three >&3; echo four >&4" }, fds = { b, a } })
      assert.same({ "exited", 0 }, { p:wait(5) })
      p:close()
      a:close()
      b:close()
      assert.equal("three\n", H.read(dir .. "/b"))
      assert.equal("four\n", H.read(dir .. "/a"))
    end)

    it("accepts a child's pipe as a Stream", function()
      local src = assert(core.spawn { argv = { "echo", "through" }, stdout = "pipe" })
      local out = P.output({ "sh", "-c", "cat <&3" }, { fds = { src.stdout } })
      src:wait(5)
      src:close()
      assert.equal("through\n", out)
    end)
  end)

  describe("the child's signal state", function()
    it("starts with no blocked and no ignored signal", function()
      local saved = core.signals.blocked()
      core.signals.block { "SIGTERM", "SIGINT", "SIGUSR1", "SIGHUP" }
      assert.is_true(#core.signals.blocked() >= 4)
      -- cat, waiting on its stdin, leaves its signal state as exec gave it.
      local p = assert(core.spawn { argv = { "cat" }, stdin = "pipe" })
      P.restore_mask(saved)
      local st = P.status(p.pid)
      p.stdin:close()
      assert.same({ "exited", 0 }, { p:wait(5) })
      p:close()
      assert.equal("0000000000000000", st.SigBlk)
      assert.equal("0000000000000000", st.SigIgn) -- (ignored ones: tests/c/test_spawn.c)
      assert.same(saved, core.signals.blocked())
    end)
  end)

  describe("sessions and groups", function()
    it("setsid: a new session led by the child", function()
      local p = assert(core.spawn { argv = { P.fake }, setsid = true })
      local st = P.stat(p.pid)
      assert.equal(p.pid, tonumber(st[3]), "process group") -- field 5
      assert.equal(p.pid, tonumber(st[4]), "session")       -- field 6
      p:close()
    end)

    it("pgroup: its own process group in our session", function()
      local p = assert(core.spawn { argv = { P.fake, "--stdout", "up" }, pgroup = true, stdout = "pipe" })
      assert.equal("up", p.stdout:read_line(5)) -- its SIGTERM handling is set up
      local st, mine = P.stat(p.pid), P.stat(P.getpid())
      assert.equal(p.pid, tonumber(st[3]))
      assert.equal(mine[4], st[4])
      assert.is_true(core.kill(-p.pid, "TERM"))
      assert.same({ "exited", 0 }, { p:wait(5) })
      p:close()
    end)
  end)

  describe("die_with_parent", function()
    -- A Lua parent spawns the fake with die_with_parent and exits at once;
    -- the orphan must then die (it is re-parented to init, so we watch it
    -- with a pidfd through core.proc.attach).
    local function orphan(opt)
      local script = ([[
        package.cpath = %q
        local core = require "vmlua.core"
        local p = assert(core.spawn { argv = { %q }, die_with_parent = %s, stdout = "null" })
        io.write(p.pid, " ", p.start_time, "\n")
        io.stdout:flush()
        os.exit(0, false) -- no __gc: the child must die of the parent's death alone
      ]]):format(package.cpath, P.fake, opt)
      local out = P.output({ "lua5.4", "-e", script })
      local pid, start = out:match("^(%d+) (%d+)")
      return tonumber(pid), tonumber(start)
    end

    it("true: the child is killed when the parent dies", function()
      local pid, start = orphan("true")
      assert.is_not_nil(pid)
      local h = core.proc.attach(pid, start)
      if h then -- nil when it is already gone
        assert.same({ "exited" }, { h:wait(10) })
        h:close()
      end
      assert.is_false(core.proc.alive(pid, start))
    end)

    it("a signal name gives that signal", function()
      local pid, start = orphan('"SIGTERM"')
      local h = core.proc.attach(pid, start)
      if h then
        assert.same({ "exited" }, { h:wait(10) })
        h:close()
      end
      assert.is_false(core.proc.alive(pid, start))
    end)

    it("without it the orphan lives on", function()
      local pid, start = orphan("false")
      assert.is_true(core.proc.alive(pid, start))
      assert.is_true(core.proc.kill(pid, "KILL", start))
      local h = core.proc.attach(pid, start)
      if h then
        h:wait(10)
        h:close()
      end
    end)
  end)
end)
