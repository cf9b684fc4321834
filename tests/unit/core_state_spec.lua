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

  it("tightens a run dir with group or other bits", function()
    assert(fs.mkdir(base .. "/run", "0755"))
    local s = assert(core.state.open(base .. "/run"))
    assert.equal(octal("700"), fs.stat(base .. "/run").mode)
    s:close()
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
