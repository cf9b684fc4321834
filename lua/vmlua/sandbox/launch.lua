--- The launch policy: validate, prepare (run dir, lock, sandbox dir, state),
-- start the helpers and wait for each, launch the hypervisor, boot it (the
-- cloud-hypervisor REST flow), wait for readiness, then supervise. Every
-- step is a function of the runtime; a recipe replaces one with
-- `steps = { launch = function(sb, default) ... default(sb) ... end }`.
local core = require "vmlua.core"
local probes = require "vmlua.sandbox.probes"
local stop = require "vmlua.sandbox.stop"
local liveness = require "vmlua.sandbox.liveness"
local logs = require "vmlua.sandbox.logs"
local snapshot = require "vmlua.sandbox.snapshot"

local M = {}
local steps = {}
M.steps = steps

function steps.validate(rt)
  local problems = require("vmlua.sandbox.check").problems(rt.sandbox, rt.plan)
  if #problems > 0 then return nil, table.concat(problems, "\n"), 2 end
  return true
end

-- Clear what an earlier, finished run left in the sandbox dir, keeping the
-- lock file we hold: each log NAME.log becomes NAME.log.1 (replacing the
-- one before), the rest (sockets, state) is removed.
local function clear_dir(dir)
  for _, name in ipairs(core.fs.list(dir) or {}) do
    local p = dir .. "/" .. name
    local st = core.fs.stat(p)
    if name:match("%.log$") and st and st.type == "file" then
      os.rename(p, p .. ".1")
    elseif name ~= "lock" and not name:match("%.log%.1$") then
      if st and st.type == "dir" then core.fs.remove_tree(p) else core.fs.remove(p) end
    end
  end
end

-- Why the lock of sandbox `id` is taken. Its state may still be an earlier
-- run's (the holder saves its own only after locking): a pid is named only
-- when that supervisor is alive.
local function busy_message(store, id, lock_err, errno)
  -- a lock held elsewhere is EWOULDBLOCK, which is EAGAIN on Linux
  if errno ~= core.errno.EAGAIN then return string.format("sandbox '%s': %s", id, tostring(lock_err)) end
  local st = store:load(id)
  local sup = st and st.supervisor
  if liveness.alive(sup) then return string.format("sandbox '%s' is already running (pid %d)", id, sup.pid) end
  return string.format("sandbox '%s' is busy: another vmlua is starting or stopping it", id)
end

function steps.prepare(rt)
  local plan = rt.plan
  local store, err = core.state.open(plan.run_dir)
  if not store then return nil, err end
  local lock, lerr, lerrno = store:lock(rt.id)
  if not lock then return nil, busy_message(store, rt.id, lerr, lerrno) end
  local old = store:load(rt.id)
  if old then
    local live = liveness.live_processes(old)
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
  rt.state.supervisor = liveness.me()
  -- Nothing may run that the state does not record: without a first save,
  -- nobody could find or stop the sandbox.
  local saved, serr = rt:save("starting")
  if not saved then
    rt.store, rt.lock = nil, nil
    store:remove(rt.id) -- what prepare made: the dir and its lock
    lock:close()
    return nil, "cannot save the sandbox's state: " .. tostring(serr)
  end
  return rt:hook("on_start")
end

--- The sandbox's tap and disk overlays (vmlua.sandbox.resources), made
-- before any process starts.
function steps.provision(rt)
  return require("vmlua.sandbox.resources").provision(rt)
end

-- After a process started: record it, or fail the start (the teardown stops it).
local function record(rt)
  local ok, err = rt:save(nil)
  if not ok then return nil, "cannot save the sandbox's state: " .. tostring(err) end
  return true
end

function steps.start_helpers(rt)
  for _, p in ipairs(rt.plan.processes) do
    if p.role ~= "hypervisor" then
      local proc, err = rt:spawn(p)
      if not proc then return nil, string.format("cannot start %s: %s", p.name, err) end
      local saved, serr = record(rt)
      if not saved then return nil, serr end
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
  local staged, why = snapshot.stage(rt)
  if not staged then return nil, why end
  local proc, err = rt:spawn(p)
  if not proc then return nil, string.format("cannot start the hypervisor: %s", err) end
  local saved, serr = record(rt)
  if not saved then return nil, serr end
  rt:progress("%s started (pid %d)", p.argv[1]:match("[^/]*$"), proc.pid)
  return true
