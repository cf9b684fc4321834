--- The launch policy: validate, prepare (run dir, lock, sandbox dir, state),
-- start the helpers and wait for each, launch the hypervisor, boot it (the
-- cloud-hypervisor REST flow), wait for readiness, then supervise. Every
-- step is a function of the runtime; a recipe replaces one with
-- `steps = { launch = function(sb, default) ... default(sb) ... end }`.
local core = require "vmlua.core"
local probes = require "vmlua.sandbox.probes"
local stop = require "vmlua.sandbox.stop"

local M = {}
local steps = {}
M.steps = steps

function steps.validate(rt)
  local problems = require("vmlua.sandbox.check").problems(rt.sandbox, rt.plan)
  if #problems > 0 then return nil, table.concat(problems, "\n"), 2 end
  return true
end

local function live_processes(st)
  local live = {}
  local function add(name, p)
    if type(p) == "table" and p.pid and p.start_time and core.proc.alive(p.pid, p.start_time) then
      live[#live + 1] = string.format("%s pid %d", name, p.pid)
    end
  end
  add("supervisor", st.supervisor)
  for name, p in pairs(st.processes or {}) do add(name, p) end
  table.sort(live)
  return live
end
M.live_processes = live_processes

-- Remove what an earlier, finished run left in the sandbox dir (logs,
-- sockets, state), keeping the lock file we hold.
local function clear_dir(dir)
  for _, name in ipairs(core.fs.list(dir) or {}) do
    if name ~= "lock" then
      local p = dir .. "/" .. name
      local st = core.fs.stat(p)
      if st and st.type == "dir" then core.fs.remove_tree(p) else core.fs.remove(p) end
    end
  end
end

function steps.prepare(rt)
  local plan = rt.plan
  local store, err = core.state.open(plan.run_dir)
  if not store then return nil, err end
  local lock, lerr = store:lock(rt.id)
  if not lock then
    local st = store:load(rt.id)
    local pid = st and ((st.supervisor and st.supervisor.pid) or st.pid)
    if pid then return nil, string.format("sandbox '%s' is already running (pid %d)", rt.id, pid) end
    return nil, string.format("sandbox '%s' is busy: %s", rt.id, tostring(lerr))
  end
  local old = store:load(rt.id)
  if old then
    local live = live_processes(old)
    if #live > 0 then
      lock:unlock()
      return nil, string.format(
        "sandbox '%s' has processes left from an earlier run (%s); stop them with 'vmlua stop %s'",
                                rt.id, table.concat(live, ", "), rt.id)
    end
  end
  local dir, derr = store:dir_of(rt.id)
  if not dir then lock:unlock(); return nil, derr end
  clear_dir(dir)
  rt.store, rt.lock = store, lock
  for _, s in ipairs(rt.sandbox.shares) do
    local src = rt.sandbox:resolve(s.source)
    if s.create and not core.fs.exists(src) then
      local ok, merr = core.fs.mkdir(src, tonumber("755", 8))
      if not ok then return nil, merr end
    end
  end
  local me = core.getpid()
  rt.state.supervisor = { pid = me, start_time = core.proc.start_time(me) }
  rt:save("starting")
  return rt:hook("on_start")
end

function steps.start_helpers(rt)
  for _, p in ipairs(rt.plan.processes) do
    if p.role ~= "hypervisor" then
      local proc, err = rt:spawn(p)
      if not proc then return nil, string.format("cannot start %s: %s", p.name, err) end
      rt:save(nil)
      rt:progress("%s started (pid %d)", p.name, proc.pid)
      local ok, fail = probes.run_all(rt, p.ready, p.name)
      if not ok then return nil, fail.message, fail end
      rt:progress("%s ready", p.name)
    end
  end
  return true
end

function steps.launch(rt)
  local p = rt.plan.hypervisor
  local proc, err = rt:spawn(p)
  if not proc then return nil, string.format("cannot start the hypervisor: %s", err) end
  rt:save(nil)
  rt:progress("%s started (pid %d)", p.argv[1]:match("[^/]*$"), proc.pid)
  return true
end

--- cloud-hypervisor's REST flow, as the newest Kata driver does it:
-- wait for the API socket, vmm.ping, vm.create, vm.boot.
function steps.boot(rt)
  if rt.kind ~= "clh" or rt.plan.flow ~= "api" then return true end
  local deadline = core.monotonic() + rt.sandbox.timeouts.ready
  local idx, fail = probes.wait_for(rt, { { socket = rt.plan.control_socket } }, deadline)
  if not idx then
    if fail.kind == "timeout" then
      return nil, string.format("cloud-hypervisor API socket %s did not appear within %g s",
                                rt.plan.control_socket, rt.sandbox.timeouts.ready), fail
    end
    return nil, fail.message or ("interrupted by " .. tostring(fail.signal)), fail
  end
  local api = rt:api()
  local calls = {
    { "vmm.ping", function() return api:ping() end },
    { "vm.create", function() return api:create(rt.plan.vm_config) end },
    { "vm.boot", function() return api:boot() end },
  }
  for _, c in ipairs(calls) do
    local ok, err = c[2]()
    if not ok then return nil, string.format("%s failed: %s", c[1], tostring(err)) end
  end
  rt:progress("vm.create and vm.boot done")
  return true
end

function steps.wait_ready(rt)
  local ok, fail = probes.run_all(rt, rt.plan.ready, "ready")
  if not ok then return nil, fail.message, fail end
  return true
end

function steps.supervise(rt)
  return require("vmlua.sandbox.supervise").run(rt)
end

function steps.stop(rt, opts)
  return stop.run(rt, opts)
end

--- Call a step, or the recipe's replacement (which gets the default).
function M.call(rt, name, ...)
  local override = rt.sandbox.steps[name]
  if override then
    local default = steps[name]
    return override(rt, function(r, ...) return default(r or rt, ...) end, ...)
  end
  return steps[name](rt, ...)
end

--- Tear down a start that failed: the teardown skips the guest-level steps
-- (the guest never became ready), then helpers and sockets; state failed.
function M.teardown(rt, message)
  if rt.hv then
    local quick = {}
    for _, s in ipairs(rt.plan.stop) do
      if s.name == "quit" or s.name == "term" or s.name == "kill" then
        quick[#quick + 1] = { name = s.name, grace = math.min(s.grace, 3) }
      end
    end
    if #quick == 0 then quick = { { name = "term", grace = 3 } } end
    stop.stop_hypervisor(rt, quick)
  end
  stop.stop_rest(rt)
  rt:save("failed", { error = message, failed_at = core.time() })
  rt:hook("on_failure", message)
end

--- Start everything up to "ready". Returns true or nil, message.
function M.start(rt)
  for _, name in ipairs({ "start_helpers", "launch", "boot", "wait_ready" }) do
    local ok, err = M.call(rt, name)
    if not ok then
      M.teardown(rt, err)
      return nil, err
    end
  end
  local secs = rt:elapsed()
  -- ready_mono (CLOCK_MONOTONIC, comparable across processes) lets the
  -- benchmarks measure detection gaps against a fake VMM's own clock.
  rt:save("running", { ready_at = core.time(), ready_mono = core.monotonic(), ready_seconds = secs })
  rt:progress("%s ready (%.2f s)", rt.id, secs)
  core.sd_notify("READY=1")
  return true
end

--- The last line of defence: a Lua error inside the launch or supervision
-- (a bug, a failing hook library) must not leave anything running or a
-- state that claims to be running. Kill everything, remove the sockets,
-- record the error.
local function emergency_stop(rt, err)
  for _, e in pairs(rt.procs) do
    pcall(e.proc.terminate, e.proc, { signal = "SIGKILL", grace = 5, group = true })
  end
  pcall(stop.remove_sockets, rt)
  if rt.store then pcall(rt.save, rt, "failed", { error = tostring(err), failed_at = core.time() }) end
end

local function protected(rt, fn, ...)
  local res = table.pack(xpcall(fn, function(e)
    local msg = tostring(e)
    if os.getenv("VMLUA_LOG") == "debug" then msg = debug.traceback(msg, 2) end
    return msg
  end, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  emergency_stop(rt, res[2])
  return 1, "internal error, everything was stopped: " .. tostring(res[2])
end

--- Everything `vmlua run` does. Returns the exit status and a message.
function M.run(rt)
  return protected(rt, M.run_unprotected, rt)
end

function M.run_unprotected(rt)
  local ok, err, code = M.call(rt, "validate")
  if not ok then return code or 2, err end
  ok, err = M.call(rt, "prepare")
  if not ok then return 1, err end
  if rt.opts.detach then return M.detach(rt) end
  ok, err = M.start(rt)
  if not ok then return 1, err end
  local hok, herr = rt:hook("on_ready")
  if not hok then rt.stop_requested = true; rt.hook_error = herr end
  probes.release(rt)
  return M.call(rt, "supervise")
end

--- `run --detach`: fork a supervisor that starts and then supervises the
-- sandbox; this process waits for its "ready" (or its error) and returns.
function M.detach(rt)
  local log = rt.dir .. "/supervisor.log"
  local role, chan, pid = core.fork_detached { log = log }
  if not role then return 1, chan end
  if role == "parent" then
    rt.detached_parent, rt.supervisor_pid = true, pid
    rt.lock:close() -- the supervisor holds the lock now
    local line = chan:read_line()
    chan:close()
    if line == "ready" then return 0, nil, pid end
    if line and line:sub(1, 6) == "error\t" then return 1, (line:sub(7):gsub("\\n", "\n")) end
    local tail = require("vmlua.sandbox.runtime").tail(log, 20)
    return 1, "the supervisor exited during start" .. (tail ~= "" and (":\n" .. tail) or "")
  end
  local me = core.getpid()
  rt.state.supervisor = { pid = me, start_time = core.proc.start_time(me) }
  rt.show_progress = false
  local ok, err = M.start(rt)
  if not ok then
    chan:write("error\t" .. tostring(err):gsub("\n", "\\n") .. "\n")
    chan:close()
    return 1, err
  end
  local hok, herr = rt:hook("on_ready")
  if not hok then rt.stop_requested = true; rt.hook_error = herr end
  chan:write("ready\n")
  chan:close()
  probes.release(rt)
  return M.call(rt, "supervise")
end

return M
