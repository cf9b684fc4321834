--- The live side of a sandbox: its processes, its state file, its clients.
-- Hooks receive this object as `sb`: `sb.id`, `sb.dir`, `sb.pid`,
-- `sb.shares`, `sb.args`, `sb:qmp()`, `sb:api()`, `sb:stop()`,
-- `sb:serial_tail(n)`, `sb:log(level, msg)`, `sb:path(p)`.
local core = require "vmlua.core"

local M = {}

local Runtime = {}
Runtime.__index = Runtime
M.Runtime = Runtime

local TAIL_BYTES = 16384

--- The last `n` lines of a file ("" when it is missing or empty).
function M.tail(path, n)
  local f = path and io.open(path, "rb")
  if not f then return "" end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - TAIL_BYTES))
  local data = f:read("a") or ""
  f:close()
  local lines = {}
  for line in data:gmatch("([^\n]*)\n?") do lines[#lines + 1] = line end
  while #lines > 0 and lines[#lines] == "" do lines[#lines] = nil end
  local first = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", first)
end

function M.new(sb, plan, opts)
  opts = opts or {}
  local rt = setmetatable({
    sandbox = sb, plan = plan, id = plan.id, dir = plan.dir, kind = sb.kind, args = sb.args,
    shares = {}, procs = {}, started = core.monotonic(), opts = opts,
    state = {
      id = plan.id, hypervisor = sb.kind, recipe = sb.recipe, args = sb.args, dir = plan.dir,
      created = core.time(), status = "new", processes = {}, sockets = plan.sockets,
      serial_log = plan.serial_log, control_socket = plan.control_socket,
      stop_policy = {},
    },
  }, Runtime)
  for i, s in ipairs(sb.shares) do rt.shares[i] = { tag = s.tag, source = sb:resolve(s.source) } end
  for i, s in ipairs(plan.stop) do
    rt.state.stop_policy[i] = { step = s.fn and "function" or s.name, name = s.name, grace = s.grace }
  end
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

--- Record a transition (or just new fields) in state.json.
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

local function stdio_file(path)
  return { file = path, append = true }
end

--- Start one process of the plan; its stdout and stderr go to its log.
function Runtime:spawn(p)
  local env = {}
  for k, v in pairs(p.env or {}) do env[k] = v end
  local proc, err, errno = core.spawn {
    argv = p.argv, env = env, cwd = p.cwd, stdin = "null",
    stdout = stdio_file(p.log), stderr = "stdout", fds = p.fds, setsid = true,
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
  local how = ev.how == "killed" and ("was killed by " .. core.signal_name(ev.code))
              or ("exited with status " .. tostring(ev.code))
  local msg = string.format("%s %s", name, how)
  local tail = M.tail(log, 20)
  if tail ~= "" then msg = msg .. "\n--- " .. name .. " output (last lines) ---\n" .. tail end
  return msg
end

--- A QMP client on the control socket (QEMU sandboxes). Connections are
-- short-lived: QEMU serves one QMP client at a time, so `vmlua qmp` must be
-- able to get in while the supervisor runs. Close it with :close().
function Runtime:qmp(timeout)
  if self.kind ~= "qemu" then return nil, "qmp: sandbox '" .. self.id .. "' is not a QEMU sandbox" end
  return require("vmlua.qmp").connect(self.plan.control_socket, { timeout = timeout or self.sandbox.timeouts.api })
end

--- A cloud-hypervisor REST client on the API socket.
function Runtime:api(timeout)
  if self.kind ~= "clh" then return nil, "api: sandbox '" .. self.id .. "' is not a cloud-hypervisor sandbox" end
  return require("vmlua.chapi").new(self.plan.control_socket, { timeout = timeout or self.sandbox.timeouts.api })
end

--- Ask the supervisor to run the stop policy (from a hook).
function Runtime:stop()
  self.stop_requested = true
end

function Runtime:serial_tail(n)
  return M.tail(self.plan.serial_log, n or 20)
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
-- supervisor is gone: the recorded processes are attached (pid + start
-- time, so a reused pid is never signalled) and `steps` is the stop policy.
function M.from_state(st, store, steps)
  local plan = {
    id = st.id, dir = st.dir, kind = st.hypervisor, run_dir = store.dir, sockets = st.sockets or {},
    serial_log = st.serial_log, control_socket = st.control_socket, stop = steps, processes = {},
  }
  local rt = setmetatable({
    plan = plan, id = st.id, dir = st.dir, kind = st.hypervisor, procs = {}, state = st, store = store,
    started = core.monotonic(), opts = {}, shares = {}, args = st.args or {},
    sandbox = { timeouts = { api = 5 }, hooks = {}, steps = {} },
    show_progress = core.isatty(2),
  }, Runtime)
  local names = {}
  for name in pairs(st.processes or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = st.processes[name]
    local proc = p.pid and p.start_time and core.proc.alive(p.pid, p.start_time)
                 and core.proc.attach(p.pid, p.start_time)
    local spec = { name = name, role = p.role, log = p.log, argv = p.argv, stop = { signal = "SIGTERM", grace = 5 } }
    if p.role == "hypervisor" then
      plan.hypervisor = spec
      if proc then rt.hv, rt.pid = proc, p.pid end
    else
      plan.processes[#plan.processes + 1] = spec
      if proc then rt.procs[name] = { proc = proc, spec = spec } end
    end
  end
  return rt
end

return M
