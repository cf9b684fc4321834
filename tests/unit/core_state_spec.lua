-- core.state: the run dir, crash-safe state files, locks.
-- (The kill-between-write-and-rename case is in tests/c/test_state.c, which
-- can inject the fault.)
local core = require "vmlua.core"
local H = require "support.h"
local child = require "support.child"
local json = core.json
local fs = core.fs

local ENOENT, EWOULDBLOCK, EINVAL, ELOOP, ENOTDIR, EPERM = 2, 11, 22, 40, 20, 1
local BAD_ID = "invalid sandbox id '%s': use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"

local function octal(s) return tonumber(s, 8) end

describe("core.state.open", function()
  local base
  before_each(function() base = H.tmpdir() end)
  after_each(function() H.cleanup_tmp() end)

  it("creates a missing run dir 0700", function()
    local s = assert(core.state.open(base .. "/run"))
    assert.equal(base .. "/run", s.dir)
    assert.matches("^vmlua.Store %(", tostring(s))
    local st = fs.stat(base .. "/run")
    assert.equal("dir", st.type)
    assert.equal(octal("700"), st.mode)
    s:close()
  end)

  it("takes a run dir readable by others as it is (never chmod-ing it)", function()
    assert(fs.mkdir(base .. "/run", "0755"))
    local s = assert(core.state.open(base .. "/run"))
    assert.equal(octal("755"), fs.stat(base .. "/run").mode)
    s:close()
  end)

  it("refuses a run dir writable by group or others, naming the fix, and leaves its mode", function()
    -- issue 12 finding 4: it was silently chmod-ed and then trusted
    for _, mode in ipairs { "0777", "0775", "0757", "1777", "0720" } do
      local dir = base .. "/open" .. mode
      assert(fs.mkdir(dir, mode))
      assert(os.execute("chmod " .. mode .. " " .. dir)) -- past the umask
      local shown = mode:sub(1, 1) == "0" and mode or mode
      assert.same({ nil, string.format("run dir %s: writable by group or others (mode %s); fix it with: chmod 0700 %s",
                                       dir, shown, dir), EPERM },
        { core.state.open(dir) })
      assert.equal(octal(mode), fs.stat(dir).mode)
    end
  end)

  it("refuses a symlink", function()
    assert(fs.mkdir(base .. "/real"))
    assert(os.execute("ln -s " .. base .. "/real " .. base .. "/link"))
    assert.same({ nil, "run dir " .. base .. "/link: is a symlink", ELOOP },
      { core.state.open(base .. "/link") })
  end)

  it("refuses something that is not a directory", function()
    H.write(base .. "/file", "x")
    assert.same({ nil, "run dir " .. base .. "/file: not a directory", ENOTDIR },
      { core.state.open(base .. "/file") })
  end)

  it("refuses a run dir owned by another user", function()
    assert(fs.mkdir(base .. "/theirs"))
    assert(os.execute("chown 1000 " .. base .. "/theirs"))
    assert.same({ nil, "run dir " .. base .. "/theirs: owned by uid 1000, not " .. core.getuid(), EPERM },
      { core.state.open(base .. "/theirs") })
  end)

  it("reports a run dir that cannot be created", function()
    assert.same({ nil, "run dir " .. base .. "/no/run: No such file or directory", ENOENT },
      { core.state.open(base .. "/no/run") })
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.state.open() end)
    local s = assert(core.state.open(base .. "/run"))
    s:close()
    assert.equal("vmlua.Store (closed)", tostring(s))
    assert.is_true(s:close())
    assert.has_error(function() s:load("a") end, "attempt to use a closed store")
  end)
end)

