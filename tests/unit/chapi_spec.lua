-- vmlua.chapi (and vmlua.http under it) against the fake cloud-hypervisor
-- (tests/fakes/fake-cloud-hypervisor, which answers as cloud-hypervisor
-- v54's micro_http does: docs/fakes.md) and, for what that one never
-- sends (chunked bodies, text where JSON belongs, broken HTTP), against a
-- tiny fake HTTP server (tests/support/fake_http_server.lua).
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local child = require "support.child"
local chapi = require "vmlua.chapi"

local MiB = 1024 * 1024

local function timed(f)
  local t0 = core.monotonic()
  local r = table.pack(f())
  return core.monotonic() - t0, table.unpack(r, 1, r.n)
end

local function file(path, size)
  local f = assert(io.open(path, "wb"))
  f:write(string.rep("\0", size or 1))
  f:close()
  return path
end

--- A fake cloud-hypervisor with its API client; cfg: a minimal VmConfig.
local function vmm(env)
  local path, p, dir = S.fake_clh(env)
  local api = chapi.new(path, { timeout = 10 })
  local cfg = { payload = { kernel = file(dir .. "/vmlinux") },
                cpus = { boot_vcpus = 1, max_vcpus = 2 },
                memory = { size = 256 * MiB, shared = true, hotplug_size = 256 * MiB } }
  return { api = api, path = path, p = p, dir = dir, cfg = cfg }
end

local listeners = {}
local function listen(path)
  local l = assert(core.socket.listen(path))
  listeners[#listeners + 1] = l
  return l
end

after_each(function()
  for _, l in ipairs(listeners) do l:close() end
  listeners = {}
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

describe("chapi.new", function()
  it("makes a client without connecting; misuse raises", function()
    local api = chapi.new("/nonexistent/api.sock", { timeout = 1 })
    assert.equal("vmlua.CHAPI (/nonexistent/api.sock)", tostring(api))
    assert.is_true(api:close())
    assert.has_error(function() chapi.new(nil) end, "bad argument #1 to 'new' (socket path expected, got nil)")
    assert.has_error(function() chapi.new("/x", { timeot = 1 }) end, "bad argument to 'new' (unknown option 'timeot')")
    assert.has_error(function() chapi.new("/x", { timeout = "1" }) end,
                     "bad argument to 'new' (timeout must be a number >= 0)")
    assert.has_error(function() api:create() end, "bad argument #1 to 'create' (a table expected, got nil)")
    assert.has_error(function() api:boot({ fds = {} }) end, "bad argument to 'boot' (unknown option 'fds')")
    assert.has_error(function() api:add_net({}, {}) end, "bad argument #2 to 'add_net' (fds must be a non-empty array)")
    assert.has_error(function() api:call("vm.nope") end, "bad argument #1 to 'call' (unknown endpoint 'vm.nope')")
    assert.has_error(function() api.ping() end,
                     "bad argument to 'ping' (chapi client expected; use ':' to call methods)")
  end)

  it("knows every endpoint of the REST table by REST and by method name", function()
    local names = {}
    for _, e in ipairs(chapi.endpoints) do names[#names + 1] = e.path end
    assert.same({ "vmm.ping", "vmm.shutdown", "vm.create", "vm.delete", "vm.boot", "vm.info", "vm.counters",
                  "vm.pause", "vm.resume", "vm.shutdown", "vm.reboot", "vm.power-button", "vm.nmi", "vm.resize",
                  "vm.resize-zone", "vm.resize-disk", "vm.add-device", "vm.remove-device", "vm.add-disk",
                  "vm.add-fs", "vm.add-net", "vm.add-pmem", "vm.add-vsock", "vm.add-vdpa", "vm.add-user-device",
                  "vm.add-generic-vhost-user", "vm.snapshot", "vm.restore", "vm.coredump", "vm.send-migration",
                  "vm.receive-migration" }, names)
    for _, e in ipairs(chapi.endpoints) do
      assert.equal("function", type(chapi.new("/x")[e.name]), e.name)
      assert.equal(e.method == "GET", e.path == "vmm.ping" or e.path == "vm.info" or e.path == "vm.counters")
    end
    assert.equal(chapi.endpoint("vm.power-button"), chapi.endpoint("power_button"))
    assert.equal(chapi.endpoint("vm.info"), chapi.endpoint("/api/v1/vm.info"))
    assert.is_nil(chapi.endpoint("vm.infoo"))
  end)
end)

describe("chapi against the fake cloud-hypervisor", function()
  it("runs the lifecycle: ping, create, info, boot, pause, resume, reboot, nmi, shutdown, delete", function()
    local v = vmm()
    local ping = assert(v.api:ping())
    assert.same({ "v54.0.0", "54.0.0", v.p.pid }, { ping.build_version, ping.version, ping.pid })
    assert.is_true(v.api:create(v.cfg))
    assert.equal("Created", v.api:info().state)
    assert.is_true(v.api:boot())
    local info = assert(v.api:info())
    assert.same({ "Running", 256 * MiB }, { info.state, info.config.memory.size })
    assert.is_true(v.api:pause())
    assert.equal("Paused", v.api:info().state)
    assert.is_true(v.api:resume())
    assert.is_true(v.api:reboot())
    assert.is_true(v.api:nmi())
    assert.equal("table", type(v.api:counters()))
    assert.is_true(v.api:shutdown())
    assert.equal("Created", v.api:info().state) -- the config stays
    assert.is_true(v.api:boot())
    assert.is_true(v.api:shutdown())
    assert.is_true(v.api:delete())
    assert.same({ nil, "vm.info: 404 Not Found: The VM info is not available: VM is not created", 404 },
                { v.api:info() })
  end)

  it("wrong-state answers come back as messages with the status", function()
    local v = vmm()
    assert.same({ nil, "vm.boot: 404 Not Found: The VM could not boot: VM config is missing", 404 },
                { v.api:boot() })
    assert.same({ nil, "vm.pause: 500 Internal Server Error: The VM could not be paused: VM is not running", 500 },
                { v.api:pause() })
    assert(v.api:create(v.cfg))
    assert.same({ nil, "vm.create: 500 Internal Server Error: The VM could not be created: VM is already created",
                  500 }, { v.api:create(v.cfg) })
    assert(v.api:boot())
    local ok, err, status = v.api:resume()
    assert.is_nil(ok)
    assert.equal(500, status)
    assert.equal("vm.resume: 500 Internal Server Error: The VM could not resume: Cannot resume VM: Failed to resume "
                 .. "migratable component: Invalid transition: InvalidStateTransition(Running, Running)", err)
    assert(v.api:pause())
    ok, err, status = v.api:pause()
    assert.same({ nil, 500 }, { ok, status })
    assert.matches("InvalidStateTransition%(Paused, Paused%)", err)
  end)

  it("400, 404 and 409 answers", function()
    local v = vmm()
    assert.same({ nil, "vm.create: 400 Bad Request: Failed to deserialize JSON: missing field `payload`", 400 },
                { v.api:create {} })
    assert(v.api:create(v.cfg))
    local disk = file(v.dir .. "/disk.img", 4096)
    assert.is_true(v.api:add_disk { path = disk, id = "disk0" }) -- cold: 204
    local ok, err, status = v.api:add_disk { path = disk, id = "disk0" }
    assert.same({ nil, 409 }, { ok, status })
    assert.equal("vm.add-disk: 409 Conflict: The disk could not be added to the VM: Error validating configuration: "
                 .. "Identifier disk0 is not unique", err)
    assert.same({ nil, 'vm.remove-device: 404 Not Found: The device could not be removed from the VM: '
                  .. 'No device with id "nope" to remove', 404 }, { v.api:remove_device("nope") })
    -- raw request: any status, the decoded body and its text
    local st, body, text = v.api:request("GET", "vm.nothing")
    assert.same({ 404, { "Not Found" }, '["Not Found"]' }, { st, body, text })
    st, body = v.api:request("GET", "vm.boot")
    assert.same({ 400, { "Bad Request" } }, { st, body })
  end)

  it("hot-plugs every device kind after boot (200 + PciDeviceInfo), removes one", function()
    local v = vmm { FAKE_CLH_VHOST_TIMEOUT_MS = "2000" }
    listen(v.dir .. "/fs.sock")
    listen(v.dir .. "/gvu.sock")
    listen(v.dir .. "/vfu.sock")
    assert(v.api:create(v.cfg))
    assert(v.api:boot())
    local function plugged(res)
      assert.equal("table", type(res))
      assert.matches("^0000:00:%x%x%.0$", res.bdf)
      return res.id
    end
    assert.equal("disk1", plugged(v.api:add_disk { path = file(v.dir .. "/d1.img", 4096), id = "disk1" }))
    assert.matches("^_fs%d+$", plugged(v.api:add_fs { tag = "share", socket = v.dir .. "/fs.sock" }))
    assert.matches("^_pmem%d+$", plugged(v.api:add_pmem { file = file(v.dir .. "/pmem.img", 2 * MiB) }))
    assert.matches("^_vsock%d+$", plugged(v.api:add_vsock { cid = 3, socket = v.dir .. "/vsock.sock" }))
    assert.matches("^_vfio%d+$", plugged(v.api:add_device { path = "/sys/bus/pci/devices/0000:00:01.0" }))
    assert.matches("^_vdpa%d+$", plugged(v.api:add_vdpa { path = "/dev/vhost-vdpa-0" }))
    assert.matches("^_vfio_user%d+$", plugged(v.api:add_user_device { socket = v.dir .. "/vfu.sock" }))
    assert.matches("^_generic_vhost_user%d+$", plugged(v.api:add_generic_vhost_user {
      socket = v.dir .. "/gvu.sock", device_type = 26, queue_sizes = { 256 } }))
    assert.is_true(v.api:remove_device { id = "disk1" })
    local info = v.api:info()
    assert.same({ 1, 1, 1 }, { #info.config.fs, #info.config.pmem, #info.config.devices })
    assert.same({}, info.config.disks)
  end)

  it("add_net passes tap fds by SCM_RIGHTS, as Kata does", function()
    local v = vmm()
    assert(v.api:create(v.cfg))
    assert(v.api:boot())
    local a, b = core.socket.pair()
    local f = assert(io.open("/dev/null", "rb"))
    local res = assert(v.api:add_net({ id = "net0", num_queues = 4, mac = "52:54:00:12:34:56" }, { a, f }))
    assert.same({ "net0", "0000:00:" }, { res.id, res.bdf:sub(1, 8) })
    local net = v.api:info().config.net[1]
    assert.same({ "net0", 2 }, { net.id, #net.fds })
    -- the count of fds must match the queues: the fake saw both
    local ok, err, status = v.api:add_net({ id = "net1", num_queues = 4 }, { f })
    assert.same({ nil, 400 }, { ok, status })
    assert.matches("^vm%.add%-net: 400 Bad Request: ", err)
    a:close(); b:close(); f:close()
  end)

  it("resizes vCPUs, memory, a memory zone and a disk", function()
    local v = vmm()
    local disk = file(v.dir .. "/grow.img", 4096)
    v.cfg.disks = { { path = disk, id = "disk0" } }
    assert(v.api:create(v.cfg))
    assert(v.api:boot())
    assert.is_true(v.api:resize { desired_vcpus = 2 })
    assert.is_true(v.api:resize { desired_ram = 384 * MiB })
    local info = v.api:info()
    assert.same({ 2, 384 * MiB }, { info.config.cpus.boot_vcpus, info.config.memory.size })
    assert.is_true(v.api:resize_disk { id = "disk0", desired_size = 8192 })
    assert.equal(8192, core.fs.stat(disk).size)
    assert.same({ nil, "vm.resize-zone: 500 Internal Server Error: The memory zone could not be resized: "
                  .. "Memory manager error: Unknown memory zone", 500 },
                { v.api:resize_zone { id = "z0", desired_ram = 64 * MiB } })
    local w = vmm()
    w.cfg.memory = { size = 0, hotplug_method = "VirtioMem",
                     zones = { { id = "z0", size = 128 * MiB, hotplug_size = 128 * MiB } } }
    assert(w.api:create(w.cfg))
    assert(w.api:boot())
    assert.is_true(w.api:resize_zone { id = "z0", desired_ram = 192 * MiB })
  end)

  it("snapshots and restores into another VMM; coredump needs guest_debug", function()
    local v = vmm()
    assert(v.api:create(v.cfg))
    assert(v.api:boot())
    assert(v.api:pause())
    local snap = v.dir .. "/snap"
    assert(core.fs.mkdir(snap))
    assert.is_true(v.api:snapshot("file://" .. snap))
    assert.same({ "config.json", "memory-ranges", "state.json" }, core.fs.list(snap))
    assert.same({ nil, "vm.coredump: 404 Not Found: Not Found", 404 }, { v.api:coredump("file:///x") })
    local w = vmm()
    local f = assert(io.open("/dev/null", "rb"))
    assert.same({ nil, "vm.restore: 400 Bad Request: Bad Request", 400 },
                { w.api:restore({ source_url = "file://" .. snap, net_fds = { { id = "x", num_fds = 2 } } }, { f }) })
    f:close()
    assert.is_true(w.api:restore("file://" .. snap))
    assert.equal("Paused", w.api:info().state)
    local d = vmm { FAKE_CLH_FEATURES = "guest_debug" }
    assert(d.api:create(d.cfg))
    assert(d.api:boot())
    assert(d.api:pause())
    assert.is_true(d.api:coredump { destination_url = "file://" .. d.dir .. "/core" })
    assert.equal("file", core.fs.stat(d.dir .. "/core").type)
  end)

  it("migrates: receive_migration (in a child) and send_migration", function()
    local src, dst = vmm(), vmm()
    assert(src.api:create(src.cfg))
    assert(src.api:boot())
    local url = "unix:" .. dst.dir .. "/mig.sock"
    -- receive-migration answers only once the migration is over: a child
    -- process makes that call while this one sends.
    local rx = child.start(string.format([[
      local api = require("vmlua.chapi").new(%q, { timeout = 30 })
      local ok, err = api:receive_migration(%q)
      print(ok and "received" or err)]], dst.path, url), { LUA_PATH = package.path, LUA_CPATH = package.cpath })
    local deadline = core.monotonic() + 20
    local ok, err
    repeat
      ok, err = src.api:send_migration { destination_url = url }
    until ok or core.monotonic() > deadline or not err:find("Connection refused", 1, true)
      and not err:find("No such file", 1, true)
    assert.is_true(ok, err)
    assert.equal("received", rx:read_line())
    assert.is_true(rx:close())
    assert.same({ "exited", 0 }, { src.p:wait(20) })
    assert.equal("Running", dst.api:info().state)
  end)

  it("vmm_shutdown ends the VMM; power_button powers the guest off", function()
    local v = vmm()
    assert.is_true(v.api:vmm_shutdown())
    assert.same({ "exited", 0 }, { v.p:wait(20) })
    local w = vmm { FAKE_CLH_POWEROFF_DELAY_MS = "10" }
    assert(w.api:create(w.cfg))
    assert(w.api:boot())
    assert.is_true(w.api:power_button())
    assert.same({ "exited", 0 }, { w.p:wait(20) })
    -- and then there is nobody to talk to
    local ok, err, kind = w.api:ping()
    assert.same({ nil, "vmm.ping: connect " .. w.path .. ": No such file or directory", "connect" }, { ok, err, kind })
  end)

  it("times out against an API that never answers (FAKE_CLH_HANG_API=1)", function()
    local v = vmm { FAKE_CLH_HANG_API = "1" }
    local api = chapi.new(v.path, { timeout = 0.2 })
    local secs, ok, err, kind = timed(function() return api:ping() end)
    assert.same({ nil, "vmm.ping: no complete response within 0.2 s", "timeout" }, { ok, err, kind })
    assert.is_true(secs >= 0.19 and secs < 1.5, "took " .. secs)
    -- a per-call timeout overrides the client's
    secs, ok, err = timed(function() return api:create(v.cfg, { timeout = 0.05 }) end)
    assert.same({ nil, "vm.create: no complete response within 0.05 s" }, { ok, err })
    assert.is_true(secs < 1)
  end)

  it("a socket path that does not exist", function()
    local dir = H.tmpdir()
    local api = chapi.new(dir .. "/none.sock", { timeout = 1 })
    assert.same({ nil, "vmm.ping: connect " .. dir .. "/none.sock: No such file or directory", "connect" },
                { api:ping() })
    assert.same({ nil, "connect " .. dir .. "/none.sock: No such file or directory", "connect" },
                { api:request("GET", "vmm.ping") })
  end)
end)

describe("chapi against a fake HTTP server", function()
  local function api_for(mode, timeout)
    local path = S.fake_http(mode)
    return chapi.new(path, { timeout = timeout or 5 })
  end

  it("sends HTTP/1.1 requests: GET without a body, PUT with JSON or Content-Length: 0, fds with the request", function()
    local api = api_for("echo")
    local r = assert(api:ping())
    assert.same({ "GET", "/api/v1/vmm.ping", "", 0 }, { r.method, r.target, r.body, r.fds })
    assert.same({ "Host: localhost", "Accept: application/json", "Connection: close" }, r.headers)
    r = assert(api:boot())
    assert.same({ "PUT", "/api/v1/vm.boot", "" }, { r.method, r.target, r.body })
    assert.same({ "Host: localhost", "Accept: application/json", "Content-Length: 0", "Connection: close" },
                r.headers)
    local a, b = core.socket.pair()
    r = assert(api:add_net({ mac = "52:54:00:00:00:01" }, { a, b }))
    assert.same({ "PUT", "/api/v1/vm.add-net", 2 }, { r.method, r.target, r.fds })
    assert.same({ mac = "52:54:00:00:00:01" }, core.json.decode(r.body))
    assert.same({ "Host: localhost", "Accept: application/json", "Content-Type: application/json",
                  "Content-Length: 27", "Connection: close" }, r.headers)
    a:close(); b:close()
  end)

  it("decodes a chunked body sent in several writes", function()
    assert.same({ state = "Running", list = { 1, 2, 3 } }, api_for("chunked"):info())
  end)

  it("turns a chunked error chain into the message", function()
    assert.same({ nil, "vm.boot: 500 Internal Server Error: The VM could not boot: VM is not created", 500 },
                { api_for("chunked-error"):boot() })
  end)

  it("reads a body that ends with the connection", function()
    assert.same({ ["until"] = "close" }, api_for("no-length"):info())
  end)

  it("skips 100 Continue; a 200 without a body is success", function()
    assert.is_true(api_for("continue"):boot())
    assert.is_true(api_for("empty-200"):vmm_shutdown())
  end)

  it("a 200 whose body is not JSON is an error", function()
    local ok, err, kind = api_for("not-json"):info()
    assert.same({ nil, "protocol" }, { ok, kind })
    assert.matches("^vm%.info: 200 OK with a body that is not JSON %(json: .*%): 'hello, this is not JSON'$", err)
  end)

  it("error bodies that are text or micro_http's { error } object", function()
    assert.same({ nil, "vm.boot: 500 Internal Server Error: boom", 500 }, { api_for("text-error"):boot() })
    assert.same({ nil, "vm.boot: 400 Bad Request: Invalid request. All previous unanswered requests will be dropped.",
                  400 }, { api_for("object-error"):boot() })
  end)

  local broken = {
    { "not-http", "vmm.ping: not an HTTP/1.x response: 'SSH-2.0-OpenSSH_9.2'", "protocol" },
    { "bad-header", "vmm.ping: malformed response header line: 'this is no header'", "protocol" },
    { "bad-length", "vmm.ping: invalid Content-Length 'abc'", "protocol" },
    { "huge-length", "vmm.ping: a body of 999999999999 bytes (more than 8388608)", "protocol" },
    { "bad-chunk", "vmm.ping: malformed chunk size line: 'zz'", "protocol" },
    { "close-early", "vmm.ping: the server closed the connection before a complete response", "closed" },
    { "close-before", "vmm.ping: the server closed the connection before a complete response", "closed" },
  }
  for _, case in ipairs(broken) do
    it("fails clearly on a broken reply (" .. case[1] .. ")", function()
      assert.same({ nil, case[2], case[3] }, { api_for(case[1]):ping() })
    end)
  end

  it("times out on a server that accepts and never answers", function()
    local api = api_for("hang", 0.2)
    local secs, ok, err, kind = timed(function() return api:info() end)
    assert.same({ nil, "vm.info: no complete response within 0.2 s", "timeout" }, { ok, err, kind })
    assert.is_true(secs >= 0.19 and secs < 1.5, "took " .. secs)
    -- the next call works the same way (nothing was left half-read)
    secs = timed(function() return api:info() end)
    assert.is_true(secs < 1.5)
  end)
end)
