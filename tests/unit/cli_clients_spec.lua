-- `vmlua qmp`, `vmlua api`, `vmlua pause`, `vmlua resume` (the executable
-- under test) against the fake QMP server and the fake cloud-hypervisor,
-- reached with --socket or through a sandbox state written into a temp
-- VMLUA_RUN_DIR: output, exit codes and the message of every bad input.
-- The same commands against the real QEMU: tests/e2e/cli_qemu_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"

local run_dir

--- Write a sandbox state as the supervisor does.
local function sandbox(id, hypervisor, socket, proc)
  local store = assert(core.state.open(run_dir))
  local st = { id = id, hypervisor = hypervisor, control_socket = socket, status = "running" }
  if proc then st.processes = { hypervisor = { pid = proc.pid, start_time = proc.start_time } } end
  assert(store:save(id, st))
end

local function vmlua(...)
  return S.vmlua({ ... }, { VMLUA_RUN_DIR = run_dir })
end

--- Run and check: exit code, stdout, stderr.
local function expect(code, out, err, ...)
  local c, o, e = vmlua(...)
  assert.same({ code, out, err }, { c, o, e })
end

before_each(function()
  run_dir = H.tmpdir() .. "/run"
end)

after_each(function()
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

describe("vmlua help for the control commands", function()
  it("lists them and describes each", function()
    local code, out = vmlua("--help")
    assert.equal(0, code)
    assert.matches("\n  qmp       send one QMP command to a QEMU sandbox and print the reply\n", out, 1, true)
    assert.matches("\n  api       send one REST call to a cloud%-hypervisor sandbox and print the reply\n", out)
    assert.matches("\n  pause     pause a sandbox's VM %(cloud%-hypervisor: vm%.pause; QEMU: QMP stop%)\n", out)
    assert.matches("\n  resume    resume a paused VM %(cloud%-hypervisor: vm%.resume; QEMU: QMP cont%)\n", out)
    local usages = {
      qmp = "usage: vmlua qmp {ID | --socket PATH} COMMAND [JSON-ARGS]\n",
      api = "usage: vmlua api {ID | --socket PATH} ENDPOINT [JSON-BODY]\n",
      pause = "usage: vmlua pause {ID | --socket PATH --hypervisor clh|qemu}\n",
      resume = "usage: vmlua resume {ID | --socket PATH --hypervisor clh|qemu}\n",
    }
    for name, usage in pairs(usages) do
      local c, o, e = vmlua("help", name)
      assert.same({ 0, "" }, { c, e })
      assert.equal(usage, o:sub(1, #usage))
      assert.truthy(o:find("--socket PATH", 1, true))
      assert.truthy(o:find("--timeout SEC", 1, true))
      assert.truthy(o:find("Exit status:", 1, true))
    end
    local _, api_help = vmlua("help", "api")
    assert.truthy(api_help:find("vm.add-generic-vhost-user*", 1, true))
  end)
end)

describe("vmlua qmp (fake QMP server)", function()
  it("prints the reply as pretty JSON, by --socket and by ID", function()
    local path = S.fake_qmp("normal")
    expect(0, '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n', "", "qmp", "--socket", path, "echo", '{"a":1,"b":[true]}')
    expect(0, "{}\n", "", "qmp", "--socket", path, "echo")
    sandbox("q1", "qemu", path)
    expect(0, '{\n  "x": "y"\n}\n', "", "qmp", "q1", "echo", '{"x":"y"}')
    expect(0, "{}\n", "", "qmp", "q1", "--timeout", "5", "echo", "{}")
  end)

  it("exits 1 with QEMU's error", function()
    local path = S.fake_qmp("normal")
    expect(1, "", "vmlua: QMP error GenericError: it failed\n", "qmp", "--socket", path, "fail")
    -- the fake has no query-commands either: no suggestion, QEMU's message
    expect(1, "", "vmlua: QMP error CommandNotFound: The command nope has not been found\n",
           "qmp", "--socket", path, "nope")
  end)

  it("exits 2 for malformed or misplaced JSON-ARGS and missing or extra arguments", function()
    local path = S.fake_qmp("normal")
    expect(2, "", "vmlua: qmp: JSON-ARGS is not valid JSON: json: unexpected end of data at offset 6\n",
           "qmp", "--socket", path, "echo", '{"id":')
    expect(2, "", "vmlua: qmp: JSON-ARGS must be a JSON object, got an array\n",
           "qmp", "--socket", path, "echo", "[1]")
    expect(2, "", "vmlua: qmp: JSON-ARGS must be a JSON object, got a string\n",
           "qmp", "--socket", path, "echo", '"x"')
    expect(2, "", "vmlua: qmp: missing COMMAND (usage: vmlua qmp ID COMMAND [JSON-ARGS])\n",
           "qmp", "--socket", path)
    expect(2, "", "vmlua: qmp: unexpected argument 'more' (JSON-ARGS is one argument)\n",
           "qmp", "--socket", path, "echo", "{}", "more")
    expect(2, "", "vmlua: qmp: missing ID (or --socket PATH)\n", "qmp")
    expect(2, "", "vmlua: qmp: option --timeout needs a number >= 0, got 'soon'\n",
           "qmp", "--socket", path, "--timeout", "soon", "echo")
  end)

  it("exits 1 on a server that never greets, within --timeout", function()
    local path = S.fake_qmp("silent")
    local t0 = core.monotonic()
    local code, out, err = vmlua("qmp", "--socket", path, "--timeout", "0.3", "query-status")
    assert.same({ 1, "" }, { code, out })
    assert.equal("vmlua: qmp: no greeting from " .. path .. " within 0.3 s (QEMU serves one QMP client at a "
                 .. "time: is another client connected?)\n", err)
    assert.is_true(core.monotonic() - t0 < 5)
  end)

  it("exits 1 on a socket that closes at once and on a command that is never answered", function()
    local path = S.fake_qmp("close")
    expect(1, "", "vmlua: qmp: " .. path .. " closed the connection before the greeting\n",
           "qmp", "--socket", path, "query-status")
    local path2 = S.fake_qmp("normal")
    expect(1, "", "vmlua: qmp: no reply to 'hang' within 0.2 s\n", "qmp", "--socket", path2, "--timeout", "0.2", "hang")
  end)

  it("exits 1 for a socket that does not exist, naming the sandbox's status", function()
    local dir = H.tmpdir()
    expect(1, "", "vmlua: qmp: connect " .. dir .. "/qmp.sock: No such file or directory\n",
           "qmp", "--socket", dir .. "/qmp.sock", "query-status")
    sandbox("gone", "qemu", dir .. "/qmp.sock")
    expect(1, "", "vmlua: qmp: connect " .. dir .. "/qmp.sock: No such file or directory (sandbox 'gone' status: dead)\n",
           "qmp", "gone", "query-status")
    expect(1, "", "vmlua: qmp: connect " .. dir .. "/qmp.sock: No such file or directory (sandbox 'gone' status: dead)\n",
           "pause", "gone")
  end)

  it("exits 2 for an unknown or invalid sandbox, a sandbox of the other kind, a bad --hypervisor", function()
    expect(2, "", "vmlua: no sandbox 'ghost' in " .. run_dir .. "\n", "qmp", "ghost", "query-status")
    expect(2, "", "vmlua: invalid sandbox id '../x': use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit\n",
           "qmp", "../x", "query-status")
    sandbox("c1", "clh", "/nonexistent/api.sock")
    expect(2, "", "vmlua: qmp: sandbox 'c1' runs cloud-hypervisor, not QEMU: use 'vmlua api'\n",
           "qmp", "c1", "query-status")
    expect(2, "", "vmlua: qmp: cloud-hypervisor speaks no QMP: use 'vmlua api'\n",
           "qmp", "--socket", "/x.sock", "--hypervisor", "clh", "query-status")
    expect(2, "", "vmlua: qmp: --hypervisor must be clh or qemu, got 'kvm'\n",
           "qmp", "--socket", "/x.sock", "--hypervisor", "kvm", "query-status")
    expect(2, "", "vmlua: qmp: --hypervisor goes with --socket (a sandbox's state names its hypervisor)\n",
           "qmp", "c1", "--hypervisor", "qemu", "query-status")
    expect(2, "", "vmlua: qmp: --socket needs a path\n", "qmp", "--socket=", "query-status")
  end)
end)

describe("vmlua api (fake cloud-hypervisor)", function()
  local function kernel()
    local k = H.tmpdir() .. "/vmlinux"
    H.write(k, "k")
    return k
  end

  it("calls endpoints by REST or method name, prints JSON, nothing for 204", function()
    local path, p = S.fake_clh()
    sandbox("c1", "clh", path, p)
    local cfg = core.json.encode { payload = { kernel = kernel() } }
    expect(0, "", "", "api", "c1", "vm.create", cfg)
    local code, out, err = vmlua("api", "c1", "vm.info")
    assert.same({ 0, "" }, { code, err })
    assert.equal("Created", core.json.decode(out).state)
    assert.truthy(out:find('\n  "state": "Created"', 1, true))
    expect(0, "", "", "api", "c1", "boot")
    code, out = vmlua("api", "--socket", path, "ping")
    assert.equal(0, code)
    assert.equal(p.pid, core.json.decode(out).pid)
    expect(0, "", "", "api", "c1", "/api/v1/vm.nmi")
  end)

  it("pause and resume a cloud-hypervisor sandbox; the wrong state is exit 1", function()
    local path, p = S.fake_clh()
    sandbox("c2", "clh", path, p)
    expect(1, "", "vmlua: vm.pause: 500 Internal Server Error: The VM could not be paused: VM is not running\n",
           "pause", "c2")
    expect(0, "", "", "api", "c2", "vm.create", core.json.encode { payload = { kernel = kernel() } })
    expect(0, "", "", "api", "c2", "vm.boot")
    expect(0, "c2 paused\n", "", "pause", "c2")
    local _, out = vmlua("api", "c2", "info")
    assert.equal("Paused", core.json.decode(out).state)
    expect(0, "c2 resumed\n", "", "resume", "c2")
    expect(0, path .. " paused\n", "", "pause", "--socket", path, "--hypervisor", "clh")
    expect(0, path .. " resumed\n", "", "resume", "--socket", path, "--hypervisor", "clh")
    _, out = vmlua("api", "--socket", path, "vm.info")
    assert.equal("Running", core.json.decode(out).state)
  end)

  it("exits 1 with cloud-hypervisor's error", function()
    local path = S.fake_clh()
    expect(1, "", "vmlua: vm.boot: 404 Not Found: The VM could not boot: VM config is missing\n",
           "api", "--socket", path, "vm.boot")
    expect(1, "", "vmlua: vm.create: 400 Bad Request: Failed to deserialize JSON: missing field `payload`\n",
           "api", "--socket", path, "vm.create", "{}")
  end)

  it("exits 2 for an unknown endpoint (did you mean), a body where none goes, a missing or bad body", function()
    local path = S.fake_clh()
    expect(2, "", "vmlua: api: unknown endpoint 'vm.infoo' (did you mean 'vm.info'?)\n",
           "api", "--socket", path, "vm.infoo")
    expect(2, "", "vmlua: api: unknown endpoint 'vm.powerbutton' (did you mean 'vm.power-button'?)\n",
           "api", "--socket", path, "vm.powerbutton")
    expect(2, "", "vmlua: api: unknown endpoint 'frobnicate' (see 'vmlua help api')\n",
           "api", "--socket", path, "frobnicate")
    expect(2, "", "vmlua: api: vm.boot takes no JSON-BODY\n", "api", "--socket", path, "vm.boot", "{}")
    expect(2, "", "vmlua: api: vm.create needs a JSON-BODY\n", "api", "--socket", path, "vm.create")
    expect(2, "", "vmlua: api: JSON-BODY is not valid JSON: json: unexpected character at offset 0\n",
           "api", "--socket", path, "vm.resize", "desired_vcpus=2")
    expect(2, "", "vmlua: api: JSON-BODY must be a JSON object, got a number\n",
           "api", "--socket", path, "vm.resize", "2")
    expect(2, "", "vmlua: api: missing ENDPOINT (usage: vmlua api ID ENDPOINT [JSON-BODY])\n",
           "api", "--socket", path)
  end)

  it("exits 2 for a sandbox of the other kind and --socket without a kind for pause/resume", function()
    sandbox("q9", "qemu", "/nonexistent/qmp.sock")
    expect(2, "", "vmlua: api: sandbox 'q9' runs QEMU, not cloud-hypervisor: use 'vmlua qmp'\n",
           "api", "q9", "vm.info")
    expect(2, "", "vmlua: api: QEMU speaks no REST API: use 'vmlua qmp'\n",
           "api", "--socket", "/x.sock", "--hypervisor", "qemu", "vm.info")
    expect(2, "", "vmlua: pause: --socket needs --hypervisor clh|qemu\n", "pause", "--socket", "/x.sock")
    expect(2, "", "vmlua: resume: --socket needs --hypervisor clh|qemu\n", "resume", "--socket", "/x.sock")
    expect(2, "", "vmlua: pause: unexpected argument 'extra'\n", "pause", "q9", "extra")
    expect(2, "", "vmlua: resume: missing ID (or --socket PATH)\n", "resume")
  end)

  it("exits 1 within --timeout on an API that never answers, and on a missing socket", function()
    local path = S.fake_clh { FAKE_CLH_HANG_API = "1" }
    local t0 = core.monotonic()
    expect(1, "", "vmlua: vm.info: no complete response within 0.3 s\n",
           "api", "--socket", path, "--timeout", "0.3", "vm.info")
    expect(1, "", "vmlua: vm.resume: no complete response within 0.3 s\n",
           "resume", "--socket", path, "--hypervisor", "clh", "--timeout", "0.3")
    assert.is_true(core.monotonic() - t0 < 10)
    local dir = H.tmpdir()
    expect(1, "", "vmlua: vm.info: connect " .. dir .. "/api.sock: No such file or directory\n",
           "api", "--socket", dir .. "/api.sock", "vm.info")
  end)

  it("exits 1 on a reply that is not JSON", function()
    local path = S.fake_http("not-json")
    local code, out, err = vmlua("api", "--socket", path, "vm.info")
    assert.same({ 1, "" }, { code, out })
    assert.matches("^vmlua: vm%.info: 200 OK with a body that is not JSON %(json: .*%): 'hello, this is not JSON'\n$",
                   err)
  end)
end)
