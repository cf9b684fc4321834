-- `vmlua exec`, `cp`, `logs`, `console` and `run ... -- CMD` (the executable
-- under test) without a VM: a sandbox state written into a temp
-- VMLUA_RUN_DIR whose guest agent is the fake (tests/support/fake_qga_server.lua),
-- and whose "hypervisor" is a sleeping process, so that it counts as running.
-- Output, exit statuses, and the message of every bad input. The same
-- commands against the real qemu-ga: tests/e2e/agent_qemu_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"

local run_dir, sleeper

local function vmlua(...)
  return S.vmlua({ ... }, { VMLUA_RUN_DIR = run_dir })
end

local function expect(code, out, err, ...)
  assert.same({ code, out, err }, { vmlua(...) })
end

--- A running sandbox `id` whose agent is the fake at a socket in its dir.
local function sandbox(id, fields)
  local store = assert(core.state.open(run_dir))
  local dir = assert(store:dir_of(id))
  local st = { id = id, hypervisor = "qemu", status = "running", dir = dir, serial_log = dir .. "/serial.log",
               processes = { hypervisor = { pid = sleeper.pid, start_time = sleeper.start_time, log = dir .. "/hv.log",
                                            argv = { "sleep" } } } }
  for k, v in pairs(fields or {}) do st[k] = v end
  if st.agent == nil then
    st.agent = { socket = dir .. "/qga.sock", timeout = 5 }
    S.lua_server("fake_qga_server.lua", { st.agent.socket, "normal" }, dir)
  end
  assert(store:save(id, st))
  return dir
end

before_each(function()
  run_dir = H.tmpdir() .. "/run"
  sleeper = assert(core.spawn { argv = { "sleep", "300" } })
end)