describe("core.state store", function()
  local base, s
  before_each(function()
    base = H.tmpdir()
    s = assert(core.state.open(base .. "/run"))
  end)
  after_each(function()
    s:close()
    H.cleanup_tmp()
  end)

  it("saves and loads a state, marked with schema 1", function()
    local state = { id = "vm1", pid = 1234, start_time = 987654321, ready = true, ratio = 0.5,
                    sockets = { qmp = "/run/x/qmp.sock" }, argv = { "qemu", "-m", "256" },
                    devices = json.array(), extra = json.object(), gone = json.null }
    assert.is_true(s:save("vm1", state))
    local back = assert(s:load("vm1"))
    assert.equal(1, back.schema)
    back.schema = nil
    assert.same(state, back)
    assert.equal("integer", math.type(back.pid))
    assert.equal("float", math.type(back.ratio))
    assert.equal('[]', json.encode(back.devices))
    assert.equal('{}', json.encode(back.extra))
  end)

  it("writes state.json 0600 in a 0700 sandbox dir, and nothing else", function()
    assert(s:save("vm1", { a = 1 }))
    assert.equal(octal("700"), fs.stat(base .. "/run/vm1").mode)
    assert.equal(octal("600"), fs.stat(base .. "/run/vm1/state.json").mode)
    assert.same({ "state.json" }, fs.list(base .. "/run/vm1"))
    local on_disk = json.decode(H.read(base .. "/run/vm1/state.json"))
    assert.same({ a = 1, schema = 1 }, on_disk)
  end)

  it("replaces the state and overrides a schema field", function()
    assert(s:save("vm1", { gen = 1 }))
    assert(s:save("vm1", { gen = 2, schema = 7 }))
    assert.same({ gen = 2, schema = 1 }, s:load("vm1"))
    assert.same({ "state.json" }, fs.list(base .. "/run/vm1"))
  end)

  it("has no state for an unknown sandbox", function()
    assert.same({ nil, "no state for sandbox 'nope'", ENOENT }, { s:load("nope") })
    assert(s:dir_of("empty"))
    assert.same({ nil, "no state for sandbox 'empty'", ENOENT }, { s:load("empty") })
  end)

  it("reports corrupt state files by path, never raising", function()
    local path = base .. "/run/bad/state.json"
    assert(s:dir_of("bad"))
    local cases = {
      { "", "empty" },
      { '{"schema": 1, "pid": 4', "json: unexpected end of data at offset 22" },
      { "{\"schema\": 1}\n\0\0\0", "json: unexpected character at offset 14" },
      { "return { pid = 1 }", "json: unexpected character at offset 0" },
      { "[1, 2]", "not a JSON object" },
      { "null", "not a JSON object" },
      { '{"pid": 1}', "no schema field (expected 1)" },
      { '{"schema": 2}', "schema 2 is not supported (expected 1)" },
      { '{"schema": 1.0}', "schema 1.0 is not supported (expected 1)" },
      { string.rep(" ", 17 * 1024 * 1024), "too large (over 16777216 bytes)" },
    }
    for _, c in ipairs(cases) do
      H.write(path, c[1])
      local v, err, code = s:load("bad")
      assert.is_nil(v)
      assert.equal("state file " .. path .. ": " .. c[2], err)
      assert.is_nil(code)
    end
  end)

  it("refuses a symlinked state file", function()
    assert(s:dir_of("ln"))
    H.write(base .. "/elsewhere.json", '{"schema": 1}')
    assert(os.execute("ln -s " .. base .. "/elsewhere.json " .. base .. "/run/ln/state.json"))
    assert.same({ nil, "state file " .. base .. "/run/ln/state.json: is a symlink", ELOOP }, { s:load("ln") })
  end)

  it("refuses a sandbox dir that is a symlink, even to a good state", function()
    assert(s:save("real", { a = 1 }))
    assert(os.execute("ln -s " .. base .. "/run/real " .. base .. "/run/alias"))
    assert.same({ nil, "sandbox dir " .. base .. "/run/alias: is a symlink", ELOOP }, { s:load("alias") })
    assert.same({ "real" }, s:list())
    assert.same({ a = 1, schema = 1 }, (s:load("real")))
    H.write(base .. "/run/flat", "x")
    assert.same({ nil, "sandbox dir " .. base .. "/run/flat: not a directory", ENOTDIR }, { s:load("flat") })
  end)

  it("returns nil, msg for a state that is not an object", function()
    assert.same({ nil, "state for sandbox 'vm1' must be a JSON object", EINVAL }, { s:save("vm1", json.array()) })
    assert.same({ nil, "state for sandbox 'vm1' must be a JSON object", EINVAL }, { s:save("vm1", { 1, 2 }) })
  end)

  it("raises for a state JSON cannot hold, leaving nothing behind", function()
    assert.has_error(function() s:save("vm1", { f = print }) end, "json: cannot encode a function")
    assert.has_error(function() s:save("vm1", "text") end)
    assert.is_false(fs.exists(base .. "/run/vm1"))
  end)

  it("validates ids in every method", function()
    for _, id in ipairs { "", ".hidden", "-x", "a/b", "..", "a\0b", string.rep("x", 65) } do
      local shown = id:gsub("%z", "\\x00")
      local msg = BAD_ID:format(shown)
      assert.same({ nil, msg, EINVAL }, { s:save(id, {}) })
      assert.same({ nil, msg, EINVAL }, { s:load(id) })
      assert.same({ nil, msg, EINVAL }, { s:remove(id) })
      assert.same({ nil, msg, EINVAL }, { s:dir_of(id) })
      assert.same({ nil, msg, EINVAL }, { s:lock(id) })
    end
    assert.same({}, fs.list(base .. "/run"))
  end)

  it("lists sandboxes with a state, sorted", function()
    for _, id in ipairs { "zeta", "alpha", "m-2", "m-10" } do assert(s:save(id, {})) end
    assert(s:dir_of("no-state"))
    assert(fs.mkdir(base .. "/run/.hidden"))
    assert(os.execute("ln -s " .. base .. "/run/alpha " .. base .. "/run/linked"))
    assert.same({ "alpha", "m-10", "m-2", "zeta" }, s:list())
  end)

  it("dir_of creates the sandbox dir", function()
    assert.equal(base .. "/run/vm9", s:dir_of("vm9"))
    assert.equal(octal("700"), fs.stat(base .. "/run/vm9").mode)
    assert.equal(base .. "/run/vm9", s:dir_of("vm9"))
  end)

  it("removes a sandbox dir without following symlinks", function()
    assert(s:save("vm1", { a = 1 }))
    local d = s:dir_of("vm1")
    assert(fs.mkdir(d .. "/logs"))
    H.write(d .. "/logs/serial.log", "boot")
    H.write(base .. "/precious", "keep")
    assert(os.execute("ln -s " .. base .. "/precious " .. d .. "/link"))
    assert(os.execute("ln -s " .. base .. " " .. d .. "/dirlink"))
    local l = assert(core.socket.listen(d .. "/qmp.sock"))
    assert.is_true(s:remove("vm1"))
    l:close()
    assert.is_false(fs.exists(d))
    assert.equal("keep", H.read(base .. "/precious"))
    assert.same({ nil, "no state for sandbox 'vm1'", ENOENT }, { s:remove("vm1") })
    assert.same({}, s:list())
  end)
end)