end

--- Whatever the hypervisor needs after its start to run the VM (the
-- driver's boot: nothing for QEMU; vm.create and vm.boot for
-- cloud-hypervisor's REST flow), or, for a clone or a restored sandbox, the
-- driver's restore (vmlua.sandbox.snapshot).
function steps.boot(rt)
  return snapshot.boot(rt)
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
-- Hooks, as when a running hypervisor dies: on_exit (when the hypervisor
-- was started) with its exit, then on_failure.
function M.teardown(rt, message)
  local exit
  if rt.hv then
    -- the policy's steps that need no guest: the driver's quick ones, term, kill
    local quick_names = { term = true, kill = true }
    for _, n in ipairs(rt.driver.quick_actions) do quick_names[n] = true end
    local quick = {}
    for _, s in ipairs(rt.plan.stop) do
      if quick_names[s.name] then quick[#quick + 1] = { name = s.name, grace = math.min(s.grace, 3) } end
    end
    if #quick == 0 then quick = { { name = "term", grace = 3 } } end
    exit = stop.stop_hypervisor(rt, quick).exit
  end
  stop.stop_rest(rt)
  rt:save("failed", { error = message, exit = exit, failed_at = core.time() })
  if exit then rt:hook("on_exit", exit) end
  rt:hook("on_failure", message)
end

--- Start everything up to "ready". Returns true or nil, message.
function M.start(rt)
  for _, name in ipairs({ "provision", "start_helpers", "launch", "boot", "wait_ready" }) do
    local ok, err = M.call(rt, name)
    if not ok then
      err = require("vmlua.sandbox.resources").explain(rt, err)
      M.teardown(rt, err)
      return nil, err
    end
  end
  snapshot.after_ready(rt)
  local secs = rt:elapsed()
  -- ready_mono (CLOCK_MONOTONIC, comparable across processes) lets the
  -- benchmarks measure detection gaps against a fake VMM's own clock.
  local saved, serr = rt:save("running", { ready_at = core.time(), ready_mono = core.monotonic(),
                                           ready_seconds = secs })
  if not saved then
    local msg = "cannot save the sandbox's state: " .. tostring(serr)
    M.teardown(rt, msg)
    return nil, msg
  end
  rt:progress("%s ready (%.2f s)", rt.id, secs)
  -- the guest agent's channel held open and served to clients (QEMU)
  rt.agent_relay = require("vmlua.sandbox.agent_relay").open(rt)
  core.sd_notify("READY=1")
  return true
end

--- The last line of defence: a Lua error inside the launch or supervision
-- (a bug, a failing hook library) must not leave anything running or a
-- state that claims to be running. Kill everything, remove the sockets,
-- record the error.
local function emergency_stop(rt, err)
  if rt.agent_relay then pcall(rt.agent_relay.close, rt.agent_relay) end
  for _, e in pairs(rt.procs) do
    pcall(e.proc.terminate, e.proc, { signal = "SIGKILL", grace = 5, group = true })
  end
  pcall(stop.remove_sockets, rt)
  pcall(stop.release, rt)
  if rt.store then pcall(rt.save, rt, "failed", { error = tostring(err), failed_at = core.time() }) end
end

local function protected(rt, fn, ...)
  local res = table.pack(xpcall(fn, require("vmlua").error_message, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  emergency_stop(rt, res[2])
  return 1, "internal error, everything was stopped: " .. tostring(res[2])
end

--- Everything `vmlua run` does. Returns the exit status and a message.
-- With a command (`vmlua run RECIPE -- CMD`), the one-shot instead.
function M.run(rt)
  if rt.command then return protected(rt, require("vmlua.sandbox.oneshot").run, rt) end
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

-- ------------------------------------------------------------ detaching

-- The size of the supervisor's log: where what it writes next begins.
local function log_size(path)
  local st = core.fs.stat(path)
  return st and st.size or 0
end

-- Show on our stderr what the supervisor wrote to its log (its hooks'
-- output, its messages) between offsets `from` and `to` of its report, so
-- that `run -d` shows what an attached run would.
local function show_supervisor_output(log, from, to)
  from, to = tonumber(from), tonumber(to)
  if not (from and to and to > from) then return end
  local f = io.open(log, "rb")
  if not f then return end
  f:seek("set", from)
  local text = f:read(to - from)
  f:close()
  if text then io.stderr:write(text); io.stderr:flush() end
end

-- The supervisor's report, through the readiness pipe: "ready\tFROM\tTO" or
-- "error\tFROM\tTO\tmessage" (FROM-TO: what it wrote meanwhile).
local function report(chan, log, from, ok, err)
  io.stdout:flush()
  local head = string.format("%s\t%d\t%d", ok and "ready" or "error", from, log_size(log))
  chan:write(head .. (ok and "" or ("\t" .. tostring(err):gsub("\n", "\\n"))) .. "\n")
  chan:close()
end

-- The detaching parent: wait for the supervisor's report. A Ctrl-C or a
-- SIGTERM meanwhile is passed on (the supervisor aborts the start and tears
-- it down, or, if it was ready, stops the sandbox); we return 1 once the
-- supervisor has finished. Returns the line, or nil, the signal and
-- whether the supervisor ended.
local function await_report(rt, chan, pid)
  local signals = require "vmlua.sandbox.signals"
  while true do
    local i, ev = core.wait({ { readable = chan }, { signal = signals.STOP } })
    if i == 2 then
      local sup = core.proc.attach(pid, core.proc.start_time(pid))
      local ended = sup == nil -- already gone
      if sup then
        local policy, forced = require("vmlua.sandbox.control").budget(rt.state)
        ended = signals.stop_supervisor(sup, { policy = policy, forced = forced })
        sup:close()
      end
      return nil, ev.signal, ended
    end
    if i == nil then return nil end
    local line, rerr = chan:read_line(0)
    if line then return line end
    if rerr == "eof" then return nil end
  end
end

--- `run --detach`: fork a supervisor that starts and then supervises the
-- sandbox; this process waits for its "ready" (or its error) and returns.
-- The fds the recipe gave the hypervisor as numbers of this process (an
-- fd its caller handed down, as Kata hands tap fds): the detached
-- supervisor must keep them, as it closes every other inherited fd.
local function recipe_fd_numbers(plan)
  local out = {}
  local function add(list)
    for _, f in ipairs(list or {}) do
      if math.type(f) == "integer" then out[#out + 1] = f end
    end
  end
  add(plan.hypervisor and plan.hypervisor.fds)
  for _, net in ipairs(plan.net_hotplug or {}) do add(net.fds) end
  return out
end

function M.detach(rt)
  local log = rt.dir .. "/supervisor.log"
  local from = log_size(log)
  local role, chan, pid = core.fork_detached { log = log, keep_fds = recipe_fd_numbers(rt.plan) }
  if not role then return 1, chan end
  if role == "parent" then
    rt.detached_parent, rt.supervisor_pid = true, pid
    rt.lock:close() -- the supervisor holds the lock now
    local line, signal, ended = await_report(rt, chan, pid)
    chan:close()
    if signal then
      return 1, string.format("interrupted by %s during the start; %s", signal, ended and "the sandbox was stopped"
                              or string.format("its supervisor (pid %d) did not finish stopping it", pid))
    end
    local what, a, b, msg = (line or ""):match("^(%a+)\t(%d+)\t(%d+)\t?(.*)$")
    if what then show_supervisor_output(log, a, b) end
    if what == "ready" then return 0, nil, pid end
    if what == "error" then return 1, (msg:gsub("\\n", "\n")) end
    local tail = logs.tail(log, 20)
    return 1, "the supervisor exited during start" .. (tail ~= "" and (":\n" .. tail) or "")
  end
  rt.state.supervisor = liveness.me()
  rt.show_progress = false
  local ok, err = M.start(rt)
  if not ok then
    report(chan, log, from, false, err)
    return 1, err
  end
  local hok, herr = rt:hook("on_ready")
  if not hok then rt.stop_requested = true; rt.hook_error = herr end
  report(chan, log, from, true)
  probes.release(rt)
  return M.call(rt, "supervise")
end

return M
