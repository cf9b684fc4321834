-- The fake cloud-hypervisor itself (tests/fakes/fake-cloud-hypervisor/):
-- its command line, REST API, VM state machine, exits and fault switches.
-- vmlua's cloud-hypervisor path is tested against this fake, so what it
-- answers here is what the real one answers (docs/fakes.md).
local core = require "vmlua.core"
local H = require "support.h"

local FAKE = H.fakes .. "/fake-cloud-hypervisor"
local json = core.json

-- ---- processes ------------------------------------------------------------

local procs = {}

local function spawn(args, env, fds)
  local argv = { FAKE }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local p = assert(core.spawn { argv = argv, env = env, fds = fds, stdout = "pipe", stderr = "pipe" })
  procs[#procs + 1] = p
  return p
end

--- Everything left on a stream once its writer has exited.
local function drain(stream)
  local out = {}
  while true do
    local line = stream:read_line(10)
    if not line then break end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

--- Run the fake to completion: how, code, stderr, stdout.
local function run(args, env)
  local p = spawn(args, env)
  local how, code = p:wait(20)
  return how, code, drain(p.stderr), drain(p.stdout)
end

--- True when nothing arrives on s for t seconds (and it is not closed).
local function quiet(s, t)
  local data, err = s:recv(1, t)
  return data == nil and err == "timeout"
end

local function fd_count(pid)
  return #assert(core.fs.list("/proc/" .. pid .. "/fd"))
end

-- ---- HTTP over the unix socket ---------------------------------------------

local function request_text(method, target, body, headers)
  local t = { method .. " /api/v1/" .. target .. " HTTP/1.1", "Host: localhost" }
  if body then
    t[#t + 1] = "Content-Type: application/json"
    t[#t + 1] = "Content-Length: " .. #body
  end
  for _, h in ipairs(headers or {}) do t[#t + 1] = h end
  return table.concat(t, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local function line_of(s, timeout)
  local line, err = s:read_line(timeout or 10)
  if not line then return nil, err end
  return (line:gsub("\r$", ""))
end

--- One response from s: { status, line, headers, body, json }.
local function read_response(s, timeout)
  local line, err = line_of(s, timeout)
  if not line then return nil, err end
  local r = { line = line, status = tonumber(line:match("^HTTP/1%.1 (%d%d%d) $")), headers = {} }
  while true do
    local h = assert(line_of(s))
    if h == "" then break end
    local k, v = h:match("^([^:]+): (.*)$")
    r.headers[k:lower()] = v
  end
  local n = tonumber(r.headers["content-length"] or "0")
  r.body = n > 0 and assert(s:read(n, 10)) or ""
  if r.body ~= "" and r.headers["content-type"] == "application/json" then
    r.json = json.decode(r.body)
  end
  return r
end

local function encode(body)
  if body == nil or type(body) == "string" then return body end
  return json.encode(body)
end

--- One request on its own connection.
local function call(api, method, target, body, fds)
  local s = assert(core.socket.connect(api, 10))
  local text = request_text(method, target, encode(body))
  if fds then assert(s:send_fds(text, fds)) else assert(s:send(text)) end
  local r = assert(read_response(s))
  s:close()
  return r
end

local function put(api, target, body, fds) return call(api, "PUT", target, body, fds) end
local function get(api, target) return call(api, "GET", target) end

--- The fake's fd count once every earlier client connection is closed on its
-- side too: two round trips on a new connection mean a poll iteration after
-- the one that saw the earlier closes. The new connection is counted.
local function settled_fds(v)
  local s = assert(core.socket.connect(v.api, 10))
  for _ = 1, 2 do
    assert(s:send(request_text("GET", "vmm.ping")))
    assert.equal(200, read_response(s).status)
  end
  local n = fd_count(v.p.pid)
  s:close()
  return n
end

local function state(api)
  local r = get(api, "vm.info")
  return r.status == 200 and r.json.state or r.status
end

-- ---- a fake VMM and a VM config ---------------------------------------------

--- Start the fake with an API socket (and args, where @DIR@ is a fresh
-- directory holding a file "vmlinux" and the files named in opts.files);
-- wait until it listens.
local function vmm(args, env, opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local api = dir .. "/api.sock"
  local kernel = dir .. "/vmlinux"
  H.write(kernel, "not really a kernel")
  for _, f in ipairs(opts.files or {}) do H.write(dir .. "/" .. f, "") end
  local argv = { "--api-socket", api }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = (a:gsub("@DIR@", dir)) end
  local p = spawn(argv, env, opts.fds)
  local i = core.wait({ { socket = api }, { exit = p } }, 20)
  assert.equal(1, i, "the fake did not listen on its API socket")
  return { p = p, dir = dir, api = api, kernel = kernel }
end

local function config(v, extra)
  local c = {
    payload = { kernel = v.kernel, cmdline = "console=ttyS0" },
    serial = { mode = "File", file = v.dir .. "/serial.log" },
    console = { mode = "Off" },
  }
  for k, x in pairs(extra or {}) do c[k] = x end
  return c
end

local function running(v, extra)
  assert.equal(204, put(v.api, "vm.create", config(v, extra)).status)
  assert.equal(204, put(v.api, "vm.boot").status)
  return v
end

local function events(path)
  local out = {}
  for rec in (H.read(path) or ""):gmatch("(%b{})\n\n") do
    local e = json.decode(rec)
    out[#out + 1] = e.source .. " " .. e.event
  end
  return out
end

describe("fake cloud-hypervisor", function()
  after_each(function()
    for _, p in ipairs(procs) do p:close() end
    procs = {}
    H.cleanup_tmp()
  end)

  -- ---- command line ----------------------------------------------------------
  describe("command line", function()
    it("--version prints the two-line form and exits 0", function()
      local how, code, err, out = run { "--version" }
      assert.same({ "exited", 0, "" }, { how, code, err })
      assert.equal("cloud-hypervisor v54.0.0\nMigration Protocol Versions: 0", out)
    end)

    it("-V -v adds the enabled features", function()
      local _, code, _, out = run { "-V", "-v" }
      assert.equal(0, code)
      assert.matches('\nEnabled features: %["io_uring", "kvm"%]$', out)
    end)

    it("FAKE_CLH_VERSION and FAKE_CLH_VERSION_TEXT change what --version says", function()
      local _, _, _, out = run({ "--version" }, { FAKE_CLH_VERSION = "v53.0-246-gae44c2971" })
      assert.equal("cloud-hypervisor v53.0-246-gae44c2971\nMigration Protocol Versions: 0", out)
      _, _, _, out = run({ "--version" }, { FAKE_CLH_VERSION_TEXT = "cloud-hypervisor v0.4.0\n" })
      assert.equal("cloud-hypervisor v0.4.0", out)
    end)

    it("rejects an unknown key with the option parser's error, status 1", function()
      local dir = H.tmpdir()
      local _, code, err = run { "--kernel", dir .. "/k", "--fs", "tag=x,sock=" .. dir .. "/fs.sock" }
      assert.equal(1, code)
      assert.equal(table.concat({
        "Error: Cloud Hypervisor exited with the following chain of errors:",
        "  0: Error parsing config",
        "  1: Error parsing --fs",
        "  2: Unknown option: sock",
      }, "\n"), err:match("Error: .*$"))
      assert.same({}, core.fs.list(dir))
    end)

    it("rejects --cpus 4 (a bare value where key=value is needed)", function()
      local _, code, err = run { "--kernel", "/k", "--cpus", "4" }
      assert.equal(1, code)
      assert.matches("1: Error parsing %-%-cpus\n  2: Unknown option: 4", err)
    end)

    it("rejects the seed's --vsock sock= and a vsock cid below 3", function()
      local _, code, err = run { "--kernel", "/k", "--vsock", "cid=3,sock=/tmp/x.sock" }
      assert.equal(1, code)
      assert.matches("Error parsing %-%-vsock\n  2: Unknown option: sock", err)
      _, code, err = run { "--kernel", "/k", "--vsock", "cid=2,socket=/tmp/x.sock" }
      assert.equal(1, code)
      assert.matches("Error validating configuration\n  2: Invalid vsock CID 2", err)
    end)

    it("rejects bad toggles, sizes and numbers", function()
      local cases = {
        { { "--memory", "size=12X" }, "Unable to convert 12X for size" },
        { { "--disk", "path=/d,readonly=maybe" }, "Unable to convert maybe for readonly" },
        { { "--cpus", "boot=two" }, "Unable to convert two for boot" },
        { { "--cpus", "boot=2,max=1" }, "Max CPUs lower than boot CPUs" },
        { { "--fs", "socket=/s" }, "Error parsing %-%-fs: tag missing" },
        { { "--console", "iommu=on" }, "invalid console mode given" },
        { { "--net", "mac=[1,2" }, "Invalid syntax: mac=%[1,2" },
      }
      for _, c in ipairs(cases) do
        local args = { "--kernel", "/k" }
        for _, a in ipairs(c[1]) do args[#args + 1] = a end
        local _, code, err = run(args)
        assert.equal(1, code, table.concat(args, " "))
        assert.matches(c[2], err)
      end
    end)

    it("needs a payload for any vm-config option: a usage error, status 2", function()
      local _, code, err = run { "--cpus", "boot=1" }
      assert.equal(2, code)
      assert.matches("^error: the following required arguments were not provided:\n" ..
        "  <%-%-firmware <firmware>|%-%-kernel <kernel>>", err)
      assert.matches("For more information, try '%-%-help'%.$", err)
    end)

    it("rejects a single-value option given twice, an unknown flag, extra values", function()
      local _, code, err = run { "--kernel", "/k", "--cpus", "boot=1", "--cpus", "boot=2" }
      assert.equal(2, code)
      assert.matches("the argument '%-%-cpus <cpus>' cannot be used multiple times", err)
      _, code, err = run { "--kernel", "/k", "--sock", "x" }
      assert.equal(2, code)
      assert.matches("unexpected argument '%-%-sock' found", err)
      _, code, err = run { "--kernel", "/k", "--cpus", "boot=1", "boot=2" }
      assert.equal(2, code)
      assert.matches("unexpected argument 'boot=2' found", err)
      _, code, err = run { "--kernel" }
      assert.equal(2, code)
      assert.matches("a value is required for '%-%-kernel <kernel>'", err)
      _, code, err = run { "--seccomp", "maybe" }
      assert.equal(2, code)
      assert.matches("invalid value 'maybe' for '%-%-seccomp <seccomp>'", err)
    end)

    it("hides options of cargo features that are not enabled", function()
      local _, code, err = run { "--igvm", "/x" }
      assert.equal(2, code)
      assert.matches("unexpected argument '%-%-igvm' found", err)
    end)


    it("FAKE_CLH_FEATURES turns on feature-gated options and routes", function()
      local v = vmm({ "--igvm", "@DIR@/vmlinux", "--console", "off" },
        { FAKE_CLH_FEATURES = "io_uring,kvm,igvm,guest_debug" })
      assert.equal("Running", state(v.api))
      assert.same({ "guest_debug", "igvm", "io_uring", "kvm" }, get(v.api, "vmm.ping").json.features)
      assert.equal(204, put(v.api, "vm.pause").status)
      local core_file = v.dir .. "/guest.core"
      assert.equal(204, put(v.api, "vm.coredump", { destination_url = "file://" .. core_file }).status)
      assert.is_true(core.fs.exists(core_file))
    end)

    it("takes several values after a multi option, and the flag repeated", function()
      local v = vmm({ "--kernel", "@DIR@/vmlinux", "--disk", "path=@DIR@/a", "path=@DIR@/b",
        "--disk=path=@DIR@/c,readonly=on", "-v", "-v", "--console", "off" }, nil,
        { files = { "a", "b", "c" } })
      local info = get(v.api, "vm.info").json
      assert.equal("Running", info.state)
      local ids, paths = {}, {}
      for _, d in ipairs(info.config.disks) do
        ids[#ids + 1] = d.id
        paths[#paths + 1] = d.path:match("[^/]+$")
      end
      assert.same({ "a", "b", "c" }, paths)
      assert.same({ "_disk0", "_disk1", "_disk2" }, ids)
      assert.is_true(info.config.disks[3].readonly)
      assert.equal("Unknown", info.config.disks[1].image_type)
    end)

    it("boots at once with a payload: serial file gets the banner, then the marker", function()
      local v = vmm({ "--kernel", "@DIR@/vmlinux", "--cmdline", "console=ttyS0 quiet",
        "--serial", "file=@DIR@/serial.log", "--console", "off" })
      local serial = assert(core.follow(v.dir .. "/serial.log"))
      local i, ev = core.wait({ { line = serial, find = "VMLUA-GUEST-READY" } }, 10)
      assert.equal(1, i)
      assert.equal("VMLUA-GUEST-READY", ev.line)
      assert.matches("Command line: console=ttyS0 quiet\n", H.read(v.dir .. "/serial.log"))
      assert.equal("Running", state(v.api))
      serial:close()
    end)

    it("writes the marker on the virtio console when the guest's console is hvc0", function()
      local v = vmm({ "--kernel", "@DIR@/vmlinux", "--cmdline", "console=ttyS0 console=hvc0",
        "--serial", "file=@DIR@/serial.log", "--console", "file=@DIR@/console.log" },
        { FAKE_CLH_SERIAL_MARKER = "GUEST-UP-42" })
      local console = assert(core.follow(v.dir .. "/console.log"))
      assert.equal(1, core.wait({ { line = console, find = "GUEST-UP-42" } }, 10))
      assert.equal("", H.read(v.dir .. "/serial.log"))
      console:close()
    end)

    it("serial Socket: a client gets the output; Pty: the config names the terminal", function()
      local v = vmm()
      assert.equal(204, put(v.api, "vm.create", config(v, {
        serial = { mode = "Socket", socket = v.dir .. "/serial.sock" }, console = { mode = "Pty" } })).status)
      local s = assert(core.socket.connect(v.dir .. "/serial.sock", 10))
      assert.equal(204, put(v.api, "vm.boot").status)
      local seen
      repeat
        seen = assert(line_of(s))
      until seen == "VMLUA-GUEST-READY"
      s:close()
      local info = get(v.api, "vm.info").json
      assert.matches("^/dev/pts/%d+$", info.config.console.file)
      assert.equal("Pty", info.config.console.mode)
      assert.is_true(core.fs.exists(info.config.console.file))
    end)

    it("delays the marker by FAKE_CLH_BOOT_DELAY_MS", function()
      local v = vmm({}, { FAKE_CLH_BOOT_DELAY_MS = "300" })
      local t0 = core.monotonic()
      running(v)
      local serial = assert(core.follow(v.dir .. "/serial.log"))
      assert.equal(1, core.wait({ { line = serial, find = "VMLUA-GUEST-READY" } }, 10))
      local dt = core.monotonic() - t0
      assert.is_true(dt >= 0.29, "marker after " .. dt .. " s")
      serial:close()
    end)

    it("--api-socket: path=, a bare path, fd=, and a bad fd", function()
      local v = vmm({}, nil)
      assert.equal(200, get(v.api, "vmm.ping").status)

      local dir = H.tmpdir()
      local p = spawn { "--api-socket", "path=" .. dir .. "/p.sock" }
      assert.equal(1, core.wait({ { socket = dir .. "/p.sock" }, { exit = p } }, 20))

      local l = assert(core.socket.listen(dir .. "/fd.sock"))
      local q = spawn({ "--api-socket", "fd=3" }, nil, { l })
      assert.equal(200, get(dir .. "/fd.sock", "vmm.ping").status)
      l:close()
      q:signal("TERM")
      assert.same({ "exited", 0 }, { q:wait(20) })

      local _, code, err = run { "--api-socket", "fd=abc" }
      assert.equal(1, code)
      assert.matches("0: Error parsing %-%-api%-socket", err)
    end)

    it("--log-file receives the log; -v raises the level", function()
      local dir = H.tmpdir()
      local p = spawn { "--api-socket", dir .. "/api.sock", "--log-file", dir .. "/clh.log", "-v" }
      assert.equal(1, core.wait({ { socket = dir .. "/api.sock" }, { exit = p } }, 20))
      assert.equal(200, get(dir .. "/api.sock", "vmm.ping").status)
      p:signal("TERM")
      assert.same({ "exited", 0 }, { p:wait(20) })
      local log = H.read(dir .. "/clh.log")
      assert.matches("cloud%-hypervisor: +[%d.]+s: <vmm> INFO:", log)
      assert.matches("API request event: GET /api/v1/vmm.ping", log)
      assert.equal("", drain(p.stderr))
    end)

    it("--event-monitor path= records the lifecycle as pretty JSON", function()
      local v = vmm({ "--event-monitor", "path=@DIR@/events.json" })
      running(v)
      assert.equal(204, put(v.api, "vm.pause").status)
      assert.equal(204, put(v.api, "vm.resume").status)
      assert.equal(200, put(v.api, "vmm.shutdown").status)
      assert.same({ "exited", 0 }, { v.p:wait(20) })
      assert.same({ "vmm starting", "vm booting", "vm booted", "vm pausing", "vm paused",
        "vm resuming", "vm resumed", "vm shutdown", "vm deleted", "vmm shutdown" },
        events(v.dir .. "/events.json"))
      assert.matches('^{\n  "timestamp": {\n    "secs": 0,\n    "nanos": %d+\n  },\n' ..
        '  "source": "vmm",\n  "event": "starting",\n  "properties": null\n}\n\n',
        H.read(v.dir .. "/events.json"))
      local _, code, err = run { "--event-monitor", "mode=x" }
      assert.equal(1, code)
      assert.matches("Error parsing %-%-event%-monitor\n  1: Unknown option: mode", err)
    end)
  end)

  -- ---- REST ------------------------------------------------------------------
  describe("REST API", function()
    it("vmm.ping: build_version, version, pid, features", function()
      local v = vmm()
      local r = get(v.api, "vmm.ping")
      assert.equal(200, r.status)
      assert.equal("HTTP/1.1 200 ", r.line)
      assert.equal("Cloud Hypervisor API", r.headers.server)
      assert.equal("keep-alive", r.headers.connection)
      assert.same({ build_version = "v54.0.0", version = "54.0.0", pid = v.p.pid,
        features = { "io_uring", "kvm" } }, r.json)
    end)

    it("walks the state machine: Created, Running, Paused, Created again, deleted", function()
      local v = vmm()
      assert.equal(404, state(v.api))
      assert.equal(204, put(v.api, "vm.create", config(v)).status)
      assert.equal("Created", state(v.api))
      local r = put(v.api, "vm.boot")
      assert.equal(204, r.status)
      assert.is_nil(r.headers["content-length"])
      assert.equal("Running", state(v.api))
      assert.equal(204, put(v.api, "vm.pause").status)
      assert.equal("Paused", state(v.api))
      assert.equal(204, put(v.api, "vm.resume").status)
      assert.equal(204, put(v.api, "vm.reboot").status)
      assert.equal("Running", state(v.api))
      assert.equal(204, put(v.api, "vm.shutdown").status)
      -- the VM is dropped, its config kept: cloud-hypervisor reports Created
      assert.equal("Created", state(v.api))
      assert.equal(204, put(v.api, "vm.boot").status)
      assert.equal("Running", state(v.api))
      assert.equal(204, put(v.api, "vm.delete").status)
      assert.equal(404, state(v.api))
      assert.equal(204, put(v.api, "vm.delete").status)
    end)

    it("answers wrong-state requests with the real codes and error chains", function()
      local v = vmm()
      local function expect(target, status, chain, body)
        local r = put(v.api, target, body)
        assert.equal(status, r.status, target)
        assert.same(chain, r.json, target)
      end
      expect("vm.boot", 404, { "Error from API", "The VM could not boot", "VM config is missing" })
      expect("vm.pause", 500, { "Error from API", "The VM could not be paused", "VM is not running" })
      expect("vm.resume", 500, { "Error from API", "The VM could not resume", "VM is not running" })
      expect("vm.shutdown", 500, { "Error from API", "The VM could not shutdown", "VM is not running" })
      expect("vm.reboot", 404, { "Error from API", "The VM could not reboot", "VM is not created" })
      expect("vm.power-button", 500, { "Error from API", "Error triggering power button", "VM is not running" })
      expect("vm.resize", 404, { "Error from API", "The VM could not be resized", "VM is not created" },
        { desired_vcpus = 2 })
      expect("vm.add-disk", 404, { "Error from API", "The disk could not be added to the VM",
        "VM is not created" }, { path = v.kernel })
      expect("vm.remove-device", 404, { "Error from API", "The device could not be removed from the VM",
        "VM is not created" }, { id = "x" })
      local r = get(v.api, "vm.counters")
      assert.same({ 500, { "Error from API", "The VM info is not available", "VM is not running" } },
        { r.status, r.json })
      assert.equal(204, put(v.api, "vm.create", config(v)).status)
      expect("vm.create", 500, { "Error from API", "The VM could not be created", "VM is already created" },
        config(v))
      expect("vm.pause", 500, { "Error from API", "The VM could not be paused", "VM is not running" })
      assert.equal(204, put(v.api, "vm.boot").status)
      expect("vm.boot", 500, { "Error from API", "The VM could not boot", "VM is already created" })
      expect("vm.resume", 500, { "Error from API", "The VM could not resume", "Cannot resume VM",
        "Failed to resume migratable component",
        "Invalid transition: InvalidStateTransition(Running, Running)" })
      expect("vm.snapshot", 500, { "Error from API", "The VM could not be snapshotted",
        "Error snapshotting VM", "Failed to snapshot migratable component",
        "Trying to snapshot while VM is running" }, { destination_url = "file://" .. v.dir })
    end)

    it("GET only for vmm.ping, vm.info, vm.counters; any other method gets 400", function()
      local v = vmm()
      local function expect(method, target, status, body)
        local r = call(v.api, method, target)
        assert.equal(status, r.status, method .. " " .. target)
        assert.equal(body, r.body, method .. " " .. target)
      end
      expect("PUT", "vm.info", 400, '["Bad Request"]')
      expect("PUT", "vmm.ping", 400, '["Bad Request"]')
      expect("GET", "vm.boot", 400, '["Bad Request"]')
      expect("GET", "vm.create", 400, '["Bad Request"]')
      expect("GET", "vmm.shutdown", 400, '["Bad Request"]')
      expect("POST", "vm.boot", 400, "")
      expect("DELETE", "vm.add-disk", 400, "")
      expect("PATCH", "vm.counters", 400, "")
      expect("PUT", "vm.create", 400, "") -- no body
      expect("PUT", "vm.add-disk", 400, '["Bad Request"]') -- no body
      expect("GET", "vm.nonsense", 404, '["Not Found"]')
      expect("GET", "vmm.nmi", 404, '["Not Found"]')
      local r = put(v.api, "vm.boot", "{}")
      assert.same({ 400, { "Bad Request" } }, { r.status, r.json })
    end)

    it("400 for bodies serde rejects and for invalid configs", function()
      local v = vmm()
      local function expect(body, chain)
        local r = put(v.api, "vm.create", body)
        assert.equal(400, r.status)
        assert.same(chain, r.json)
      end
      expect("{nope", { "Failed to deserialize JSON",
        "quoted object property name expected at line 1 column 2" })
      expect({ cpus = { boot_vcpus = 1 } }, { "Failed to deserialize JSON", "missing field `max_vcpus`" })
      expect({ payload = { kernel = v.kernel }, memory = { size = "1G" } },
        { "Failed to deserialize JSON", 'invalid type: string "1G", expected u64' })
      expect({ payload = { kernel = v.kernel }, serial = { mode = "Printer" } },
        { "Failed to deserialize JSON",
          "unknown variant `Printer`, expected one of `Off`, `Pty`, `Tty`, `File`, `Socket`, `Null`" })
      expect({ console = { mode = "Off" } }, { "Failed to deserialize JSON", "missing field `payload`" })
      expect({ payload = { cmdline = "x" } }, { "Error from API", "The VM could not be created",
        "Error validating configuration", "No kernel specified" })
      expect(config(v, { fs = { { tag = "t", socket = v.dir .. "/fs.sock" } } }),
        { "Error from API", "The VM could not be created", "Error validating configuration",
          "Using vhost-user requires using shared memory or huge pages" })
      expect(config(v, { vsock = { cid = 2, socket = v.dir .. "/v.sock" } }),
        { "Error from API", "The VM could not be created", "Error validating configuration",
          "Invalid vsock CID 2: CIDs below 3 are reserved" })
    end)

    it("keeps the config as created, with serde defaults, and drops unknown fields", function()
      local v = vmm()
      assert.equal(204, put(v.api, "vm.create", config(v, { no_such_field = true,
        cpus = { boot_vcpus = 2, max_vcpus = 4 } })).status)
      local info = get(v.api, "vm.info").json
      assert.is_nil(info.config.no_such_field)
      assert.same({ boot_vcpus = 2, max_vcpus = 4, kvm_hyperv = false, max_phys_bits = 46,
        features = { amx = false }, nested = true, core_scheduling = "Vm" }, info.config.cpus)
      assert.equal(512 * 1024 * 1024, info.config.memory.size)
      assert.same({ src = "/dev/urandom", iommu = false }, info.config.rng)
      assert.equal(512 * 1024 * 1024, info.memory_actual_size)
      assert.is_nil(info.device_tree)
    end)

    it("hot plug answers PciDeviceInfo; cold plug 204; duplicates 409; unknown ids 404", function()
      local v = vmm()
      H.write(v.dir .. "/disk.img", "")
      assert.equal(204, put(v.api, "vm.create", config(v)).status)
      assert.equal(204, put(v.api, "vm.add-disk", { path = v.dir .. "/disk.img", id = "root" }).status)
      local r = put(v.api, "vm.add-disk", { path = v.dir .. "/disk.img", id = "root" })
      assert.same({ 409, { "Error from API", "The disk could not be added to the VM",
        "Error validating configuration", "Identifier root is not unique" } }, { r.status, r.json })
      assert.equal(204, put(v.api, "vm.boot").status)
      r = put(v.api, "vm.add-disk", { path = v.dir .. "/disk.img" })
      assert.equal(200, r.status)
      assert.equal("_disk0", r.json.id)
      assert.matches("^0000:00:%x%x%.0$", r.json.bdf)
      local info = get(v.api, "vm.info").json
      assert.equal(2, #info.config.disks)
      assert.equal(r.json.bdf, info.device_tree._disk0.pci_bdf)
      r = put(v.api, "vm.add-device", { path = "/sys/bus/pci/devices/0000:01:00.0" })
      assert.equal(200, r.status)
      r = put(v.api, "vm.add-device", { path = "/sys/bus/pci/devices/0000:01:00.0" })
      assert.same({ 409, "Duplicate device path: /sys/bus/pci/devices/0000:01:00.0" }, { r.status, r.json[4] })
      r = put(v.api, "vm.remove-device", { id = "nope" })
      assert.same({ 404, { "Error from API", "The device could not be removed from the VM",
        'No device with id "nope" to remove' } }, { r.status, r.json })
      assert.equal(204, put(v.api, "vm.remove-device", { id = "root" }).status)
      assert.equal(1, #get(v.api, "vm.info").json.config.disks)
      r = get(v.api, "vm.counters")
      assert.same({ read_bytes = 0, read_ops = 0, write_bytes = 0, write_ops = 0 }, r.json._disk0)
    end)

    it("vm.add-net attaches tap fds received with SCM_RIGHTS as `fds`", function()
      local v = vmm()
      running(v)
      local before = settled_fds(v)
      local tap = assert(io.open("/dev/null"))
      local r = put(v.api, "vm.add-net", { mac = "52:54:00:12:34:56", fds = { 99, 98 } }, { tap })
      tap:close()
      assert.equal(200, r.status)
      local net = get(v.api, "vm.info").json.config.net[1]
      assert.equal(r.json.id, net.id)
      assert.equal(1, #net.fds)
      assert.is_true(net.fds[1] ~= 99)
      assert.equal(before + 1, settled_fds(v))
      assert.equal(204, put(v.api, "vm.remove-device", { id = net.id }).status)
      assert.equal(before, settled_fds(v))
      -- fds in the body alone are ignored; a mismatch with num_queues is refused
      r = put(v.api, "vm.add-net", { fds = { 5 }, num_queues = 4 })
      assert.equal(200, r.status)
      assert.is_nil(get(v.api, "vm.info").json.config.net[1].fds)
      local a, b = assert(io.open("/dev/null")), assert(io.open("/dev/null"))
      r = put(v.api, "vm.add-net", {}, { a, b })
      a:close()
      b:close()
      assert.same({ 400, "Number of queues to virtio_net does not match the number of input FDs" },
        { r.status, r.json[4] })
      assert.equal(before, settled_fds(v))
    end)

    it("vm.resize: 429 while a vCPU removal is pending, then 204", function()
      local v = vmm({}, { FAKE_CLH_CPU_REMOVAL_MS = "200" })
      running(v, { cpus = { boot_vcpus = 2, max_vcpus = 2 } })
      assert.equal(204, put(v.api, "vm.resize", { desired_vcpus = 1 }).status)
      local r = put(v.api, "vm.resize", { desired_vcpus = 2 })
      assert.same({ 429, { "Too Many Requests" } }, { r.status, r.json })
      local deadline = core.monotonic() + 10
      repeat
        v.p:wait(0.02) -- Kata retries every 20 ms
        r = put(v.api, "vm.resize", { desired_vcpus = 2 })
      until r.status ~= 429 or core.monotonic() > deadline
      assert.equal(204, r.status)
      assert.equal(2, get(v.api, "vm.info").json.config.cpus.boot_vcpus)
      r = put(v.api, "vm.resize", { desired_vcpus = 3 })
      assert.equal(500, r.status)
    end)

    it("vm.resize of memory needs hotplug_size; memory_actual_size follows", function()
      local v = vmm()
      running(v, { memory = { size = 256 << 20, hotplug_size = 256 << 20 },
        balloon = { size = 0 } })
      assert.equal(204, put(v.api, "vm.resize", { desired_ram = 384 << 20 }).status)
      assert.equal(384 << 20, get(v.api, "vm.info").json.memory_actual_size)
      assert.equal(204, put(v.api, "vm.resize", { desired_balloon = 128 << 20 }).status)
      assert.equal(256 << 20, get(v.api, "vm.info").json.memory_actual_size)
      local r = put(v.api, "vm.resize", { desired_ram = 1 << 30 })
      assert.same({ 500, "Invalid amount of memory to hotplug" }, { r.status, r.json[4] })
    end)

    it("keeps connections alive, ignores Connection: close, serves several clients", function()
      local v = vmm()
      local s = assert(core.socket.connect(v.api, 10))
      assert(s:send(request_text("GET", "vmm.ping", nil, { "Connection: close" }) ..
        request_text("GET", "vm.info")))
      assert.equal(200, read_response(s).status)
      assert.equal(404, read_response(s).status)
      local others = {}
      for i = 1, 3 do others[i] = assert(core.socket.connect(v.api, 10)) end
      for i = 3, 1, -1 do assert(others[i]:send(request_text("GET", "vmm.ping"))) end
      for i = 1, 3 do assert.equal(200, read_response(others[i]).status) end
      assert(s:send(request_text("GET", "vmm.ping", nil, { "Connection: close" })))
      assert.equal(200, read_response(s).status)
      assert.is_true(quiet(s, 0.2))
      for i = 1, 3 do others[i]:close() end
      s:close()
    end)

    it("does not decode chunked bodies (micro_http): 400, then a parse error", function()
      local v = vmm()
      local s = assert(core.socket.connect(v.api, 10))
      local body = json.encode(config(v))
      assert(s:send("PUT /api/v1/vm.create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" ..
        string.format("%x\r\n%s\r\n0\r\n\r\n", #body, body)))
      local r = read_response(s)
      assert.same({ 400, "" }, { r.status, r.body })
      r = read_response(s)
      assert.equal(400, r.status)
      assert.equal("Firecracker API", r.headers.server)
      assert.equal('{ "error": "Invalid request.\nAll previous unanswered requests will be dropped." }', r.body)
      assert.same({ nil, "eof" }, { s:read_line(10) })
      s:close()
      assert.equal(404, state(v.api))
    end)

    it("answers malformed requests with micro_http's 400 and closes", function()
      local v = vmm()
      local cases = {
        { "BREW /api/v1/vmm.ping HTTP/1.1\r\n\r\n", "Invalid HTTP Method: Unsupported HTTP method." },
        { "GET /api/v1/vmm.ping HTTP/2.0\r\n\r\n", "Invalid HTTP Version: Unsupported HTTP version." },
        { "GET /api/v1/vmm.ping\r\n\r\n", "Invalid request." },
        { "GET /api/v1/vmm.ping HTTP/1.1\r\nNoColon\r\n\r\n", "Header is incorrectly formatted" },
        { "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: x\r\n\r\n", "Invalid value" },
        { "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 60000\r\n\r\n",
          "Request payload with size 60000 is larger than the limit of 51200 allowed by server." },
        { string.rep("x", 1100), "Invalid request." },
      }
      for _, c in ipairs(cases) do
        local s = assert(core.socket.connect(v.api, 10))
        assert(s:send(c[1]))
        local r = read_response(s)
        assert.equal(400, r.status, c[1])
        assert.matches(c[2], r.body, 1, true)
        assert.same({ nil, "eof" }, { s:read_line(10) })
        s:close()
      end
      assert.equal(200, get(v.api, "vmm.ping").status)
    end)

    it("accepts absolute URIs and Expect: 100-continue", function()
      local v = vmm()
      local s = assert(core.socket.connect(v.api, 10))
      assert(s:send("GET http://localhost/api/v1/vmm.ping HTTP/1.1\r\n\r\n"))
      assert.equal(200, read_response(s).status)
      local body = json.encode(config(v))
      assert(s:send("PUT /api/v1/vm.create HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " ..
        #body .. "\r\n\r\n"))
      assert.equal(100, read_response(s).status)
      assert(s:send(body))
      assert.equal(204, read_response(s).status)
      s:close()
    end)

    it("snapshots a paused VM and restores it in another VMM", function()
      local v = vmm()
      running(v)
      assert.equal(204, put(v.api, "vm.pause").status)
      local snap = v.dir .. "/snap"
      assert(core.fs.mkdir(snap))
      assert.equal(204, put(v.api, "vm.snapshot", { destination_url = "file://" .. snap }).status)
      assert.same({ "config.json", "memory-ranges", "state.json" }, core.fs.list(snap))
      local w = vmm()
      local r = put(w.api, "vm.restore", { source_url = "file://" .. snap,
        net_fds = { { id = "x", num_fds = 1 } } })
      assert.same({ 400, { "Bad Request" } }, { r.status, r.json })
      assert.equal(204, put(w.api, "vm.restore", { source_url = "file://" .. snap }).status)
      assert.equal("Paused", state(w.api))
      assert.equal(204, put(w.api, "vm.resume").status)
      r = put(w.api, "vm.restore", { source_url = "file://" .. snap })
      assert.same({ 500, "VM is already created" }, { r.status, r.json[3] })
      -- vm.coredump exists only with the guest_debug feature
      assert.equal(404, put(w.api, "vm.coredump", { destination_url = "file:///x" }).status)
    end)

    it("migrates over unix:, the sender exits 0", function()
      local src, dst = vmm(), vmm()
      running(src)
      local url = "unix:" .. dst.dir .. "/mig.sock"
      local rx = assert(core.socket.connect(dst.api, 10))
      assert(rx:send(request_text("PUT", "vm.receive-migration", json.encode { receiver_url = url })))
      -- (a probe connection would be taken for the migration: retry instead)
      local deadline = core.monotonic() + 10
      local r
      repeat
        r = put(src.api, "vm.send-migration", { destination_url = url })
      until r.status == 204 or core.monotonic() > deadline or dst.p:wait(0.02)
      assert.equal(204, r.status)
      assert.equal(204, read_response(rx).status)
      rx:close()
      assert.same({ "exited", 0 }, { src.p:wait(20) })
      assert.equal("Running", state(dst.api))
      assert.is_false(core.fs.exists(src.api))
    end)
  end)

  -- ---- exits, signals, faults ---------------------------------------------------
  describe("exits and faults", function()
    it("vmm.shutdown answers 200 with no body, exits 0, removes the API socket", function()
      local v = vmm()
      running(v)
      local r = put(v.api, "vmm.shutdown")
      assert.same({ 200, "0", "" }, { r.status, r.headers["content-length"], r.body })
      assert.same({ "exited", 0 }, { v.p:wait(20) })
      assert.is_false(core.fs.exists(v.api))
      -- what cloud-hypervisor leaves: its socket lock file
      assert.same({ "api.sock.lock", "serial.log", "vmlinux" }, core.fs.list(v.dir))
    end)

    for _, sig in ipairs { "SIGTERM", "SIGINT" } do
      it(sig .. " is a clean exit: status 0, socket removed", function()
        local v = vmm()
        running(v)
        assert(v.p:signal(sig))
        assert.same({ "exited", 0 }, { v.p:wait(20) })
        assert.is_false(core.fs.exists(v.api))
      end)
    end

    it("vm.power-button: the guest powers off and the VMM exits 0", function()
      local v = vmm({ "--event-monitor", "path=@DIR@/events.json" })
      running(v)
      assert.equal(204, put(v.api, "vm.power-button").status)
      assert.same({ "exited", 0 }, { v.p:wait(20) })
      assert.matches("reboot: Power down\n$", H.read(v.dir .. "/serial.log"))
      local ev = events(v.dir .. "/events.json")
      assert.same({ "vm shutdown", "vm deleted", "vmm shutdown" }, { ev[#ev - 2], ev[#ev - 1], ev[#ev] })
    end)

    it("vm.power-button with --no-shutdown: the VMM stays, the VM is back to Created", function()
      local v = vmm({ "--no-shutdown" })
      running(v)
      local serial = assert(core.follow(v.dir .. "/serial.log"))
      assert.equal(204, put(v.api, "vm.power-button").status)
      assert.equal(1, core.wait({ { line = serial, find = "Power down" } }, 10))
      assert.equal("Created", state(v.api))
      assert.is_true(v.p:alive())
      serial:close()
    end)

    it("FAKE_CLH_IGNORE_POWER_BUTTON: the guest ignores the button", function()
      local v = vmm({}, { FAKE_CLH_IGNORE_POWER_BUTTON = "1", FAKE_CLH_POWEROFF_DELAY_MS = "10" })
      running(v)
      assert.equal(204, put(v.api, "vm.power-button").status)
      assert.same({ nil, "timeout", 110 }, { v.p:wait(0.3) })
      assert.equal("Running", state(v.api))
    end)

    it("exits 1 naming the socket when a virtio-fs backend is not there", function()
      local dir = H.tmpdir()
      H.write(dir .. "/vmlinux", "")
      local t0 = core.monotonic()
      local _, code, err = run({ "--api-socket", dir .. "/api.sock", "--kernel", dir .. "/vmlinux",
        "--memory", "size=128M,shared=on", "--fs", "tag=share,socket=" .. dir .. "/fs.sock" },
        { FAKE_CLH_VHOST_TIMEOUT_MS = "300" })
      assert.equal(1, code)
      assert.is_true(core.monotonic() - t0 >= 0.29)
      assert.matches("0: Error booting VM\n  1: The VM could not boot\n  2: Error from device manager\n" ..
        "  3: Cannot create virtio%-fs device\n  4: Failed connecting the backend .*" ..
        dir:gsub("%p", "%%%0") .. "/fs%.sock", err)
      assert.same({ "api.sock.lock", "vmlinux" }, core.fs.list(dir))
    end)

    it("opens a qcow2 disk's backing file only with backing_files=on, as QcowDiskSync does", function()
      local dir = H.tmpdir()
      H.write(dir .. "/vmlinux", "")
      H.write(dir .. "/base.img", string.rep("\0", 65536))
      -- a qcow2 overlay on base.img, made by qemu-img (qemu-utils)
      local q = assert(core.spawn { argv = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", dir .. "/base.img",
                                             "-F", "raw", dir .. "/ov.qcow2" }, stdin = "null" })
      assert.equal("exited", (q:wait(30)))
      H.write(dir .. "/notqcow", string.rep("\0", 512))
      local function boot(disk)
        local _, code, err = run({ "--api-socket", dir .. "/api.sock", "--kernel", dir .. "/vmlinux",
                                   "--disk", disk, "--console", "off", "--serial", "off" },
                                 { FAKE_CLH_BOOT_DELAY_MS = "0" })
        return code, err
      end
      local code, err = boot("path=" .. dir .. "/ov.qcow2")
      assert.equal(1, code)
      assert.matches("2: Error from device manager\n  3: Failed to create QcowDiskSync\n" ..
                     "  4: Backing file support is disabled", err)
      code, err = boot("path=" .. dir .. "/notqcow,image_type=qcow2")
      assert.equal(1, code)
      assert.matches("3: Failed to create QcowDiskSync\n  4: Invalid magic", err)
      assert(os.rename(dir .. "/base.img", dir .. "/moved.img"))
      code, err = boot("path=" .. dir .. "/ov.qcow2,backing_files=on")
      assert.equal(1, code)
      assert.matches("4: Backing file I/O error: " .. dir:gsub("%p", "%%%0") .. "/base%.img\n  5: No such file", err)
      assert(os.rename(dir .. "/moved.img", dir .. "/base.img"))
      local v = vmm({ "--kernel", "@DIR@/vmlinux", "--disk", "path=" .. dir .. "/ov.qcow2,backing_files=on",
                      "--console", "off" })
      local info = get(v.api, "vm.info").json
      assert.equal("Running", info.state)
      assert.is_true(info.config.disks[1].backing_files)
    end)

    it("holds the virtio-fs connection while the VM runs, drops it at shutdown", function()
      local v = vmm()
      local l = assert(core.socket.listen(v.dir .. "/fs.sock"))
      running(v, { memory = { size = 128 << 20, shared = true },
        fs = { { tag = "share", socket = v.dir .. "/fs.sock" } } })
      local c = assert(l:accept(10))
      assert.is_true(quiet(c, 0.1))
      assert.equal(204, put(v.api, "vm.shutdown").status)
      assert.same({ nil, "eof" }, { c:recv(1, 10) })
      c:close()
      l:close()
    end)

    it("waits for a late virtio-fs backend; other requests wait meanwhile", function()
      local v = vmm()
      assert.equal(204, put(v.api, "vm.create", config(v, {
        memory = { size = 128 << 20, shared = true },
        fs = { { tag = "share", socket = v.dir .. "/fs.sock" } } })).status)
      local boot = assert(core.socket.connect(v.api, 10))
      assert(boot:send(request_text("PUT", "vm.boot")))
      local ping = assert(core.socket.connect(v.api, 10))
      assert(ping:send(request_text("GET", "vmm.ping")))
      assert.is_true(quiet(ping, 0.2))
      local l = assert(core.socket.listen(v.dir .. "/fs.sock"))
      assert.equal(204, read_response(boot).status)
      assert.equal(200, read_response(ping).status)
      assert.equal("Running", state(v.api))
      boot:close()
      ping:close()
      l:close()
    end)

    it("SIGTERM while a boot waits for its virtio-fs backend: exits 0 at once", function()
      local v = vmm()
      assert.equal(204, put(v.api, "vm.create", config(v, {
        memory = { size = 128 << 20, shared = true },
        fs = { { tag = "share", socket = v.dir .. "/fs.sock" } } })).status)
      local boot = assert(core.socket.connect(v.api, 10))
      assert(boot:send(request_text("PUT", "vm.boot")))
      assert.is_true(quiet(boot, 0.2))
      assert(v.p:signal("SIGTERM"))
      assert.same({ "exited", 0 }, { v.p:wait(20) })
      assert.same({ nil, "eof" }, { boot:read_line(10) })
      boot:close()
    end)

    it("refuses a second VMM on the same socket path, which stays the first one's", function()
      local v = vmm()
      local _, code, err = run { "--api-socket", v.api }
      assert.equal(1, code)
      assert.matches("0: Failed to start the VMM thread\n  1: API socket .* is already in use", err)
      assert.equal(200, get(v.api, "vmm.ping").status)
    end)

    it("FAKE_CLH_FAIL_AT_START: message and status, nothing created", function()
      local dir = H.tmpdir()
      local _, code, err = run({ "--api-socket", dir .. "/api.sock" },
        { FAKE_CLH_FAIL_AT_START = "cannot open /dev/kvm", FAKE_CLH_FAIL_STATUS = "3" })
      assert.same({ 3, "cannot open /dev/kvm" }, { code, err })
      assert.same({}, core.fs.list(dir))
    end)

    it("FAKE_CLH_HANG_API: connections are accepted, never answered", function()
      local v = vmm({}, { FAKE_CLH_HANG_API = "1" })
      local s = assert(core.socket.connect(v.api, 10))
      assert(s:send(request_text("GET", "vmm.ping")))
      assert.is_true(quiet(s, 0.3))
      s:close()
      assert(v.p:signal("SIGTERM"))
      assert.same({ "exited", 0 }, { v.p:wait(20) })
    end)

    it("FAKE_CLH_API_DELAY_MS: the socket appears that much later", function()
      local dir = H.tmpdir()
      local t0 = core.monotonic()
      local p = spawn({ "--api-socket", dir .. "/api.sock" }, { FAKE_CLH_API_DELAY_MS = "300" })
      assert.equal(1, core.wait({ { socket = dir .. "/api.sock" }, { exit = p } }, 20))
      assert.is_true(core.monotonic() - t0 >= 0.29)
    end)

    it("FAKE_CLH_CRASH_AFTER_MS: aborts while running, leaving the socket", function()
      local v = vmm({ "--kernel", "@DIR@/vmlinux" }, { FAKE_CLH_CRASH_AFTER_MS = "100" })
      assert.same({ "killed", 6 }, { v.p:wait(20) })
      assert.matches("panicked", drain(v.p.stderr))
      assert.is_true(core.fs.exists(v.api))
    end)

    it("leaks no fds over many connections and requests", function()
      local v = vmm()
      running(v)
      local before = settled_fds(v)
      for _ = 1, 30 do
        local s = assert(core.socket.connect(v.api, 10))
        assert(s:send(request_text("GET", "vm.info")))
        assert.equal(200, read_response(s).status)
        s:close()
      end
      local junk = assert(core.socket.connect(v.api, 10))
      assert(junk:send("garbage\r\n\r\n"))
      read_response(junk)
      junk:close()
      assert.equal(before, settled_fds(v))
    end)
  end)
end)