describe("core.state locks", function()
  local base, s
  before_each(function()
    base = H.tmpdir()
    s = assert(core.state.open(base .. "/run"))
  end)
  after_each(function()
    s:close()
    H.cleanup_tmp()
  end)

  it("is exclusive, and free again once unlocked", function()
    local l = assert(s:lock("vm1"))
    assert.equal("vm1", l.id)
    assert.equal("vmlua.Lock (vm1)", tostring(l))
    assert.same({ nil, "sandbox 'vm1' is locked by another process", EWOULDBLOCK }, { s:lock("vm1") })
    assert.same({ nil, "sandbox 'vm1' is locked by another process", EWOULDBLOCK }, { s:lock("vm1", false) })
    assert.is_true(l:unlock())
    assert.is_true(l:unlock())
    assert.equal("vmlua.Lock (vm1, unlocked)", tostring(l))
    local again = assert(s:lock("vm1"))
    again:close()
    assert.equal(octal("600"), fs.stat(base .. "/run/vm1/lock").mode)
  end)

  it("is released at the end of a <close> scope", function()
    do
      local l <close> = assert(s:lock("vm1"))
      assert.is_nil(s:lock("vm1"))
      assert.equal("vm1", l.id)
    end
    assert(s:lock("vm1")):unlock()
  end)

  it("waits a number of seconds, then gives up", function()
    local l = assert(s:lock("vm1"))
    local t0 = core.monotonic()
    assert.same({ nil, "sandbox 'vm1' is locked by another process", EWOULDBLOCK }, { s:lock("vm1", 0.2) })
    local waited = core.monotonic() - t0
    assert.is_true(waited >= 0.2 and waited < 2, "waited " .. waited)
    l:unlock()
  end)

  -- A holder in another process: it takes the lock, says so over a socket,
  -- and releases it `hold` seconds after the go (a deliberate delay).
  local function holder(hold)
    local l = assert(core.socket.listen(base .. "/ctl.sock"))
    local p = child.start(string.format([[
      local core = require "vmlua.core"
      local s = assert(core.state.open(%q))
      local c = assert(core.socket.connect(%q, 5))
      local lock = assert(s:lock("vm1"))
      c:send("locked\n")
      c:read_line(%s)   -- times out: the delay
      lock:unlock()
      c:close()
    ]], base .. "/run", base .. "/ctl.sock", hold))
    local c = assert(l:accept(5))
    assert.equal("locked", c:read_line(5))
    l:close()
    return p, c
  end

  it("waits for a holder in another process (wait = seconds)", function()
    local p, c = holder(0.2)
    assert.same({ nil, "sandbox 'vm1' is locked by another process", EWOULDBLOCK }, { s:lock("vm1") })
    local t0 = core.monotonic()
    local l = assert(s:lock("vm1", 5))
    local waited = core.monotonic() - t0
    assert.is_true(waited > 0.1 and waited < 0.7, "woken by the release, not a poll tick: " .. waited)
    l:unlock()
    c:close()
    assert.is_true(p:close())
  end)

  it("waits for a holder in another process (wait = true)", function()
    local p, c = holder(0.2)
    local l = assert(s:lock("vm1", true))
    l:unlock()
    c:close()
    assert.is_true(p:close())
  end)

  it("checks the wait argument", function()
    assert.has_error(function() s:lock("vm1", -1) end)
    assert.has_error(function() s:lock("vm1", "soon") end)
    assert.has_error(function() s:lock() end)
  end)
end)