after_each(function()
  sleeper:close()
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

describe("vmlua help for the agent's commands", function()
  it("lists them, with their usage and exit statuses", function()
    local code, out = vmlua("--help")
    assert.equal(0, code)
    for _, line in ipairs {
      "\n  exec      run a command in a sandbox through its guest agent; exit with its status\n",
      "\n  cp        copy a file out of or into a sandbox through its guest agent\n",
      "\n  logs      print a sandbox's serial log (or another of its logs); -f follows it\n",
      "\n  console   attach to a sandbox's serial console (Ctrl-] leaves)\n",
    } do
      assert.truthy(out:find(line, 1, true), line)
    end
    local _, exec_help = vmlua("help", "exec")
    assert.truthy(exec_help:find("usage: vmlua exec ID [--timeout SEC] [--env NAME=VALUE]... [-i] -- CMD [ARG]...",
                                 1, true))
    assert.truthy(exec_help:find("124", 1, true) and exec_help:find("127", 1, true))
    local _, run_help = vmlua("help", "run")
    assert.truthy(run_help:find("[-- CMD [ARG]...]", 1, true))
  end)
end)

describe("vmlua exec", function()
  it("prints the command's stdout and stderr and exits with its status", function()
    sandbox("a")
    expect(3, "out:", "err", "exec", "a", "--", "sh", "-c", "3")
    expect(0, "out:", "err", "exec", "a", "sh", "-c", "0")
  end)

  it("maps what the agent says to 127, 126, 128+N, 124 and 125 (with what came)", function()
    sandbox("a")
    local code, out, err = vmlua("exec", "a", "missing")
    assert.same({ 127, "" }, { code, out })
    assert.truthy(err:find("vmlua: exec: 'missing': not found in the guest", 1, true), err)
    code = vmlua("exec", "a", "noexec")
    assert.equal(126, code)
    expect(137, "", "", "exec", "a", "signal")
    expect(124, "", "vmlua: exec: 'sleep' did not finish within 0.2 s (killed in the guest)\n",
           "exec", "a", "--timeout", "0.2", "sleep")
    code, out, err = vmlua("exec", "a", "cut")
    assert.same({ 125, string.rep("x", 1000) }, { code, out })
    assert.truthy(err:find("its stdout was over the guest agent's 16 MiB output cap", 1, true), err)
  end)

  it("is 2 for usage errors: no ID, no CMD, a bad --env, an unknown sandbox, one without an agent", function()
    expect(2, "", "vmlua: exec: missing ID (usage: vmlua exec ID [--timeout SEC] [--env NAME=VALUE]... [-i] -- CMD "
                  .. "[ARG]...)\n", "exec")
    expect(2, "", "vmlua: exec: missing CMD (usage: vmlua exec ID [--timeout SEC] [--env NAME=VALUE]... [-i] -- CMD "
                  .. "[ARG]...)\n", "exec", "a")
    expect(2, "", "vmlua: exec: --env: expected NAME=VALUE, got '1X=2'\n", "exec", "--env", "1X=2", "a", "true")
    expect(2, "", "vmlua: no sandbox 'nope' in " .. run_dir .. "\n", "exec", "nope", "true")
    sandbox("plain", { agent = false })
    expect(2, "", "vmlua: sandbox 'plain' has no guest agent: add agent = true to its recipe\n",
           "exec", "plain", "true")
  end)

  it("is 125 for a sandbox that is not running, and for an agent that does not answer", function()
    sandbox("a")
    local store = assert(core.state.open(run_dir))
    local st = assert(store:load("a"))
    st.status = "stopped"
    assert(store:save("a", st))
    expect(125, "", "vmlua: sandbox 'a' is not running (status: stopped)\n", "exec", "a", "true")
    local dir = assert(store:dir_of("b"))
    S.lua_server("fake_qga_server.lua", { dir .. "/qga.sock", "silent" }, dir)
    sandbox("b", { agent = { socket = dir .. "/qga.sock", timeout = 0.3 } })
    local code, _, err = vmlua("exec", "b", "true")
    assert.equal(125, code)
    assert.truthy(err:find("no answer to guest-sync-delimited from " .. dir .. "/qga.sock within 0.3 s\nhint: is "
                           .. "qemu-ga in the guest", 1, true), err)
  end)
end)

describe("vmlua cp", function()
  it("copies a file in and out, to a directory and to stdout", function()
    sandbox("a")
    local local_file = H.tmpdir() .. "/f.txt"
    H.write(local_file, "payload\n")
    expect(0, "", "", "cp", local_file, "a:/tmp/")
    expect(0, "payload\n", "", "cp", "a:/tmp/f.txt", "-")
    local dst = H.tmpdir()
    expect(0, "", "", "cp", "a:/etc/hostname", dst)
    assert.equal("fakeguest\n", H.read(dst .. "/hostname"))
  end)

  it("a guest file that does not exist is 1 and leaves nothing", function()
    sandbox("a")
    local dst = H.tmpdir()
    expect(1, "", "vmlua: cp: a:/nope: qga: guest-file-open: failed to open file '/nope' (mode: 'r'): No such file "
                  .. "or directory\n", "cp", "a:/nope", dst .. "/x")
    assert.same({}, core.fs.list(dst))
  end)

  it("is 2 without exactly one ID:PATH, or with a relative guest path", function()
    expect(2, "", "vmlua: cp: one of SRC and DST must be ID:PATH (a guest path; a local file with a colon: ./a:b)\n",
           "cp", "/x", "/y")
    expect(2, "", "vmlua: cp: copy between the host and a guest: only one of SRC and DST is ID:PATH\n",
           "cp", "a:/x", "b:/y")
    expect(2, "", "vmlua: cp: a:x: the guest path must be absolute (a:/...)\n", "cp", "a:x", "/y")
  end)
end)

describe("vmlua logs and console", function()
  it("logs prints the serial log, the hypervisor's output, and names the helpers it has", function()
    local dir = sandbox("a")
    H.write(dir .. "/serial.log", "line one\nline two\n")
    H.write(dir .. "/hv.log", "qemu says\n")
    expect(0, "line one\nline two\n", "", "logs", "a")
    expect(0, "qemu says\n", "", "logs", "a", "--hypervisor")
    expect(2, "", "vmlua: logs: sandbox 'a' has no helper 'x' (it has: none)\n", "logs", "a", "--helper", "x")
    expect(2, "", "vmlua: logs: give one of --serial, --hypervisor, --helper NAME, --supervisor\n",
           "logs", "a", "--serial", "--hypervisor")
  end)

  it("console without a console socket says why (2)", function()
    sandbox("a", { console_note = "cloud-hypervisor writes the serial port to a file or serves it on a socket" })
    expect(2, "", "vmlua: console: sandbox 'a' has no console socket: cloud-hypervisor writes the serial port to a "
                  .. "file or serves it on a socket\n", "console", "a")
  end)
end)

describe("vmlua run RECIPE -- CMD", function()
  it("needs the '--' for a command, and runs none with -d", function()
    local recipe = H.root .. "/tests/fixtures/recipes/fake-clh.lua"
    expect(2, "", "vmlua: run: unexpected argument 'true' (a command to run goes after '--')\n",
           "run", recipe, "true")
    expect(2, "", "vmlua: run: -d runs no command: start with -d, then use 'vmlua exec'\n",
           "run", "-d", recipe, "--", "true")
    local code, _, err = vmlua("run", recipe, "--set", "fake=/bin/true", "--", "true")
    assert.equal(2, code)
    assert.truthy(err:find("a command to run in the sandbox needs its guest agent: add agent = true to ", 1, true))
  end)
end)
