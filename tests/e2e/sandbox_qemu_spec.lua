-- End to end: the vmlua executable boots the guest kit under the real QEMU
-- (TCG) with the real virtiofsd. After every test nothing of the test may
-- still run, no socket may remain, and `vmlua gc` must leave the run dir
-- empty.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/e2e/recipes/guest.lua"

local function run_args(w, extra)
  local args = { "run", RECIPE, "--progress", "--set", "share=" .. w.share }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

local function assert_clean(w) assert.are.same({}, E.leftovers(w)) end

describe("vmlua run (QEMU, real guest)", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("boots to ready, shares a folder both ways and stops by powerdown", function()
    local code, out, err = E.vmlua(w, run_args(w, { "--set", "id=boot" }))
    assert.are.equal(0, code, err)
    assert.truthy(out:find("READY boot", 1, true))
    assert.truthy(out:find("EXIT exited 0", 1, true))
    -- guest -> host: the file the guest wrote into the share
    local hello = E.read(w.share .. "/hello-from-guest.txt")
    assert.truthy(hello:find("hello from the vmlua guest", 1, true))
    local st = E.state(w, "boot")
    assert.are.equal("stopped", st.status)
    assert.are.equal("powerdown", st.stop.step)
    assert.are.same({ how = "exited", code = 0 }, st.exit)
    assert.truthy(st.ready_seconds > 0)
    assert_clean(w)
  end)

  it("sees a file the host writes: the guest powers off on request and run exits 0", function()
    local r = E.start(w, run_args(w, { "--set", "id=rt", "--set", "keep=1" }))
    assert.is_true(E.wait_text(r.out, "READY rt", 90))
    -- host -> guest: the guest watches its share for this file
    H.write(w.share .. "/poweroff-request", "now\n")
    local code, out, err = r:finish(60)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("EXIT exited 0", 1, true))
    local st = E.state(w, "rt")
    assert.are.equal("stopped", st.status)
    assert.are.equal("guest poweroff", st.stop.step)
    assert_clean(w)
  end)

  it("runs the stop policy on SIGTERM and exits 0", function()
    local r = E.start(w, run_args(w, { "--set", "id=term", "--set", "keep=1" }))
    assert.is_true(E.wait_text(r.out, "READY term", 90))
    assert.is_true(r:signal("SIGTERM"))
    local code, _, err = r:finish(60)
    assert.are.equal(0, code, err)
    local st = E.state(w, "term")
    assert.are.equal("stopped", st.status)
    assert.are.equal("powerdown", st.stop.step)
    assert_clean(w)
  end)

  it("skips to kill on a second signal", function()
    local r = E.start(w, run_args(w, { "--set", "id=twice", "--set", "keep=1",
                                       "--set", "stop=term", "--set", "grace=60" }))
    assert.is_true(E.wait_text(r.out, "READY twice", 90))
    -- a QEMU that cannot react: stopped, SIGTERM stays pending for 60 s
    local st = E.state(w, "twice")
    assert.is_true(core.kill(st.pid, "SIGSTOP"))
    assert.is_true(r:signal("SIGINT"))
    assert.is_true(E.wait_text(r.err, "term sent", 10))
    local t0 = core.monotonic()
    assert.is_true(r:signal("SIGINT"))
    local code, _, err = r:finish(30)
    assert.truthy(core.monotonic() - t0 < 10)
    assert.are.equal(1, code)
    assert.truthy(err:find("killed by SIGKILL", 1, true), err)
    st = E.state(w, "twice")
    assert.are.equal("stopped", st.status)
    assert.are.equal("kill", st.stop.step)
    assert.are.same({ how = "killed", code = 9 }, st.exit)
    assert_clean(w)
  end)

  it("is interrupted by Ctrl-C during boot: exit 1, nothing left", function()
    local r = E.start(w, run_args(w, { "--set", "id=intr", "--set", "marker=none", "--set", "timeout=60" }))
    assert.is_true(E.wait_text(r.err, "qemu-system-x86_64 started", 30))
    assert.is_true(r:signal("SIGINT"))
    local code, _, err = r:finish(60)
    assert.are.equal(1, code)
    assert.truthy(err:find("interrupted by SIGINT", 1, true), err)
    assert.are.equal("failed", E.state(w, "intr").status)
    assert_clean(w)
  end)

  it("reports a guest that never becomes ready: the probe, the time and the serial tail", function()
    local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=never", "--set", "want=NEVER-PRINTED",
                                                   "--set", "timeout=8" }))
    assert.are.equal(1, code)
    assert.truthy(err:find('serial probe ("NEVER-PRINTED") did not pass within 8', 1, true), err)
    assert.truthy(err:find("--- serial log (last lines) ---", 1, true), err)
    assert.truthy(err:find("VMLUA-GUEST-READY", 1, true), err) -- the guest's own marker is in the tail
    assert.truthy(err:find("hint: the test guest prints its marker", 1, true), err)
    -- SeaBIOS's ESC c ESC [ 2 J would clear the message on a terminal: none of it is shown or stored
    assert.truthy(err:find("\nSeaBIOS (version", 1, true), err)
    assert.falsy(err:find("[%z\1-\8\11-\31\127]"), err)
    local st = E.state(w, "never")
    assert.falsy(st.error:find("[%z\1-\8\11-\31\127]"), st.error)
    assert.are.equal("failed", st.status)
    assert_clean(w)
  end)

  it("fails at once when QEMU rejects an argument, with QEMU's message", function()
    local t0 = core.monotonic()
    local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=badarg", "--set", "extra=-no-such-option" }))
    assert.are.equal(1, code)
    assert.truthy(core.monotonic() - t0 < 20)
    assert.truthy(err:find("hypervisor exited with status 1", 1, true), err)
    assert.truthy(err:find("-no-such-option: invalid option", 1, true), err)
    assert_clean(w)
  end)

  it("refuses a missing virtiofsd before starting anything (exit 2)", function()
    local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=novfs", "--set", "virtiofsd=/nonexistent/virtiofsd" }))
    assert.are.equal(2, code)
    assert.truthy(err:find("/nonexistent/virtiofsd", 1, true), err)
    assert.are.same({}, E.strays(w.dir))
    assert.is_nil(E.state(w, "novfs"))
    assert_clean(w)
  end)

  describe("detached", function()
    it("returns once ready; ps shows it; stop stops it", function()
      local code, out, err = E.vmlua(w, run_args(w, { "--set", "id=det", "--set", "keep=1", "--detach" }))
      assert.are.equal(0, code, err)
      assert.are.equal("det\n", out)
      local st = E.state(w, "det")
      assert.are.equal("running", st.status)
      assert.is_true(core.proc.alive(st.supervisor.pid, st.supervisor.start_time))

      local pcode, ps = E.vmlua(w, { "ps" })
      assert.are.equal(0, pcode)
      assert.truthy(ps:find("det%s+qemu%s+running%s+" .. st.pid))

      local jcode, json = E.vmlua(w, { "ps", "--json" })
      assert.are.equal(0, jcode)
      local rows = core.json.decode(json)
      assert.are.equal("det", rows[1].id)
      assert.are.equal("running", rows[1].status)

      local icode, inspect = E.vmlua(w, { "inspect", "det" })
      assert.are.equal(0, icode)
      assert.are.equal("running", core.json.decode(inspect).status)

      local scode, sout, serr = E.vmlua(w, { "stop", "det" })
      assert.are.equal(0, scode, serr)
      assert.truthy(sout:find("det stopped: powerdown", 1, true), sout)
      assert.is_false(core.proc.alive(st.supervisor.pid, st.supervisor.start_time))
      assert_clean(w)
    end)

    it("refuses a second run with the same id, naming the running pid", function()
      local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=dup", "--set", "keep=1", "-d" }))
      assert.are.equal(0, code, err)
      local st = E.state(w, "dup")
      local code2, _, err2 = E.vmlua(w, run_args(w, { "--set", "id=dup", "--set", "keep=1" }))
      assert.are.equal(1, code2)
      assert.are.equal(string.format("vmlua: sandbox 'dup' is already running (pid %d)\n", st.supervisor.pid), err2)
      assert.are.equal("running", E.state(w, "dup").status)
      assert.are.equal(0, (E.vmlua(w, { "stop", "dup" })))
      assert_clean(w)
    end)

    it("stops from the state file when the supervisor was SIGKILLed", function()
      local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=orphan", "--set", "keep=1", "-d" }))
      assert.are.equal(0, code, err)
      local st = E.state(w, "orphan")
      local sup = assert(core.proc.attach(st.supervisor.pid, st.supervisor.start_time))
      assert.is_true(sup:signal("SIGKILL"))
      sup:wait(10)
      sup:close()
      -- the VM and virtiofsd keep running without their supervisor
      assert.is_true(core.proc.alive(st.pid, st.processes.hypervisor.start_time))
      local _, ps = E.vmlua(w, { "ps" })
      assert.truthy(ps:find("orphan%s+qemu%s+running"), ps)
      local scode, sout, serr = E.vmlua(w, { "stop", "orphan" })
      assert.are.equal(0, scode, serr)
      assert.truthy(sout:find("orphan stopped: powerdown", 1, true), sout)
      assert.is_false(core.proc.alive(st.pid, st.processes.hypervisor.start_time))
      assert_clean(w)
    end)

    it("gc removes stopped sandboxes and never touches a live one", function()
      assert.are.equal(0, (E.vmlua(w, run_args(w, { "--set", "id=live", "--set", "keep=1", "-d" }))))
      -- a finished one, and a dead one (state says running, processes gone)
      assert.are.equal(0, (E.vmlua(w, run_args(w, { "--set", "id=done" }))))
      local store = assert(core.state.open(w.run))
      assert(store:save("ghost", { id = "ghost", status = "running", hypervisor = "qemu",
                                  supervisor = { pid = 1, start_time = 1 }, processes = {} }))
      local _, ps = E.vmlua(w, { "ps" })
      assert.truthy(ps:find("ghost%s+qemu%s+dead"), ps)
      local code, out = E.vmlua(w, { "gc" })
      assert.are.equal(0, code)
      assert.truthy(out:find("removed done", 1, true))
      assert.truthy(out:find("removed ghost", 1, true))
      assert.are.same({ "live" }, E.run_dir_entries(w))
      assert.are.equal("running", E.state(w, "live").status)
      assert.are.equal(0, (E.vmlua(w, { "stop", "live" })))
      assert_clean(w)
    end)
  end)

  it("the shipped recipes boot: qemu-demo shows the guest's file, qemu-microvm comes up", function()
    local code, out, err = E.vmlua(w, { "run", H.root .. "/scripts/recipes/qemu-demo.lua", "--set", "id=demo",
                                        "--set", "share=" .. w.share, "--set", "guest=" .. H.guest })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("--- " .. w.share .. "/hello-from-guest.txt (written by the guest) ---\nhello from the vmlua guest",
                           1, true), out)
    assert.are.equal("powerdown", E.state(w, "demo").stop.step)
    code, out, err = E.vmlua(w, { "run", H.root .. "/scripts/recipes/qemu-microvm.lua", "--set", "id=micro2",
                                  "--set", "share=" .. w.share, "--set", "guest=" .. H.guest })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("micro2 is ready", 1, true), out)
    assert_clean(w)
  end)

  it("runs the recipe of PRODUCT.md verbatim (paths relative to the recipe's directory)", function()
    -- the recipe, with guest/ and share/ next to it
    H.write(w.dir .. "/recipe.lua", H.read(H.root .. "/tests/fixtures/recipes/product-example.lua"))
    assert(core.fs.mkdir(w.dir .. "/guest"))
    H.write(w.dir .. "/guest/vmlinuz", H.read(H.guest .. "/vmlinuz"))
    H.write(w.dir .. "/guest/initrd.gz", H.read(H.guest .. "/initrd.gz"))
    local r = E.start(w, { "run", w.dir .. "/recipe.lua", "--set", "id=product" })
    assert.is_true(E.wait_text(r.out, "product is up", 90))
    assert.is_true(r:signal("SIGTERM"))
    local code, _, err = r:finish(60)
    assert.are.equal(0, code, err)
    assert.are.equal("powerdown", E.state(w, "product").stop.step)
    assert_clean(w)
  end)

  it("is ready by QMP run state, or by a Lua function, as the recipe asks", function()
    local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=byqmp", "--set", "ready=qmp" }))
    assert.are.equal(0, code, err)
    assert.truthy(err:find('qmp probe (state running) passed', 1, true), err)
    os.remove(w.share .. "/hello-from-guest.txt") -- the fn probe waits for the next boot's file
    code, _, err = E.vmlua(w, run_args(w, { "--set", "id=byfn", "--set", "ready=fn" }))
    assert.are.equal(0, code, err)
    assert.truthy(err:find("fn probe passed", 1, true), err)
    assert.truthy(H.read(w.share .. "/hello-from-guest.txt"))
    assert_clean(w)
  end)

  it("boots microvm too", function()
    local code, out, err = E.vmlua(w, run_args(w, { "--set", "id=micro", "--set", "machine=microvm" }))
    assert.are.equal(0, code, err)
    assert.truthy(out:find("READY micro", 1, true))
    assert.are.equal("powerdown", E.state(w, "micro").stop.step)
    assert_clean(w)
  end)

  it("tells systemd READY=1 and STOPPING=1 through NOTIFY_SOCKET", function()
    local sock = w.dir .. "/notify.sock"
    local recv = assert(core.spawn { argv = { H.fakes .. "/dgram_recv", sock, "2" }, stdout = "pipe" })
    assert.are.equal("ready", recv.stdout:read_line(10))
    local code, _, err = E.vmlua(w, run_args(w, { "--set", "id=notify" }), { env = { NOTIFY_SOCKET = sock } })
    assert.are.equal(0, code, err)
    local got = {}
    for _ = 1, 2 do got[#got + 1] = recv.stdout:read_line(10) end
    recv:close()
    assert.are.same({ "READY=1", "STOPPING=1" }, got)
    assert_clean(w)
  end)
end)
