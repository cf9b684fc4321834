--- The live side of a sandbox: its processes, its state file, its clients.
-- Hooks receive this object as `sb`: `sb.id`, `sb.dir`, `sb.pid`,
-- `sb.shares`, `sb.args`, `sb.network` and `sb.disks` (as state.json records
-- them: forwards, tap, overlays), `sb:control()`, `sb:qmp()`, `sb:api()`,
-- `sb:stop()`, `sb:serial_tail(n)`, `sb:log(level, msg)`, `sb:path(p)`.
local core = require "vmlua.core"
local exits = require "vmlua.sandbox.exits"
local logs = require "vmlua.sandbox.logs"

local M = {}

local Runtime = {}
Runtime.__index = Runtime
M.Runtime = Runtime

--- The state the runtime starts with (saved as state.json).
local function initial_state(sb, plan)
  local st = {
    id = plan.id, hypervisor = sb.kind, recipe = sb.recipe, args = sb.args, dir = plan.dir,
    created = core.time(), status = "new", processes = {}, sockets = plan.sockets,
    serial_log = plan.serial_log, control_socket = plan.control_socket,
    stop_policy = {},
  }
  for i, s in ipairs(plan.stop) do
    st.stop_policy[i] = { step = s.fn and "function" or s.name, name = s.name, grace = s.grace }
  end
  st.stop_budget = require("vmlua.sandbox.stop").budget(plan.stop, plan.processes)
  require("vmlua.sandbox.resources").record(st, plan) -- network, disks
  return st
end

function M.new(sb, plan, opts)
  opts = opts or {}
  local rt = setmetatable({
    sandbox = sb, plan = plan, driver = plan.driver, id = plan.id, dir = plan.dir, kind = sb.kind,
    args = sb.args, shares = {}, procs = {}, started = core.monotonic(), opts = opts,
    state = initial_state(sb, plan),
  }, Runtime)
  for i, s in ipairs(sb.shares) do rt.shares[i] = { tag = s.tag, source = sb:resolve(s.source) } end
  rt.network, rt.disks = rt.state.network, rt.state.disks
  local show = opts.progress
  if show == nil then show = core.isatty(2) end
  rt.show_progress = show
  return rt
end

--- Seconds since the runtime started.
function Runtime:elapsed()
  return core.monotonic() - self.started
end

--- A short progress line on stderr (only on a terminal, or when asked).
function Runtime:progress(fmt, ...)
  local msg = string.format(fmt, ...)
  core.log.debug(msg, { sandbox = self.id })
  if self.show_progress then
    io.stderr:write(string.format("[%6.2fs] %s\n", self:elapsed(), msg))
    io.stderr:flush()
  end
end

function Runtime:log(level, msg, fields)
  fields = fields or {}
  fields.sandbox = self.id
  core.log.write(level, msg, fields)
end

--- Record a transition (or just new fields) in state.json. Returns true, or
-- nil and the message (also logged).
function Runtime:save(status, fields)
  local st = self.state
  if status then st.status = status end
  for k, v in pairs(fields or {}) do st[k] = v end
  st.updated = core.time()
  if not self.store then return true end
  local ok, err = self.store:save(self.id, st)
  if not ok then self:log("error", "cannot save state: " .. tostring(err)) end
  return ok, err
end

--- Start one process of the plan; its stdout and stderr go to its log.
function Runtime:spawn(p)
  local env = {}
  for k, v in pairs(p.env or {}) do env[k] = v end
  local proc, err, errno = core.spawn {
    argv = p.argv, env = env, cwd = p.cwd, stdin = "null",
    stdout = { file = p.log, append = true }, stderr = "stdout", fds = p.fds, setsid = true,
  }
  if not proc then return nil, err, errno end
  self.procs[p.name] = { proc = proc, spec = p }
  self.state.processes[p.name] = {
    pid = proc.pid, start_time = proc.start_time, role = p.role, argv = p.argv, log = p.log,
  }
  if p.role == "hypervisor" then
    self.hv = proc
    self.pid = proc.pid
    self.state.pid = proc.pid
  end
  return proc
end

