--- The QEMU guest agent in a sandbox: the recipe's `agent` field (schema,
-- normalisation, the defaults it brings), its channel in the plan (through
-- the builder's add_agent_channel; where the driver reaches it), the
-- `{ agent = true }` readiness probe, the "agent" stop step
-- (guest-shutdown) and the methods a sandbox gets from it: `sb:agent()`,
-- `sb:exec{...}`, `sb:push(host, guest)`, `sb:pull(guest, host)` — for the
-- runtime hooks receive, and for a running sandbox found by id
-- (`vmlua.sandbox.control`.attach).
--
-- The channel is recorded in state.json as `agent = { socket =, port =,
-- timeout = }`, so `vmlua exec ID` needs nothing but the state.
local S = require "vmlua.schema"
local core = require "vmlua.core"

local M = {}

--- The vsock port qemu-ga listens on (drivers that reach it over vsock).
M.DEFAULT_PORT = 1024
--- Seconds one call to the agent may take (connect and sync, a status poll,
-- a chunk of a file) before the agent counts as not answering.
M.DEFAULT_TIMEOUT = 10

local NEEDS = "add agent = true to the recipe"

-- ------------------------------------------------------------ the recipe

--- The schema of `agent` for a driver: true (false: none) or
-- `{ port =, timeout = }`; `port` only where the driver's channel has ports.
function M.schema(driver)
  local port = S.custom(function(v, path)
    if v == nil then return true end
    if not driver.agent.ports then
      return S.fail(path, "only applies where the agent is reached over vsock, not to %s (its agent channel is a %s)",
                    driver.title, driver.agent.transport)
    end
    return S.integer { min = 1, max = 0xffffffff }:check(v, path)
  end)
  return S.either({ S.boolean {}, S.record { port = port, timeout = S.number { min = 0 } } },
                  { describe = "true or { port =, timeout = }" })
end

local function has_agent_probe(ready)
  if type(ready) ~= "table" then return false end
  if ready.agent ~= nil then return true end
  for _, p in ipairs(ready) do
    if type(p) == "table" and p.agent ~= nil then return true end
  end
  return false
end

local function names_agent_step(stop)
  for _, s in ipairs(type(stop) == "table" and stop or {}) do
    local name = type(s) == "table" and (s[1] or s.step) or s
    if name == "agent" then return true end
  end
  return false
end

--- Cross-field rules of a recipe (run after its fields passed): an agent
-- probe or stop step needs the agent; helpers cannot wait for it.
function M.check(spec, path)
  local on = spec.agent ~= nil and spec.agent ~= false
  if has_agent_probe(spec.ready) and not on then
    return S.fail(S.join(path, "ready"), "an agent probe needs the guest agent: %s", NEEDS)
  end
  if names_agent_step(spec.stop) and not on then
    return S.fail(S.join(path, "stop"), "the agent stop step needs the guest agent: %s", NEEDS)
  end
  for i, h in ipairs(spec.helpers or {}) do
    if has_agent_probe(h.ready) then
      return S.fail(S.join(path, "helpers[" .. i .. "].ready"), "the agent probe is for the sandbox's ready, "
                    .. "not a helper's")
    end
  end
  if spec.ready ~= nil and type(spec.ready) == "table" and spec.ready.agent == false then
    return S.fail(S.join(path, "ready.agent"), "expected true")
  end
  return true
end

--- The normalised agent of a recipe: nil, or `{ port =, timeout = }`.
function M.normalize(driver, v)
  if v == nil or v == false then return nil end
  local t = type(v) == "table" and v or {}
  return { port = driver.agent.ports and (t.port or M.DEFAULT_PORT) or nil, timeout = t.timeout or M.DEFAULT_TIMEOUT }
end

--- The normalised `{ agent = true }` probe's own fields: its hint.
function M.normalize_probe(driver, p)
  return { hint = p.hint or driver.agent.hint }
end

--- With the agent, readiness by default is the agent answering.
function M.default_ready(driver, timeout)
  return { { kind = "agent", timeout = timeout, hint = driver.agent.hint } }
end

--- With the agent, the stop policy by default asks it first
-- (guest-shutdown), then goes on as the driver's default does.
function M.default_stop(driver)
  local out = { "agent" }
  for _, s in ipairs(driver.default_stop) do out[#out + 1] = s end
  return out
end

-- ------------------------------------------------------------ the plan

--- Wire the agent's channel into the plan's config and record it as
-- plan.agent = { socket =, port =, timeout = } (problems go to plan.errors).
function M.wire(sb, plan)
  if not sb.agent then return end
  local cfg, d = plan.config, plan.driver
  local channel = cfg:agent_channel()
  if not channel then
    local sock, err = core.paths.socket(plan.dir, d.agent.file)
    local ok
    if sock then ok, err = cfg:add_agent_channel { socket = sock, port = sb.agent.port } end
    if not ok then
      plan.errors[#plan.errors + 1] = "agent: cannot wire the guest agent's channel: " .. tostring(err)
      return
    end
    channel = cfg:agent_channel()
  end
  plan.agent = { socket = channel.socket, port = channel.port, timeout = sb.agent.timeout }
  plan.sockets.agent = channel.socket
end

-- ------------------------------------------------------------ reaching it

-- How a call to the agent waits when the stop signals are blocked (they
-- are in a supervisor: `vmlua run`): it also watches them, so a Ctrl-C
-- ends a long exec at once (and asks the sandbox to stop). nil otherwise:
-- plain core.wait.
local function signal_aware_wait(obj)
  local signals = require "vmlua.sandbox.signals"
  local blocked = {}
  for _, name in ipairs(core.signals.blocked()) do blocked[name] = true end
  for _, name in ipairs(signals.INTERRUPT) do
    if not blocked[name] then return nil end
  end
  return function(conds, until_t)
    local all = table.move(conds, 1, #conds, 1, {})
    all[#all + 1] = { signal = signals.INTERRUPT }
    local i, ev = core.wait(all, until_t and math.max(0, until_t - core.monotonic()))
    if i == #all then
      obj.stop_requested = true
      obj.interrupted_by = ev.signal
      return nil, "interrupted by " .. ev.signal
    end
    if i then return i end
    if ev == "timeout" then return false end
    return nil, ev
  end
end

--- A vmlua.qga client on the sandbox's agent (`obj` is a runtime or an
-- attached sandbox), or nil, message, class. `opts`: timeout, wait, hint
-- (false: none in the messages).
local function connect(obj, opts)
  local ch = obj.plan and obj.plan.agent
  if not ch then
    return nil, string.format("sandbox '%s' has no guest agent: %s", obj.id, NEEDS), "noagent"
  end
  opts = opts or {}
  local hint = obj.driver.agent.hint
  if opts.hint == false then hint = nil end
  local how = { timeout = opts.timeout or ch.timeout or M.DEFAULT_TIMEOUT, wait = opts.wait or signal_aware_wait(obj),
                hint = hint }
  -- the supervisor's own calls borrow the connection its relay holds
  if obj.agent_relay then return obj.agent_relay:borrow(how) end
  -- others go through the relay while the supervisor serves it
  local sock = ch.relay and core.socket.connect(ch.relay)
  if sock then
    how.socket, how.borrowed = ch.relay, false
    return require("vmlua.qga").over(sock, how)
  end
  return obj.driver.agent_connect(ch, how)
end

--- The "agent" stop step: guest-shutdown through the agent.
function M.shutdown(rt)
  local c, err = connect(rt, { timeout = math.min((rt.plan.agent or {}).timeout or M.DEFAULT_TIMEOUT, 3) })
  if not c then return nil, err end
  local ok, serr = c:shutdown()
  c:close()
  return ok, serr
end

--- The `{ agent = true }` probe: the agent answers guest-sync-delimited
-- (connect syncs), while the probe still watches the sandbox's processes
-- and the stop signals.
function M.probe(rt, _, deadline)
  local probes = require "vmlua.sandbox.probes"
  local function wait(conds, until_t)
    local i, fail = probes.wait_for(rt, conds, until_t)
    if i then return i end
    if fail.kind == "timeout" then return false end
    return nil, fail
  end
  local c, err, class, why = connect(rt, { timeout = probes.remaining(deadline), wait = wait, hint = false })
  if c then
    c:close()
    return true
  end
  if class == "interrupted" and type(why) == "table" then return nil, why end
  if class == "timeout" then return nil, { kind = "timeout" } end
  return nil, { kind = "error", message = err }
end

-- ------------------------------------------------------------ sb methods

local methods = {}
M.methods = methods

--- A vmlua.qga client on the sandbox's agent (close it when done: QEMU
-- serves one agent client at a time). `opts`: timeout.
function methods:agent(opts)
  return connect(self, opts)
end

--- Run a command in the guest (see vmlua.qga's exec): `{ status =, signal =,
-- stdout =, stderr = }`, or nil, message, class.
function methods:exec(spec)
  local c, err, class = connect(self)
  -- (a timeout here is the agent's, not the command's)
  if not c then return nil, err, class == "timeout" and "noanswer" or class end
  local res = table.pack(c:exec(spec))
  c:close()
  return table.unpack(res, 1, res.n)
end

local function absolute(guest)
  if type(guest) ~= "string" or guest:sub(1, 1) ~= "/" then
    return nil, string.format("guest path %s: give an absolute path", S.show(guest)), "usage"
  end
  return true
end

local function host_path(obj, p)
  if type(p) ~= "string" or p == "" then error("a host path expected, got " .. S.show(p), 3) end
  return obj.path and obj:path(p) or p
end

--- Copy host file `host` (relative: to the recipe's directory in a hook) to
-- guest path `guest` (absolute; created or truncated). Returns the number
-- of bytes, or nil, message, class.
function methods:push(host, guest)
  local src = host_path(self, host)
  local ok, err, class = absolute(guest)
  if not ok then return nil, err, class end
  local f, ferr = io.open(src, "rb")
  if not f then return nil, ferr, "host" end
  local c
  c, err, class = connect(self)
  if not c then f:close(); return nil, err, class end
  local n, perr, pclass = c:push(function() return f:read(require("vmlua.qga").CHUNK) end, guest)
  c:close()
  f:close()
  if not n then return nil, perr, pclass end
  return n
end

--- Copy guest file `guest` (absolute) to host path `host` (written to a
-- temporary file next to it, then renamed: a failed copy leaves nothing).
-- Returns the number of bytes, or nil, message, class.
function methods:pull(guest, host)
  local dst = host_path(self, host)
  local ok, err, class = absolute(guest)
  if not ok then return nil, err, class end
  local tmp = string.format("%s.vmlua-%d.tmp", dst, core.getpid())
  local f, ferr = io.open(tmp, "wb")
  if not f then return nil, ferr, "host" end
  local c
  c, err, class = connect(self)
  local n, perr, pclass
  if c then
    n, perr, pclass = c:pull(guest, function(chunk) return f:write(chunk) end)
    c:close()
  else
    perr, pclass = err, class
  end
  local closed, cerr = f:close()
  if n and not closed then n, perr, pclass = nil, cerr, "host" end
  if n then
    local renamed, rerr = os.rename(tmp, dst)
    if renamed then return n end
    perr, pclass = rerr, "host"
  end
  os.remove(tmp)
  return nil, perr, pclass
end

-- ------------------------------------------------------------ exit statuses

--- The exit statuses of `vmlua exec` and `vmlua run RECIPE -- CMD`, as
-- timeout(1) and shells have them: the command's own status, 128+N when a
-- signal N ended it, and these.
M.EXIT = {
  timeout = 124,   -- it ran past its timeout (and was killed in the guest)
  failed = 125,    -- vmlua could not run it or could not get its result whole
  noexec = 126,    -- the guest found it but cannot execute it
  notfound = 127,  -- the guest cannot find it
}

--- Write an exec's result (or the part that came) on our stdout and
-- stderr, as `vmlua exec` and the one-shot run do.
function M.write_output(res)
  if res.stdout and res.stdout ~= "" then io.stdout:write(res.stdout) end
  io.stdout:flush()
  if res.stderr and res.stderr ~= "" then io.stderr:write(res.stderr) end
  io.stderr:flush()
end

--- The exit status for an exec's result, or for its failure class.
function M.exit_status(res, class)
  if res then
    if res.signal then return 128 + res.signal end
    return res.status or M.EXIT.failed
  end
  return M.EXIT[class] or M.EXIT.failed
end

-- ------------------------------------------------------------ by id

local Attached = {}
Attached.__index = Attached
for k, fn in pairs(methods) do Attached[k] = fn end

function Attached:__tostring()
  return string.format("vmlua.sandbox(%s, %s, attached)", self.id, self.kind)
end

--- The agent's channel a state file records (`{ socket =, port =,
-- timeout = }`), if its socket is one to talk to (in the sandbox dir, or a
-- socket of this user's); else nil.
function M.channel_of(st, dir)
  local a = st.agent
  if type(a) ~= "table" or not require("vmlua.sandbox.liveness").usable_socket(dir, a.socket) then return nil end
  local relay = type(a.relay) == "string" and require("vmlua.sandbox.liveness").inside(dir, a.relay) and a.relay
  return { socket = a.socket, port = math.type(a.port) == "integer" and a.port or nil,
           timeout = type(a.timeout) == "number" and a.timeout or M.DEFAULT_TIMEOUT, relay = relay or nil }
end

--- A running sandbox from its state: `{ id =, kind =, dir =, state =,
-- status = }` with the agent methods (exec, push, pull, agent).
function M.attached(st, driver, dir, status)
  return setmetatable({ id = st.id, kind = st.hypervisor, driver = driver, dir = dir, state = st, status = status,
                        plan = { agent = M.channel_of(st, dir) } }, Attached)
end

return M
