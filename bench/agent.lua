--- The guest agent on the real guest (scripts/recipes/qemu-demo.lua: the
-- guest kit's qemu-ga on a virtio-serial port, QEMU/TCG):
--
-- 1. a command's round trip, `true` run in the guest and its status back:
--    sb:exec{"true"} on the sandbox found by id (vmlua.sandbox.control
--    attach: connect, guest-sync-delimited, guest-exec, guest-exec-status
--    polled, close) against a bare QGA client in this file doing the same
--    exchange with the same polling, written as tersely as possible; both in
--    the same run, interleaved;
-- 2. `vmlua exec ID -- true`, vmlua's start-up included;
-- 3. `vmlua run RECIPE -- true` (boot, agent ready, the command, stop) against
--    the same recipe's `vmlua run --detach` (boot → ready) plus `vmlua stop`.
--
--   lua5.4 bench/agent.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 5 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vba")
local run = tmp .. "/run"
local share = tmp .. "/share"
B.scratch = tmp
local venv = B.vmlua_env(run)
local recipe = B.root .. "/scripts/recipes/qemu-demo.lua"
local m0 = core.monotonic()
assert(core.fs.mkdir(share, tonumber("755", 8)))
local ROUND_TRIPS = o.quick and 3 or 40

local function recipe_args(id)
  return { "--set", "id=" .. id, "--set", "share=" .. share, "--set", "guest=" .. B.guest }
end

local function vmlua_argv(...)
  return { B.vmlua, ... }
end

-- ---- the bare client -----------------------------------------------------

-- Read until a line arrives (and, after a sync, until the 0xFF before it).
local function read_reply(s, after_sentinel)
  local buf = ""
  while true do
    local chunk = assert(s:recv(65536, 30))
    buf = buf .. chunk
    local from = after_sentinel and buf:find("\255", 1, true)
    if after_sentinel and not from then buf = "" end
    local nl = buf:find("\n", from or 1, true)
    if nl then return buf:sub((from or 0) + 1, nl - 1) end
  end
end

local bare_id = 0
local function bare_exec_true(path)
  local s = assert(core.socket.connect(path))
  bare_id = bare_id + 1
  assert(s:send('\255{"execute":"guest-sync-delimited","arguments":{"id":' .. bare_id .. '}}\n'))
  assert(read_reply(s, true) == '{"return": ' .. bare_id .. '}')
  assert(s:send('{"execute":"guest-exec","arguments":{"path":"true","capture-output":true}}\n'))
  local pid = assert(read_reply(s):match('"pid": (%d+)'))
  local delay = 0.002
  while true do
    assert(s:send('{"execute":"guest-exec-status","arguments":{"pid":' .. pid .. '}}\n'))
    if read_reply(s):find('"exited": true', 1, true) then break end
    core.wait({ { readable = s } }, delay)
    delay = math.min(delay * 2, 0.1)
  end
  s:close()
end

-- ---- 1 and 2: a detached sandbox ----------------------------------------

B.check(vmlua_argv("run", "--detach", recipe, table.unpack(recipe_args("ag"))), { env = venv, timeout = 180 })
local sb = assert(require("vmlua.sandbox.control").attach("ag", run))
-- both clients go through the supervisor's relay, as every client of a
-- supervised QEMU sandbox does (vmlua.sandbox.agent_relay)
local relay_sock = run .. "/ag/agent.sock"

local via_sb, via_bare = {}, {}
for i = 1, ROUND_TRIPS do
  local function timed_sb()
    local t0 = core.monotonic()
    local r = assert(sb:exec { "true" })
    assert(r.status == 0)
    return core.monotonic() - t0
  end
  local function timed_bare()
    local t0 = core.monotonic()
    bare_exec_true(relay_sock)
    return core.monotonic() - t0
  end
  if i % 2 == 1 then via_sb[i] = timed_sb(); via_bare[i] = timed_bare()
  else via_bare[i] = timed_bare(); via_sb[i] = timed_sb() end
end

local via_cli = {}
for i = 1, ROUND_TRIPS do
  local r = B.check(vmlua_argv("exec", "ag", "--", "true"), { env = venv })
  via_cli[i] = r.seconds
end
B.check(vmlua_argv("stop", "ag"), { env = venv, timeout = 60 })

B.section(string.format("The guest agent: a command's round trip (%d each, interleaved)", ROUND_TRIPS),
          "Median (min–max) in milliseconds for `true` run in the guest and its exit status back, " ..
          "through the guest kit's qemu-ga on a virtio-serial port (QEMU q35, TCG), each from a new " ..
          "connection to the supervisor's relay (agent.sock, which holds the port open): connect, " ..
          "guest-sync-delimited, guest-exec, guest-exec-status polled (2 ms, " ..
          "doubling to 100 ms), close. The bare client does the same exchange in a dozen lines of Lua " ..
          "with no checks. `vmlua exec` is the whole command: vmlua's start-up, the state lookup, the " ..
          "round trip.")
B.table({ "client", "round trip (ms)" }, {
  { "sb:exec{\"true\"} (vmlua.sandbox.control attach)", { via_sb, "ms", name = "agent exec sb:exec" } },
  { "bare QGA client (same exchange)", { via_bare, "ms", name = "agent exec bare client" } },
  { "**ratio sb:exec / bare**", { B.ratios(via_sb, via_bare), "x", name = "ratio agent exec sb/bare" } },
  { "`vmlua exec ID -- true` (start-up included)", { via_cli, "ms", name = "agent vmlua exec" } },
})

-- ---- 3: one-shot against boot → ready + stop -------------------------------

local oneshot, ready, stopped = {}, {}, {}
-- one-shot: the recipe's on_ready does nothing when a command is given
local function one(i)
  local argv = vmlua_argv("run", recipe, table.unpack(recipe_args("os" .. i)))
  argv[#argv + 1] = "--"
  argv[#argv + 1] = "true"
  return B.check(argv, { env = venv, timeout = 180 }).seconds
end
local function detached(i)
  local up = B.check(vmlua_argv("run", "--detach", recipe, table.unpack(recipe_args("dt" .. i))),
                     { env = venv, timeout = 180 })
  local down = B.check(vmlua_argv("stop", "dt" .. i), { env = venv, timeout = 60 })
  return up.seconds, down.seconds
end
for i = 1, o.runs do
  if i % 2 == 1 then
    oneshot[i] = one(i)
    ready[i], stopped[i] = detached(i)
  else
    ready[i], stopped[i] = detached(i)
    oneshot[i] = one(i)
  end
end
local both = {}
for i = 1, o.runs do both[i] = ready[i] + stopped[i] end

B.section(string.format("One-shot: vmlua run RECIPE -- true (%d runs)", o.runs),
          "Median (min–max) in seconds, qemu-demo (q35, TCG, virtio-fs share, agent). *one-shot*: " ..
          "`vmlua run RECIPE -- true`, from start to its exit (boot, the agent ready, the command, " ..
          "the stop policy: guest-shutdown). *boot → ready*: `vmlua run --detach` of the same recipe " ..
          "returning; *stop*: `vmlua stop` of it. The one-shot's own cost is what it takes beyond the " ..
          "two.")
B.table({ "what", "seconds" }, {
  { "one-shot `vmlua run RECIPE -- true`", { oneshot, "s", name = "agent one-shot run" } },
  { "`vmlua run --detach` (boot → ready)", { ready, "s", name = "agent detached boot->ready" } },
  { "`vmlua stop`", { stopped, "s", name = "agent stop" } },
  { "boot → ready + stop", { both, "s", name = "agent ready+stop" } },
  { "**ratio one-shot / (boot → ready + stop)**",
    { B.ratios(oneshot, both), "x", name = "ratio one-shot/ready+stop" } },
})

B.assert_no_strays(tmp)
B.note(string.format("agent benchmark: %.1f s", core.monotonic() - m0))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("agent")
