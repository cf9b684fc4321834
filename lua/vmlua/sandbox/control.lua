--- The sandbox lifecycle, in one place: load and plan a recipe, check it,
-- run it, find a sandbox by id and tell whether it is alive, stop it, and
-- collect what is gone. The CLI (vmlua.cli.*) parses arguments and prints;
-- everything it does to a sandbox goes through here.
--
-- Failures return `nil, message, code`: code 2 for a usage or recipe error
-- or an unknown sandbox (nothing was done), 1 for a runtime failure.
local core = require "vmlua.core"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

M.USAGE, M.RUNTIME = 2, 1

M.alive = liveness.alive
M.live_processes = liveness.live_processes
M.status = liveness.status

function M.run_dir()
  return core.paths.default_run_dir()
end

-- ------------------------------------------------------------ recipes

--- Load a recipe with its --set values (`args`) and `opts.id` (--id).
function M.load(path, args, opts)
  opts = opts or {}
  if opts.id then
    local ok, err = core.paths.check_id(opts.id)
    if not ok then return nil, "--id: " .. err, M.USAGE end
  end
  local sb, err = require("vmlua").load_recipe(path, args, { id = opts.id })
  if not sb then return nil, err, M.USAGE end
  return sb
end

--- The plan of a loaded sandbox in the run dir (`opts.run_dir`).
function M.plan(sb, opts)
  opts = opts or {}
  return require("vmlua.sandbox.plan").plan(sb, { run_dir = opts.run_dir or M.run_dir() })
end

--- Every problem `vmlua check` reports, as "file:line: field: message".
function M.problems(sb, plan)
  return require("vmlua.sandbox.check").problems(sb, plan or M.plan(sb))
end

--- Start `sb` and supervise it until it ends (or, with `opts.detach`, until
-- it is ready). `opts`: run_dir, detach, timeout (per probe), progress.
-- Returns the exit status, a message, and the runtime.
function M.run(sb, opts)
  opts = opts or {}
  if opts.timeout then
    for _, p in ipairs(sb.ready) do p.timeout = opts.timeout end
    sb.timeouts.ready = opts.timeout
  end
  local plan = M.plan(sb, opts)
  local rt = require("vmlua.sandbox.runtime").new(sb, plan, { detach = opts.detach, progress = opts.progress })
  local code, msg = require("vmlua.sandbox.launch").run(rt)
  return code, msg, rt
end

-- ------------------------------------------------------------ sandboxes by id

--- The state store of the run dir, for looking sandboxes up: without a run
-- dir nothing is known (and nothing is created).
function M.store()
  local dir = M.run_dir()
  if not core.fs.exists(dir) then
    return { dir = dir, list = function() return {} end,
             load = function(_, id) return nil, string.format("no state for sandbox '%s'", id), core.errno.ENOENT end }
  end
  local store, err = core.state.open(dir)
  if not store then return nil, err, M.RUNTIME end
  return store
end

--- The state of sandbox `id` (and the store): unknown or invalid ids are
-- usage errors.
function M.find(id)
  local ok, err = core.paths.check_id(id)
  if not ok then return nil, err, M.USAGE end
  local store, serr, scode = M.store()
  if not store then return nil, serr, scode end
  local st, lerr, errno = store:load(id)
  if not st then
    if errno == core.errno.ENOENT then return nil, string.format("no sandbox '%s' in %s", id, store.dir), M.USAGE end
    return nil, lerr, M.RUNTIME
  end
  return st, store
end

--- The status `vmlua ps` shows for sandbox `id` of `store`: the recorded
-- one checked against /proc, "paused" after `vmlua pause`.
function M.shown_status(store, id, st)
  return require("vmlua.sandbox.runstate").status(st, store.dir .. "/" .. id)
end

--- What `vmlua inspect` shows: the state with `live_status`, and for a
-- running sandbox `vm_state`, as its hypervisor tells it now.
function M.inspect(id)
  local st, store, code = M.find(id)
  if not st then return nil, store, code end
  local runstate = require "vmlua.sandbox.runstate"
  local dir = store.dir .. "/" .. id
  st.live_status = runstate.status(st, dir)
  if st.live_status == "running" or st.live_status == "paused" then
    local state, paused = runstate.live(st, dir)
    st.vm_state = state
    if paused then st.live_status = "paused" end
  end
  return st