--- Processes whose exit ends a start or a run: the hypervisor and helpers.
function Runtime:watched()
  local list = {}
  if self.hv then list[#list + 1] = { name = "hypervisor", proc = self.hv } end
  for _, p in ipairs(self.plan.processes) do
    local e = self.procs[p.name]
    if e and p.role ~= "hypervisor" then list[#list + 1] = { name = p.name, proc = e.proc } end
  end
  return list
end

--- A human description of how a process ended, with its log tail.
function Runtime.describe_exit(_, name, ev, log)
  return exits.describe(name, ev, log)
end

--- A client on the control socket, as the driver makes it (QMP for QEMU,
-- REST for cloud-hypervisor). Close it when done: QEMU serves one QMP
-- client at a time, so `vmlua qmp` must be able to get in while the
-- supervisor runs.
function Runtime:control(timeout)
  if not self.plan.control_socket then
    return nil, string.format("sandbox '%s' has no usable control socket", self.id)
  end
  return self.driver.connect(self.plan.control_socket, timeout or self.sandbox.timeouts.api)
end

-- The control client when the driver speaks `protocol`, else nil, message.
local function client_speaking(rt, protocol, timeout)
  if rt.driver.control.protocol ~= protocol then
    return nil, string.format("%s: sandbox '%s' runs %s, whose control socket speaks %s", protocol, rt.id,
                              rt.driver.title, rt.driver.control.label)
  end
  return rt:control(timeout)
end

--- A QMP client (sandboxes whose driver speaks QMP: QEMU).
function Runtime:qmp(timeout)
  return client_speaking(self, "qmp", timeout)
end

--- A REST client (sandboxes whose driver speaks the REST API: cloud-hypervisor).
function Runtime:api(timeout)
  return client_speaking(self, "api", timeout)
end

--- Ask the supervisor to run the stop policy (from a hook).
function Runtime:stop()
  self.stop_requested = true
end

function Runtime:serial_tail(n)
  return logs.tail(self.plan.serial_log, n or 20)
end

--- A recipe-relative path made absolute.
function Runtime:path(p)
  return self.sandbox:resolve(p)
end

--- Run a hook, if the recipe gave one, catching its errors.
function Runtime:hook(name, ...)
  local fn = self.sandbox.hooks[name]
  if not fn then return true end
  local ok, err = pcall(fn, self, ...)
  if not ok then
    self:log("error", string.format("%s hook failed: %s", name, tostring(err)))
    return nil, string.format("%s hook failed: %s", name, tostring(err))
  end
  return true
end

--- A runtime rebuilt from a state file, for `vmlua stop` when the
-- supervisor is gone: `procs` are the processes found still running
-- (attached handles, checked by the caller), `steps` the stop policy.
-- Nothing of the recipe is loaded.
function M.from_state(st, ctx)
  local plan = {
    id = st.id, dir = ctx.dir, kind = st.hypervisor, driver = ctx.driver, run_dir = ctx.store.dir,
    sockets = ctx.sockets, serial_log = st.serial_log, control_socket = ctx.control_socket,
    stop = ctx.steps, processes = {},
  }
  local rt = setmetatable({
    plan = plan, driver = ctx.driver, id = st.id, dir = ctx.dir, kind = st.hypervisor, procs = {}, state = st,
    store = ctx.store, started = core.monotonic(), opts = {}, shares = {}, args = st.args or {},
    sandbox = { timeouts = { api = ctx.api_timeout }, hooks = {}, steps = {} },
    show_progress = core.isatty(2),
  }, Runtime)
  for _, p in ipairs(ctx.processes) do
    local spec = { name = p.name, role = p.role, log = p.log, argv = p.argv,
                   stop = { signal = "SIGTERM", grace = ctx.helper_grace } }
    if p.role == "hypervisor" then
      plan.hypervisor = spec
      if p.proc then rt.hv, rt.pid = p.proc, p.pid end
    else
      plan.processes[#plan.processes + 1] = spec
      if p.proc then rt.procs[p.name] = { proc = p.proc, spec = spec } end
    end
  end
  return rt
end

return M
