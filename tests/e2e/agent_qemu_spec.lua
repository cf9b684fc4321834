-- The guest agent end to end: the guest kit's real qemu-ga (Debian's) under
-- real QEMU (TCG) with the real virtiofsd, on q35 and on microvm; `vmlua
-- exec`, `cp`, `logs`, `console`, the one-shot `vmlua run RECIPE -- CMD`,
-- and the faults: a command not found, output over the cap, a timeout, a
-- guest path that does not exist, the agent dying mid-call, the guest
-- powering off during an exec, an agent that never answers. Each describe
-- boots one guest and shares it; nothing may be left behind.
local core = require "vmlua.core"
local E = require "support.e2e"
local H = require "support.h"

local RECIPE = H.root .. "/tests/e2e/recipes/guest.lua"

local function sets(w, id, extra)
  local args = { "--set", "id=" .. id, "--set", "share=" .. w.share, "--set", "keep=1", "--set", "agent=1" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

-- `vmlua run -d` the e2e guest with the agent; asserts it started.
local function start(w, id, extra)
  local args = { "run", "--detach", RECIPE }
  for _, a in ipairs(sets(w, id, extra)) do args[#args + 1] = a end
  local code, out, err = E.vmlua(w, args)
  assert.are.equal(0, code, err)
  assert.are.equal(id .. "\n", out)
end

local function vmlua(w, ...)
  return E.vmlua(w, { ... })
end

local function no_leftovers(w)
  assert.are.same({}, E.leftovers(w))
end

describe("the guest agent on q35", function()
  local w
  setup(function()
    w = E.world()
    start(w, "q", { "--set", "agent_timeout=3" })
  end)
  teardown(function()
    vmlua(w, "stop", "q")
    no_leftovers(w)
    H.cleanup_tmp()
  end)

  it("exec: the command's output and exit status", function()
    assert.are.same({ 3, "hi\n", "oops\n" }, { vmlua(w, "exec", "q", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3") })
    assert.are.same({ 0, "Linux\n", "" }, { vmlua(w, "exec", "q", "uname", "-s") })
  end)

  it("exec: -i passes stdin, --env sets the environment (with a PATH)", function()
    local input = w.dir .. "/input"
    H.write(input, "from the host\n")
    local r = E.start(w, { "exec", "q", "-i", "--", "tr", "a-z", "A-Z" }, { stdin = { file = input } })
    assert.are.same({ 0, "FROM THE HOST\n", "" }, { r:finish() })
    assert.are.same({ 0, "bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", "" },
                    { vmlua(w, "exec", "q", "--env", "FOO=bar", "--", "sh", "-c", "echo $FOO $PATH") })
  end)

  it("exec: 127 for a command the guest cannot find, 126 for one it cannot execute, 128+N for a signal", function()
    local code, out, err = vmlua(w, "exec", "q", "no-such-command")
    assert.are.same({ 127, "" }, { code, out })
    assert.truthy(err:find("vmlua: exec: 'no-such-command': not found in the guest", 1, true), err)
    code, out, err = vmlua(w, "exec", "q", "/etc")
    assert.are.same({ 126, "" }, { code, out })
    assert.truthy(err:find("not executable in the guest", 1, true), err)
    assert.are.same({ 137, "", "" }, { vmlua(w, "exec", "q", "--", "sh", "-c", "kill -9 $$") })
  end)

  it("exec --timeout: 124, and the command is killed in the guest", function()
    local code, _, err = vmlua(w, "exec", "q", "--timeout", "1", "--", "sleep", "300")
    assert.are.equal(124, code)
    assert.are.equal("vmlua: exec: 'sleep' did not finish within 1 s (killed in the guest)\n", err)
    local _, ps = vmlua(w, "exec", "q", "ps")
    assert.is_nil(ps:find("sleep 300", 1, true), ps)
  end)

  it("cp: a file in and out, into a directory, through stdout", function()
    local src = w.dir .. "/src.bin"
    local data = {}
    for i = 1, 70000 do data[i] = string.char(i % 256) .. "x" end
    H.write(src, table.concat(data))
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", src, "q:/tmp/") })
    assert.are.same({ 0, "140000 /tmp/src.bin\n", "" }, { vmlua(w, "exec", "q", "wc", "-c", "/tmp/src.bin") })
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", "q:/tmp/src.bin", w.dir .. "/back.bin") })
    assert.are.equal(table.concat(data), H.read(w.dir .. "/back.bin"))
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", "q:/etc/vmlua-guest-kernel", w.dir) })
    assert.are.equal(H.read(H.guest .. "/kernel-version"), H.read(w.dir .. "/vmlua-guest-kernel"))
    assert.are.same({ 0, H.read(H.guest .. "/kernel-version"), "" }, { vmlua(w, "cp", "q:/etc/vmlua-guest-kernel", "-") })
  end)

  it("cp: a guest path that does not exist is 1, names it, and leaves nothing", function()
    local dst = w.dir .. "/dst"
    assert(core.fs.mkdir(dst))
    local code, out, err = vmlua(w, "cp", "q:/no/such/file", dst .. "/x")
    assert.are.same({ 1, "" }, { code, out })
    assert.are.equal("vmlua: cp: q:/no/such/file: qga: guest-file-open: failed to open file '/no/such/file' "
                     .. "(mode: 'r'): No such file or directory\n", err)
    assert.are.same({}, core.fs.list(dst))
    assert.are.same({ 2, "", "vmlua: cp: q:tmp: the guest path must be absolute (q:/...)\n" },
                    { vmlua(w, "cp", "q:tmp", w.dir) })
    assert.are.same({ 2, "", "vmlua: cp: one of SRC and DST must be ID:PATH (a guest path; a local file with a "
                             .. "colon: ./a:b)\n" }, { vmlua(w, "cp", w.dir .. "/a", w.dir .. "/b") })
  end)

  it("logs: the serial log, the hypervisor's and a helper's output; an unknown helper is 2", function()
    local code, out = vmlua(w, "logs", "q")
    assert.are.equal(0, code)
    assert.truthy(out:find("VMLUA-GUEST-READY", 1, true))
    code, out = vmlua(w, "logs", "q", "--helper", "virtiofsd-vmlua")
    assert.are.equal(0, code)
    assert.truthy(out:find("Waiting for vhost-user socket connection", 1, true), out)
    assert.are.same({ 2, "", "vmlua: logs: sandbox 'q' has no helper 'nope' (it has: virtiofsd-vmlua)\n" },
                    { vmlua(w, "logs", "q", "--helper", "nope") })
    assert.are.equal(0, (vmlua(w, "logs", "q", "--hypervisor")))
  end)

  it("console: talks to the shell on the serial port, and serial.log still gets it", function()
    local input = w.dir .. "/console-input"
    H.write(input, "echo CONSOLE-$((6*7))\n")
    local r = E.start(w, { "console", "q" }, { stdin = { file = input } })
    local code, out, err = r:finish()
    assert.are.equal(0, code, err)
    assert.truthy(out:find("CONSOLE-42", 1, true), out)
    assert.truthy(E.wait_text(w.run .. "/q/serial.log", "CONSOLE-42", 10))
  end)

  it("sandboxes that are unknown or have no agent are usage errors", function()
    assert.are.same({ 2, "", "vmlua: no sandbox 'nope' in " .. w.run .. "\n" }, { vmlua(w, "exec", "nope", "true") })
    assert.are.same({ 2, "", "vmlua: exec: missing CMD (usage: vmlua exec ID [--timeout SEC] [--env NAME=VALUE]... "
                             .. "[-i] -- CMD [ARG]...)\n" }, { vmlua(w, "exec", "q") })
  end)

  it("the agent dying mid-call: 125 within the agent's timeout, with the hint (last: the agent is gone)", function()
    local t0 = core.monotonic()
    -- (the sleep: the agent answers guest-exec first, then dies while polled)
    local code, _, err = vmlua(w, "exec", "q", "--", "sh", "-c", "sleep 0.5; kill -9 $PPID; sleep 1")
    assert.are.equal(125, code)
    assert.truthy(err:find("no answer to guest%-exec%-status from .*%.sock within 3 s\nhint: is qemu%-ga in the "
                           .. "guest"), err)
    assert.is_true(core.monotonic() - t0 < 30)
  end)
end)

describe("the guest agent on microvm", function()
  local w
  setup(function()
    w = E.world()
    -- 30 s a call: under TCG qemu-ga takes seconds to answer with 16 MiB
    start(w, "m", { "--set", "machine=microvm", "--set", "agent_timeout=30" })
  end)
  teardown(function()
    vmlua(w, "stop", "m")
    no_leftovers(w)
    H.cleanup_tmp()
  end)

  it("exec and cp work over virtio-serial on virtio-mmio", function()
    assert.are.same({ 0, "microvm ok\n", "" }, { vmlua(w, "exec", "m", "--", "echo", "microvm", "ok") })
    H.write(w.dir .. "/f", "some bytes")
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", w.dir .. "/f", "m:/tmp/f") })
    assert.are.same({ 0, "some bytes", "" }, { vmlua(w, "cp", "m:/tmp/f", "-") })
  end)

  it("exec: output over the agent's 16 MiB cap says so and exits 125, with what came", function()
    local code, out, err = vmlua(w, "exec", "m", "--", "head", "-c", "17000000", "/dev/zero")
    assert.are.equal(125, code)
    assert.are.equal(16 * 1024 * 1024, #out)
    assert.truthy(err:find("its stdout was over the guest agent's 16 MiB output cap", 1, true), err)
  end)

  it("logs -f follows the serial log until the sandbox stops", function()
    local r = E.start(w, { "logs", "m", "-f" })
    assert.truthy(E.wait_text(r.out, "VMLUA-GUEST-READY", 30))
    assert.are.equal(0, (vmlua(w, "exec", "m", "--", "sh", "-c", "echo FOLLOWED >/dev/console")))
    assert.truthy(E.wait_text(r.out, "FOLLOWED", 30))
    -- the guest powering off during an exec: 125, and the sandbox stops
    local code, _, err = vmlua(w, "exec", "m", "--", "sh", "-c", "/sbin/vmlua-poweroff test & sleep 30")
    assert.are.equal(125, code)
    assert.truthy(err:find("the connection to the guest agent closed while the command ran", 1, true), err)
    assert.are.equal(0, (r:finish(60)))
    assert.truthy(r.stdout:find("powering off (test)", 1, true), r.stdout)
  end)
end)

describe("the guest agent when the supervisor is gone", function()
  local w
  setup(function()
    w = E.world()
    start(w, "g")
  end)
  teardown(function()
    vmlua(w, "stop", "g")
    no_leftovers(w)
    H.cleanup_tmp()
  end)

  it("exec goes to qga.sock itself, and vmlua stop shuts the guest down through it", function()
    local st = E.state(w, "g")
    assert.are.equal(w.run .. "/g/agent.sock", st.agent.relay)
    local sup = assert(core.proc.attach(st.supervisor.pid, st.supervisor.start_time))
    assert.is_true(sup:signal("SIGKILL"))
    assert.truthy(sup:wait(30))
    sup:close()
    assert.are.same({ 0, "still here\n", "" }, { vmlua(w, "exec", "g", "echo", "still", "here") })
    local code, out, err = vmlua(w, "stop", "g")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("g stopped: agent after", 1, true), out)
  end)
end)

describe("vmlua test runs the guest example spec", function()
  after_each(H.cleanup_tmp)

  it("as a user would: it boots the demo guest, execs, copies, and leaves nothing", function()
    local w = E.world()
    local env = { LUA_PATH = false, LUA_CPATH = false, LD_PRELOAD = false, VMLUA_BIN = false }
    local code, out, err = E.vmlua(w, { "test", H.root .. "/tests/e2e/testing_example_spec.lua" },
                                   { env = env, cwd = w.dir, timeout = 300 })
    assert.are.same({ 0, "" }, { code, err }, out)
    assert.truthy(out:find("\n5 successes / 0 failures / 0 errors / 0 pending", 1, true), out)
    assert.are.same({}, E.strays(w.dir))
  end)
end)

describe("one-shot: vmlua run RECIPE -- CMD", function()
  after_each(H.cleanup_tmp)

  it("the demo recipe: prints the command's output and exits with its status", function()
    local w = E.world()
    local code, out, err = vmlua(w, "run", H.root .. "/scripts/recipes/qemu-demo.lua", "--set", "share=" .. w.share,
                                 "--", "sh", "-c", "echo hi; exit 3")
    assert.are.same({ 3, "hi\n" }, { code, out }, err)
    assert.are.equal("stopped", E.state(w, "demo").status)
    no_leftovers(w)
  end)

  it("an agent that never answers: the probe times out with the hint, 125, nothing left", function()
    local w = E.world()
    local args = { "run", RECIPE }
    for _, a in ipairs(sets(w, "na", { "--set", "guest_agent=off", "--set", "ready=serial+agent",
                                       "--set", "agent_ready=3" })) do args[#args + 1] = a end
    args[#args + 1] = "--"
    args[#args + 1] = "true"
    local code, _, err = E.vmlua(w, args)
    assert.are.equal(125, code)
    assert.truthy(err:find("ready: agent probe (guest-sync) did not pass within 3", 1, true), err)
    assert.truthy(err:find("hint: is qemu-ga in the guest, running on the virtio-serial port "
                           .. "org.qemu.guest_agent.0?", 1, true), err)
    no_leftovers(w)
  end)

  it("a recipe without the agent: 2 before anything starts", function()
    local w = E.world()
    local code, out, err = vmlua(w, "run", RECIPE, "--set", "share=" .. w.share, "--", "true")
    assert.are.same({ 2, "" }, { code, out })
    assert.truthy(err:find("a command to run in the sandbox needs its guest agent: add agent = true to ", 1, true),
                  err)
    assert.are.same({}, E.run_dir_entries(w))
  end)
end)
