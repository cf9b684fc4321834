-- The sandbox lifecycle through the vmlua executable, on the fake
-- cloud-hypervisor (fast, boots at once) and fake-vmm helpers: recipe
-- errors, check, plan, each probe kind, helpers, hooks, step overrides and
-- the CLI's bad input. Nothing may be left behind after any test.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local FIX = H.root .. "/tests/fixtures/recipes/"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"
local VMM = H.fakes .. "/fake-vmm"

local function fc(_, id, extra)
  local a = { "run", FIX .. "fake-clh.lua", "--progress", "--set", "fake=" .. FAKE, "--set", "vmm=" .. VMM,
              "--set", "id=" .. id }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

local function lines_of(s, prefix)
  local out = {}
  for l in s:gmatch("[^\n]+") do if l:sub(1, #prefix) == prefix then out[#out + 1] = l end end
  return out
end

describe("sandbox lifecycle", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  describe("recipes that are wrong (exit 2, nothing started)", function()
    it("a syntax error names file:line", function()
      local code, _, err = E.vmlua(w, { "run", FIX .. "syntax-error.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("syntax%-error%.lua:4: '}' expected"), err)
    end)

    it("a runtime error names file:line", function()
      local code, _, err = E.vmlua(w, { "check", FIX .. "runtime-error.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("runtime-error.lua:4: the recipe gave up", 1, true), err)
    end)

    it("a recipe must return vmlua.sandbox{}", function()
      local code, _, err = E.vmlua(w, { "plan", FIX .. "returns-table.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("returns-table.lua: must return vmlua.sandbox{...} (it returned table)", 1, true), err)
    end)

    it("a wrong sandbox field names the line and suggests the right one", function()
      local code, _, err = E.vmlua(w, { "run", FIX .. "bad-field.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("bad-field.lua:4: shares[1].tagg: unknown field (did you mean 'tag'?)", 1, true), err)
    end)

    it("a wrong builder field names the line of the builder call", function()
      local code, _, err = E.vmlua(w, { "check", FIX .. "bad-builder.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("bad-builder.lua:6: machine.accell: unknown field (did you mean 'accel'?)", 1, true), err)
    end)

    it("a missing recipe file", function()
      local code, _, err = E.vmlua(w, { "run", w.dir .. "/nope.lua" })
      assert.are.equal(2, code)
      assert.truthy(err:find("cannot read recipe " .. w.dir .. "/nope.lua: No such file or directory", 1, true), err)
    end)

    it("bad --set and --id values", function()
      local code, _, err = E.vmlua(w, { "run", FIX .. "fake-clh.lua", "--set", "novalue" })
      assert.are.equal(2, code)
      assert.truthy(err:find("--set: expected KEY=VALUE, got 'novalue'", 1, true), err)
      code, _, err = E.vmlua(w, fc(w, "x", { "--id", "../etc" }))
      assert.are.equal(2, code)
      assert.truthy(err:find("--id: invalid sandbox id", 1, true), err)
    end)
  end)

  describe("check", function()
    it("reports every missing file and binary at once, naming the recipe line and field", function()
      local code, _, err = E.vmlua(w, { "check", FIX .. "missing-files.lua", "--set", "qemu=/no/qemu" })
      assert.are.equal(2, code)
      local where = "missing-files.lua:6: "
      assert.truthy(err:find(where .. "hypervisor.path: /no/qemu: hypervisor binary not found", 1, true), err)
      assert.truthy(err:find(where .. "hypervisor.kernel.path: stat " .. FIX .. "no/such/vmlinux: No such file or directory", 1, true), err)
      assert.truthy(err:find("hypervisor.kernel.initrd", 1, true), err)
      assert.truthy(err:find(where .. "shares[1].source: stat " .. FIX .. "no/such/dir: No such file or directory", 1, true), err)
    end)

    it("reports a socket path over the sun_path limit", function()
      local long = w.dir .. "/" .. string.rep("r", 90)
      assert(core.fs.mkdir(long))
      local code, _, err = E.vmlua(w, { "check", FIX .. "fake-clh.lua", "--set", "fake=" .. FAKE },
                                   { env = { VMLUA_RUN_DIR = long } })
      assert.are.equal(2, code)
      assert.truthy(err:find("over the 107%-byte sun_path limit"), err)
    end)

    it("passes a good recipe and creates nothing", function()
      local code, out = E.vmlua(w, { "check", FIX .. "fake-clh.lua", "--set", "fake=" .. FAKE })
      assert.are.equal(0, code)
      assert.truthy(out:find("fake-clh.lua: ok (sandbox fc, clh, 1 process)", 1, true), out)
      assert.are.same({}, E.run_dir_entries(w))
    end)
  end)

  describe("probes", function()
    it("serial: the marker in the serial log; hooks run in order", function()
      local code, out, err = E.vmlua(w, fc(w, "ser"))
      assert.are.equal(0, code, err)
      assert.are.same({ "HOOK on_start ser", "HOOK on_ready ser", "HOOK on_exit exited 0" }, lines_of(out, "HOOK"))
    end)

    it("line: a Lua pattern on the hypervisor's output", function()
      local code, _, err = E.vmlua(w, fc(w, "lin", { "--set", "ready=line" }))
      assert.are.equal(0, code, err)
      assert.truthy(err:find('line probe (pattern ^cloud%-hypervisor', 1, true), err)
    end)

    it("fn: a Lua function polled until it says yes", function()
      local code, _, err = E.vmlua(w, fc(w, "fun", { "--set", "ready=fn" }))
      assert.are.equal(0, code, err)
      assert.truthy(err:find("fn probe passed", 1, true), err)
    end)

    it("socket: a helper's socket that appears after 150 ms", function()
      local code, _, err = E.vmlua(w, fc(w, "sock", { "--set", "helper=socket" }))
      assert.are.equal(0, code, err)
      assert.truthy(err:find("slowsock: socket probe (" .. w.run .. "/sock/helper.sock) passed", 1, true), err)
    end)
  end)

  describe("helpers", function()
    it("a helper that exits during start fails the start at once, with its output", function()
      local t0 = core.monotonic()
      local code, out, err = E.vmlua(w, fc(w, "hx", { "--set", "helper=exit" }))
      assert.are.equal(1, code)
      assert.truthy(core.monotonic() - t0 < 4) -- not the probe's 5 s timeout
      assert.truthy(err:find("quitter exited with status 3", 1, true), err)
      assert.truthy(err:find("quitter: cannot start", 1, true), err)
      assert.are.same({ "HOOK on_start hx", "HOOK on_failure ready: socket probe (" .. w.run .. "/hx/never.sock) failed after" },
                      { lines_of(out, "HOOK")[1], (lines_of(out, "HOOK")[2] or ""):match("^(.-) %d") })
      assert.are.equal("failed", E.state(w, "hx").status)
    end)

    it("a helper is stopped with what it forked: run returns once its child is gone too", function()
      local code, _, err = E.vmlua(w, fc(w, "fk", { "--set", "helper=forks" }))
      assert.are.equal(0, code, err)
      local member = assert(tonumber(H.read(w.run .. "/fk/member.pid")))
      local stat = H.read(("/proc/%d/stat"):format(member)) -- nil once reaped
      assert.truthy(not stat or stat:match("^%d+ %b() ([ZX])"), stat)
      assert.truthy(err:find("forker", 1, true), err)
      local st = E.state(w, "fk")
      assert.are.same({ how = "exited", code = 0 }, { how = st.processes.forker.exit.how,
                                                       code = st.processes.forker.exit.code })
      assert.truthy(st.processes.forker.exit.seconds >= 0.3, st.processes.forker.exit.seconds)
    end)

    it("on_helper_exit returning true keeps the sandbox running", function()
      local r = E.start(w, fc(w, "hk", { "--set", "helper=keep", "--set", "keep=1" }))
      assert.is_true(E.wait_text(r.out, "HOOK on_helper_exit shortlived exited 0", 30))
      assert.is_true(r:signal("SIGTERM"))
      local code, out, err = r:finish(30)
      assert.are.equal(0, code, err)
      assert.truthy(out:find("HOOK on_exit exited 0", 1, true))
    end)
  end)

  it("a reader of vmlua's output that goes away does not kill the supervisor mid-run", function()
    local env = {}
    for k, v in pairs(w.env) do env[k] = v end
    local argv = { H.bin }
    for _, a in ipairs(fc(w, "pipe", { "--set", "keep=1" })) do argv[#argv + 1] = a end
    local p = assert(core.spawn { argv = argv, env = env, stdin = "null", stdout = "pipe", stderr = "stdout" })
    assert.truthy(p.stdout:read_line(30))   -- it is running and writing
    p.stdout:close()                        -- the reader goes away (vmlua run | head -1)
    assert.is_true(E.wait_file(w.run .. "/pipe/state.json", 10))
    local store = assert(core.state.open(w.run))
    local deadline = core.monotonic() + 30
    while (store:load("pipe") or {}).status ~= "running" and core.monotonic() < deadline do
      core.wait({ { exit = p } }, 0.05)
    end
    assert.is_true(p:signal("SIGTERM"))
    local how, code = p:wait(30)
    p:close()
    assert.are.same({ "exited", 0 }, { how, code })
    assert.are.equal("stopped", E.state(w, "pipe").status)
  end)

  it("a recipe can replace a launch step and call the default", function()
    local code, out, err = E.vmlua(w, fc(w, "steps", { "--set", "steps=1" }))
    assert.are.equal(0, code, err)
    assert.are.same({ "STEP wait_ready before", "STEP wait_ready after true" }, lines_of(out, "STEP"))
  end)

  describe("a run dir on a full filesystem", function()
    -- A tmpfs of 64 KiB filled to the last block: the sandbox dir and its
    -- lock fit (no data blocks), state.json does not. Needs root to mount.
    local mnt
    before_each(function()
      assert.are.equal(0, core.getuid(), "this test mounts a tmpfs: run the suite as root")
      mnt = w.dir .. "/full"
      assert(core.fs.mkdir(mnt, tonumber("700", 8)))
      local p = assert(core.spawn { argv = { "mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt } })
      assert.are.same({ "exited", 0 }, { p:wait(10) })
      local f = assert(io.open(mnt .. "/filler", "wb"))
      local chunk = string.rep("x", 4096)
      while f:write(chunk) and f:flush() do end
      f:close()
    end)
    after_each(function()
      local p = core.spawn { argv = { "umount", "-l", mnt } }
      if p then p:wait(10) end
    end)

    it("run -d fails at once when the first state cannot be saved; nothing runs, nothing is left", function()
      local code, out, err = E.vmlua(w, fc(w, "full", { "-d", "--set", "keep=1" }),
                                     { env = { VMLUA_RUN_DIR = mnt .. "/run" } })
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.truthy(err:find("vmlua: cannot save the sandbox's state: state file " .. mnt ..
                             "/run/full/state.json", 1, true), err)
      assert.truthy(err:find("No space left on device", 1, true), err)
      assert.are.same({}, E.strays(w.dir))
      assert.are.same({}, core.fs.list(mnt .. "/run"))
    end)
  end)

  describe("commands on sandboxes that do not exist", function()
    it("inspect, stop, qmp and api exit 2", function()
      for _, args in ipairs({ { "inspect", "nosuch" }, { "stop", "nosuch" } }) do
        local code, _, err = E.vmlua(w, args)
        assert.are.equal(2, code)
        assert.are.equal("vmlua: no sandbox 'nosuch' in " .. w.run .. "\n", err)
      end
      local code, _, err = E.vmlua(w, { "stop", "../x" })
      assert.are.equal(2, code)
      assert.truthy(err:find("invalid sandbox id", 1, true), err)
    end)

    it("ps and gc on an empty run dir", function()
      local code, out = E.vmlua(w, { "ps" })
      assert.are.equal(0, code)
      assert.are.equal("ID                   HYPERVISOR STATUS    PID      UPTIME   PORTS                    RECIPE\n", out)
      code, out = E.vmlua(w, { "gc" })
      assert.are.equal(0, code)
      assert.are.equal("nothing to remove\n", out)
    end)

    it("looking things up never creates the run dir", function()
      local none = w.dir .. "/not-yet"
      for _, args in ipairs({ { "ps" }, { "gc" }, { "inspect", "x" }, { "stop", "x" }, { "qmp", "x", "query-status" } }) do
        E.vmlua(w, args, { env = { VMLUA_RUN_DIR = none } })
        assert.is_false(core.fs.exists(none), table.concat(args, " "))
      end
    end)

    it("a name that is not a command is not loaded as one", function()
      local code, _, err = E.vmlua(w, { "common" })
      assert.are.equal(2, code)
      assert.are.equal("vmlua: unknown command 'common' (see 'vmlua --help')\n", err)
    end)

    it("a run dir that is a symlink is refused", function()
      local link = w.dir .. "/link"
      assert(os.execute("ln -s " .. w.run .. " " .. link)) -- test set-up only
      local code, _, err = E.vmlua(w, { "ps" }, { env = { VMLUA_RUN_DIR = link } })
      assert.are.equal(1, code)
      assert.truthy(err:find("is a symlink", 1, true), err)
    end)
  end)

  describe("the command line", function()
    it("usage errors exit 2", function()
      local cases = {
        { { "run" }, "vmlua: run: missing RECIPE (usage: vmlua run RECIPE" },
        { { "run", "a.lua", "--bogus" }, "vmlua: run: unknown option '--bogus' (see 'vmlua help run')" },
        { { "run", "a.lua", "--timeout", "soon" }, "vmlua: run: option --timeout needs a number >= 0, got 'soon'" },
        { { "ps", "extra" }, "vmlua: ps: unexpected argument 'extra'" },
        { { "frobnicate" }, "vmlua: unknown command 'frobnicate' (see 'vmlua --help')" },
        { { "help", "frobnicate" }, "vmlua: help: unknown command 'frobnicate'" },
      }
      for _, c in ipairs(cases) do
        local code, _, err = E.vmlua(w, c[1])
        assert.are.equal(2, code, table.concat(c[1], " "))
        assert.truthy(err:find(c[2], 1, true), err)
      end
    end)

    it("--help lists every command; help COMMAND shows its options", function()
      local code, out = E.vmlua(w, { "--help" })
      assert.are.equal(0, code)
      for _, c in ipairs({ "run", "plan", "check", "ps", "inspect", "stop", "gc", "qmp", "api", "pause",
                           "resume", "version", "help" }) do
        assert.truthy(out:find("\n  " .. c .. " ", 1, true), c)
      end
      code, out = E.vmlua(w, { "help", "run" })
      assert.are.equal(0, code)
      assert.truthy(out:find("--detach", 1, true))
      code, out = E.vmlua(w, { "stop", "--help" })
      assert.are.equal(0, code)
      assert.truthy(out:find("--force", 1, true))
    end)

    it("version names vmlua, Lua and json-c", function()
      local code, out = E.vmlua(w, { "version" })
      assert.are.equal(0, code)
      assert.truthy(out:match("^vmlua %d+%.%d+%.%d+\nLua 5%.4%.%d+\njson%-c %d+%.%d+"), out)
    end)

    it("a Lua error prints one line; VMLUA_LOG=debug adds the traceback", function()
      local code, _, err = E.vmlua(w, { "check", FIX .. "runtime-error.lua" }, { env = { VMLUA_LOG = "debug" } })
      assert.are.equal(2, code)
      assert.truthy(err:find("stack traceback", 1, true), err)
      code, _, err = E.vmlua(w, { "check", FIX .. "runtime-error.lua" })
      assert.are.equal(2, code)
      assert.is_nil(err:find("stack traceback", 1, true))
    end)
  end)
end)