describe("core.state entries owned by another user", function()
  -- issue 12 findings 3 and 4: the store acts only on the caller's entries.
  -- These tests run as root and chown entries to nobody; nothing in them
  -- may be changed, locked or removed.
  local NOBODY = 65534
  local base, run, s
  before_each(function()
    base = H.tmpdir()
    run = base .. "/run"
    s = assert(core.state.open(run))
    assert(s:save("mine", { status = "stopped" }))
  end)
  after_each(function()
    s:close()
    H.cleanup_tmp()
  end)

  --- Every file below dir with its owner and content (to prove nothing changed).
  local function tree(dir)
    local out = {}
    for _, name in ipairs(fs.list(dir)) do
      local st = fs.stat(dir .. "/" .. name)
      out[name] = st.uid .. ":" .. (st.type == "file" and H.read(dir .. "/" .. name) or st.type)
    end
    return out
  end

  local function refused(id, msg)
    local before = tree(run .. "/" .. id)
    assert.same({ nil, msg, EPERM }, { s:load(id) })
    assert.same({ nil, msg, EPERM }, { s:lock(id) })
    assert.same({ nil, msg, EPERM }, { s:dir_of(id) })
    assert.same({ nil, msg, EPERM }, { s:remove(id) })
    assert.same({ nil, msg, EPERM }, { s:save(id, { status = "running" }) })
    assert.same(before, tree(run .. "/" .. id))
  end

  it("refuses a sandbox dir owned by another uid, and leaves it out of list()", function()
    assert(s:save("evil", { status = "running", pid = 1, supervisor = { pid = 1, start_time = 0 } }))
    assert(os.execute(string.format("chown -R %d %s/evil", NOBODY, run)))
    assert.same({ "mine" }, s:list())
    refused("evil", string.format("sandbox dir %s/evil: owned by uid %d, not %d", run, NOBODY, core.getuid()))
    assert.same({ status = "stopped", schema = 1 }, (s:load("mine")))
  end)

  it("refuses a state.json owned by another uid in a dir of ours", function()
    assert(s:save("planted", { status = "running" }))
    assert(os.execute(string.format("chown %d %s/planted/state.json", NOBODY, run)))
    assert.same({ "mine" }, s:list())
    refused("planted", string.format("state file %s/planted/state.json: owned by uid %d, not %d", run, NOBODY,
                                     core.getuid()))
  end)

  it("refuses a sandbox dir of ours that others can write to, naming the fix", function()
    assert(s:save("wide", { status = "running" }))
    assert(os.execute("chmod 0777 " .. run .. "/wide"))
    refused("wide", string.format("sandbox dir %s/wide: writable by group or others (mode 0777); "
                                  .. "fix it with: chmod 0700 %s/wide", run, run))
    assert.same({ "mine", "wide" }, s:list())
  end)

  it("still removes a symlink of ours planted as an entry, keeping its target", function()
    assert(fs.mkdir(base .. "/target"))
    assert(os.execute("ln -s " .. base .. "/target " .. run .. "/link"))
    assert.is_true(s:remove("link"))
    assert.is_false(fs.exists(run .. "/link"))
    assert.is_true(fs.is_dir(base .. "/target"))
  end)
end)