end

--- Pause or resume (`action`) the VM behind `target` (from control_target,
-- or `{ driver =, socket = }` for a bare socket); a sandbox's pause is
-- recorded for `ps`. true or nil, message.
function M.pause_resume(target, action)
  local client, cerr = target.driver.connect(target.socket, target.timeout)
  if not client then return nil, cerr end
  local ok, err = target.driver[action](client)
  client:close()
  if ok == nil then return nil, err end
  if target.id then
    local store = M.store()
    local dir = store and store.dir_of and store:dir_of(target.id)
    if dir then require("vmlua.sandbox.runstate").mark(dir, action == "pause") end
  end
  return true
end

--- Where to reach a sandbox's control socket: `{ driver =, socket =, id =,
-- status = }`, for `vmlua qmp`, `api`, `pause` and `resume`.
function M.control_target(id)
  local st, store_or_err, code = M.find(id)
  if not st then return nil, store_or_err, code end
  local driver, derr = require("vmlua.driver").named(st.hypervisor)
  if not driver then
    return nil, string.format("sandbox '%s' has no known hypervisor in its state (%s)", id, derr), M.RUNTIME
  end
  if type(st.control_socket) ~= "string" or st.control_socket == "" then
    return nil, string.format("sandbox '%s' has no control socket in its state", id), M.RUNTIME
  end
  return { driver = driver, socket = st.control_socket, id = id, status = M.status(st) }
end

-- ------------------------------------------------------------ stopping

--- The supervisor's stop budget from the state (see stop.budget): the
-- seconds of a whole stop, and of a forced one.
function M.budget(st)
  local b = type(st.stop_budget) == "table" and st.stop_budget or {}
  local d = require("vmlua.sandbox").DEFAULTS
  local forced = type(b.forced) == "number" and b.forced or d.kill_wait
  local policy = type(b.policy) == "number" and b.policy or forced
  return policy, forced
end

-- Ask a live supervisor to stop (SIGTERM, or SIGUSR1 with force) and wait
-- for it; past its budget, or on a Ctrl-C here, force it.
local function stop_supervisor(st, store, opts)
  local signals = require "vmlua.sandbox.signals"
  local sup, err = liveness.attach_owned(st.supervisor)
  if not sup then return nil, err, M.RUNTIME end
  local policy, forced = M.budget(st)
  local ended = signals.stop_supervisor(sup, { force = opts.force, policy = opts.timeout or policy, forced = forced })
  sup:close()
  if not ended then
    return nil, string.format("the supervisor of '%s' (pid %d) did not finish", st.id, st.supervisor.pid), M.RUNTIME
  end
  local final, lerr = store:load(st.id)
  if not final then return nil, lerr, M.RUNTIME end
  return final
end

-- The stop policy recorded in the state, for the driver: named steps only
-- (a function step was the recipe's Lua, which a stop never loads).
local function recorded_policy(st, driver)
  local sandbox = require "vmlua.sandbox"
  local steps, skipped = {}, {}
  for _, s in ipairs(type(st.stop_policy) == "table" and st.stop_policy or {}) do
    local grace = type(s) == "table" and type(s.grace) == "number" and s.grace >= 0 and s.grace
                  or sandbox.DEFAULTS.stop_grace
    if type(s) == "table" and type(s.step) == "string" and sandbox.check_stop_step(driver, s.step, "") then
      steps[#steps + 1] = { name = s.step, grace = grace }
    else
      skipped[#skipped + 1] = type(s) == "table" and tostring(s.name or s.step) or "?"
    end
  end
  if #steps == 0 then steps = sandbox.normalize_stop(driver, nil) end
  return steps, skipped
end

-- Stop what the state records when its supervisor is gone: only processes
-- that are provably the sandbox's (alive with the recorded start time, ours,
-- running the recorded program), only sockets in the sandbox's own dir.
local function stop_from_state(st, store, processes, opts)
  local driver, derr = require("vmlua.driver").named(st.hypervisor)
  if not driver then return nil, string.format("sandbox '%s': %s", st.id, derr), M.RUNTIME end
  local lock, lerr = store:lock(st.id)
  if not lock then return nil, lerr, M.RUNTIME end
  local dir, dirr = store:dir_of(st.id)
  if not dir then lock:close(); return nil, dirr, M.RUNTIME end
  local steps, skipped = recorded_policy(st, driver)
  local sockets = {}
  for name, path in pairs(type(st.sockets) == "table" and st.sockets or {}) do
    if liveness.inside(dir, path) then sockets[name] = path end
  end
  local control = liveness.usable_socket(dir, st.control_socket)
  local rt = require("vmlua.sandbox.runtime").from_state(st, {
    driver = driver, store = store, dir = dir, steps = steps, processes = processes, sockets = sockets,
    control_socket = control, api_timeout = require("vmlua.sandbox").DEFAULTS.api_timeout,
    helper_grace = require("vmlua.sandbox").DEFAULTS.stop_grace,
  })
  for _, name in ipairs(skipped) do
    rt:progress("stop: %s skipped (a recipe's function; stop loads no recipe)", name)
  end
  local policy = M.budget(st)
  require("vmlua.sandbox.stop").run(rt, { force = opts.force,
                                          deadline = core.monotonic() + (opts.timeout or policy) })
  lock:close()
  return rt.state
end

--- Stop sandbox `id` with its stop policy (`opts`: force, timeout).
-- Returns `{ stopped = true, state = final state }`, or, when there was
-- nothing of the sandbox's to stop, `{ stopped = false, state =, status =,
-- foreign = { pid... } }` (`foreign`: live processes the state names that are
-- not the sandbox's, left alone).
function M.stop(id, opts)
  opts = opts or {}
  local st, store, code = M.find(id)
  if not st then return nil, store, code end
  if liveness.owned(st.supervisor) then
    local final, err, ecode = stop_supervisor(st, store, opts)
    if not final then return nil, err, ecode end
    return { stopped = true, state = final }
  end
  local processes, foreign = liveness.owned_processes(st), {}
  local ours = 0
  for _, p in ipairs(processes) do
    if p.proc then ours = ours + 1 elseif M.alive(p) then foreign[#foreign + 1] = p.pid end
  end
  if M.alive(st.supervisor) then table.insert(foreign, 1, st.supervisor.pid) end
  if ours == 0 then
    return { stopped = false, state = st, status = #foreign > 0 and "dead" or M.status(st),
             foreign = foreign }
  end
  local final, err, ecode = stop_from_state(st, store, processes, opts)
  if not final then return nil, err, ecode end
  return { stopped = true, state = final }
end

-- ------------------------------------------------------------ collecting

-- Release what a gone sandbox's state records beyond its dir (its tap,
-- its overlays: vmlua.sandbox.resources); true when its state may go, else
-- nil and why not. Notes what it did in out.notes.
local function release_gone(store, id, st, out)
  local resources = require "vmlua.sandbox.resources"
  local dir = store:dir_of(id)
  if dir then
    resources.release(st, dir, function(fmt, ...)
      out.notes[#out.notes + 1] = { id = id, text = string.format(fmt, ...) }
    end)
  end
  local blockers = resources.blockers(st)
  if #blockers > 0 then return nil, "it keeps " .. table.concat(blockers, "; ") end
  return true
end

--- Remove the state and dirs of sandboxes whose processes are all gone,
-- with their taps and overlays. Returns `{ removed = { id... }, skipped =
-- { { id =, reason = } ... }, notes = { { id =, text = } ... } }`.
function M.gc()
  local out = { removed = {}, skipped = {}, notes = {} }
  local store, err, code = M.store()
  if not store then return nil, err, code end
  for _, id in ipairs(store:list()) do
    local st, lerr = store:load(id)
    if not st then
      out.skipped[#out.skipped + 1] = { id = id, reason = lerr }
    else
      -- A live supervisor holds the lock; a live VM without one shows in
      -- the recorded pids. Either way: never touch it.
      local lock = store:lock(id)
      if lock and #M.live_processes(st) == 0 then
        local ok, rerr = release_gone(store, id, st, out)
        if ok then ok, rerr = store:remove(id) end
        if ok then out.removed[#out.removed + 1] = id
        else out.skipped[#out.skipped + 1] = { id = id, reason = rerr } end
      end
      if lock then lock:close() end
    end
  end
  return out
end

return M
