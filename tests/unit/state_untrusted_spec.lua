-- The vmlua executable against run dirs holding entries it must not trust
-- (no VM: the entries are written by hand). What the store refuses or
-- reports as corrupt (core.state, tests/unit/core_state_spec.lua) keeps
-- `ps`, `gc`, `inspect` and `stop` working for the other sandboxes, and an
-- entry owned by another user is never acted on.
local core = require "vmlua.core"
local H = require "support.h"
local S = require "support.servers"
local json = core.json

local NOBODY = 65534

local base, run
before_each(function()
  base = H.tmpdir()
  run = base .. "/run"
  assert(core.fs.mkdir(run, "0700"))
end)
after_each(function()
  assert.same({}, S.cleanup())
  H.cleanup_tmp()
end)

local function entry(id, text)
  assert(core.fs.mkdir(run .. "/" .. id, "0700"))
  H.write(run .. "/" .. id .. "/state.json", text)
end

local function vmlua(...)
  return S.vmlua({ ... }, { VMLUA_RUN_DIR = run })
end

describe("an ill-typed state.json (issue 12 finding 10)", function()
  before_each(function()
    entry("bad", '{"schema":1,"status":"running","supervisor":{"pid":0,"start_time":1}}')
    entry("good", '{"schema":1,"id":"good","status":"stopped","hypervisor":"qemu","recipe":"/r.lua"}')
  end)

  it("is shown as corrupt by ps, and the others are listed", function()
    local code, out, err = vmlua("ps", "--json")
    assert.equal(0, code, err)
    local rows = assert(json.decode(out))
    assert.equal(2, #rows)
    assert.same({ "bad", "corrupt" }, { rows[1].id, rows[1].status })
    assert.matches("supervisor%.pid: 0 is not a process id", rows[1].recipe)
    assert.same({ "good", "stopped" }, { rows[2].id, rows[2].status })
    code, out, err = vmlua("ps")
    assert.equal(0, code, err)
    assert.matches("\nbad +%- +corrupt", out)
  end)

  it("is skipped by gc, which goes on with the others", function()
    local code, out, err = vmlua("gc")
    assert.equal(0, code, err)
    assert.equal("removed good\n", out)
    assert.matches("gc: skipping bad: state file " .. run:gsub("%p", "%%%0") .. "/bad/state%.json: supervisor%.pid", err)
    assert.is_true(core.fs.exists(run .. "/bad/state.json"))
    assert.is_false(core.fs.exists(run .. "/good"))
  end)

  it("is reported by inspect, which still shows the others", function()
    local code, out, err = vmlua("inspect", "good")
    assert.equal(0, code, err)
    assert.equal("stopped", assert(json.decode(out)).status)
    code, out, err = vmlua("inspect", "bad")
    assert.equal(1, code)
    assert.matches("supervisor%.pid: 0 is not a process id %(an integer > 0%)", err)
    assert.equal("", out)
  end)
end)

describe("an entry owned by another user (issue 12 finding 3, the store's part)", function()
  local victim, marker, listener, sock
  before_each(function()
    -- a process of another user, a directory of theirs with a socket, and
    -- a recipe that would leave a marker if anything ran it
    victim = S.track(assert(core.spawn { argv = { "setpriv", "--reuid=" .. NOBODY, "--regid=" .. NOBODY,
                                                  "--clear-groups", "sleep", "300" } }), "victim")
    local foreign = base .. "/foreign"
    assert(core.fs.mkdir(foreign, "0755"))
    sock = foreign .. "/s.sock"
    listener = assert(core.socket.listen(sock))
    assert(os.execute(string.format("chown -R %d %s", NOBODY, foreign)))
    marker = base .. "/recipe-ran"
    H.write(base .. "/evil.lua", string.format("io.open(%q, 'w'):close()\n", marker))
    local start = assert(core.proc.start_time(victim.pid))
    local proc = { pid = victim.pid, start_time = start }
    entry("evil", json.encode {
      schema = 1, id = "evil", status = "running", hypervisor = "qemu", recipe = base .. "/evil.lua",
      dir = foreign, sockets = { qmp = sock }, supervisor = proc, processes = { hypervisor = proc },
      pid = victim.pid, stop_policy = { { step = "quit", grace = 1 } },
    })
    assert(os.execute(string.format("chown -R %d %s/evil", NOBODY, run)))
  end)
  after_each(function() listener:close() end)

  local function untouched()
    assert.is_false(core.fs.exists(marker), "the recipe ran")
    assert.is_true(victim:alive(), "the process was signalled")
    assert.equal("socket", core.fs.stat(sock).type, "the socket was removed")
    assert.is_true(core.fs.exists(run .. "/evil/state.json"))
  end

  it("is refused by stop, inspect and gc, and left out of ps", function()
    local owned = "sandbox dir " .. run:gsub("%p", "%%%0") .. "/evil: owned by uid " .. NOBODY .. ", not 0"
    local code, _, err = vmlua("stop", "evil")
    assert.equal(1, code)
    assert.matches(owned, err)
    untouched()
    code, _, err = vmlua("inspect", "evil")
    assert.equal(1, code)
    assert.matches(owned, err)
    local out
    code, out, err = vmlua("ps")
    assert.equal(0, code, err)
    assert.not_matches("evil", out)
    code, out, err = vmlua("gc")
    assert.equal(0, code, err)
    assert.equal("nothing to remove\n", out)
    untouched()
  end)
end)