describe("core.state load checks the members vmlua acts on", function()
  -- issue 12 finding 10: one ill-typed but valid state.json broke ps, gc
  -- and inspect for every sandbox; it must load as corrupt (two values)
  local base, s, path
  before_each(function()
    base = H.tmpdir()
    s = assert(core.state.open(base .. "/run"))
    assert(s:dir_of("vm1"))
    path = base .. "/run/vm1/state.json"
  end)
  after_each(function()
    s:close()
    H.cleanup_tmp()
  end)

  local PID, ST = "is not a process id (an integer > 0)", "is not a start time (an integer >= 0)"
  local bad = {
    { '"supervisor":{"pid":0,"start_time":1}', "supervisor.pid: 0 " .. PID },
    { '"supervisor":{"pid":"abc","start_time":1}', 'supervisor.pid: "abc" ' .. PID },
    { '"supervisor":{"pid":1.5,"start_time":1}', "supervisor.pid: 1.5 " .. PID },
    { '"supervisor":{"pid":4294967297,"start_time":1}', "supervisor.pid: 4294967297 " .. PID },
    { '"supervisor":{"pid":7,"start_time":-1}', "supervisor.start_time: -1 " .. ST },
    { '"supervisor":{"pid":7}', "supervisor.start_time: null " .. ST },
    { '"supervisor":{"pid":7,"start_time":1e3}', "supervisor.start_time: 1e3 " .. ST },
    { '"supervisor":[7,1]', "supervisor: [7,1] is not an object with pid and start_time" },
    { '"processes":"str"', 'processes: "str" is not an object of processes' },
    { '"processes":{"qemu":{"pid":-3,"start_time":1}}', "processes.qemu.pid: -3 " .. PID },
    { '"processes":{"qemu":5}', "processes.qemu: 5 is not an object with pid and start_time" },
    { '"ready_at":"x"', 'ready_at: "x" is not a time (a number >= 0)' },
    { '"ready_at":-2.5', "ready_at: -2.5 is not a time (a number >= 0)" },
    { '"ready_at":1e400', "ready_at: 1e400 is not a time (a number >= 0)" },
    { '"pid":0', "pid: 0 " .. PID },
    { '"status":"hacked"', 'status: "hacked" is not a status (new, starting, running, stopping, stopped, failed)' },
    { '"status":1', "status: 1 is not a status (new, starting, running, stopping, stopped, failed)" },
    { '"kind":"template"', 'status: "running" is not a template status (saving, ready)' },
    { '"id":"other"', 'id: "other" is not this sandbox\'s id' },
    { '"recipe":{"x":1}', 'recipe: {"x":1} is not a string' },
    { '"dir":"/a\\u0000b"', 'dir: "/a\\u0000b" is not a string' },
    { '"sockets":{"qmp":7}', 'sockets: {"qmp":7} holds a value that is not a path' },
    { '"sockets":3', "sockets: 3 is not an object of paths" },
    { '"stop_policy":[{"step":"quit","grace":-1}]', 'stop_policy: {"step":"quit","grace":-1} is not a step { step, name, grace >= 0 }' },
    { '"stop_policy":{}', "stop_policy: {} is not an array of steps" },
    { '"args":"x"', 'args: "x" is not an object or an array' },
  }
  for _, c in ipairs(bad) do
    it("{" .. c[1] .. "}", function()
      H.write(path, '{"schema":1,"status":"running",' .. c[1] .. "}")
      assert.same({ nil, "state file " .. path .. ": " .. c[2] }, { s:load("vm1") })
    end)
  end

  -- the template store (vmlua.sandbox.templates) keeps manifests whose
  -- statuses are a template's
  it("a template's manifest has a template's statuses", function()
    for _, status in ipairs { "saving", "ready" } do
      H.write(path, '{"schema":1,"kind":"template","status":"' .. status .. '"}')
      assert.equal(status, assert(s:load("vm1")).status)
    end
  end)

  it("loads a full state as vmlua writes it, and ignores members it does not know", function()
    local st = {
      id = "vm1", hypervisor = "qemu", recipe = "/r/x.lua", args = { mem = "512" }, dir = base .. "/run/vm1",
      created = 1700000000.25, updated = 1700000001, status = "running", pid = 4242,
      processes = { hypervisor = { pid = 4242, start_time = 99, role = "hypervisor", argv = { "qemu" }, log = "/l" } },
      sockets = { qmp = base .. "/run/vm1/qmp.sock" }, serial_log = "/s", control_socket = "/c",
      stop_policy = { { step = "powerdown", name = "powerdown", grace = 10 }, { step = "kill" } },
      supervisor = { pid = 4241, start_time = 98 }, ready_at = 1700000000.5, ready_mono = 12.5,
      ready_seconds = 0.25, exit = { how = "exited", code = 0 }, stop = { step = "quit" },
      future_member = { anything = true },
    }
    assert(s:save("vm1", st))
    local back = assert(s:load("vm1"))
    assert.equal(4241, back.supervisor.pid)
    assert.same({ anything = true }, back.future_member)
    H.write(path, '{"schema":1,"processes":{},"sockets":[],"stop_policy":[]}')
    assert(s:load("vm1"))
  end)
end)
