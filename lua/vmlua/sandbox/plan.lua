--- The sandbox's plan: the sandbox dir, every socket and log path, the
-- processes to start in order (virtiofsd for each share and the recipe's
-- helpers, then the hypervisor) with their argv, and the readiness probes
-- bound to those paths. Computing a plan starts nothing and creates
-- nothing; `plan`, `check` and `run` all use it.
--
-- The hypervisor's config is wired through the builder contract
-- (set_control_socket, set_serial_file, add_share: docs/drivers.md); what
-- the wiring is called and how the hypervisor is launched come from the
-- sandbox's driver.
local core = require "vmlua.core"
local virtiofsd = require "vmlua.virtiofsd"

local M = {}

local function add_error(plan, fmt, ...)
  plan.errors[#plan.errors + 1] = string.format(fmt, ...)
end

-- A socket path in the sandbox dir (its length checked against sun_path).
local function socket_path(plan, name)
  local p, err = core.paths.socket(plan.dir, name)
  if not p then
    plan.errors[#plan.errors + 1] = err
    return plan.dir .. "/" .. name
  end
  return p
end

-- A program path with a slash but not absolute is relative to the recipe's
-- directory, like every other path in a recipe; a bare name is looked up on
-- PATH by core.spawn.
local function resolve_program(sb, argv)
  local out = table.move(argv, 1, #argv, 1, {})
  if out[1] and out[1]:find("/", 1, true) and out[1]:sub(1, 1) ~= "/" then out[1] = sb:resolve(out[1]) end
  return out
end

-- A probe bound to this plan: serial and line probes read files in the dir.
local function bind_probe(p, plan, owner_log)
  local b = {}
  for k, v in pairs(p) do b[k] = v end
  if p.kind == "serial" then
    b.file = plan.serial_log
  elseif p.kind == "line" then
    b.file = owner_log
  elseif p.kind == "socket" and p.path:sub(1, 1) ~= "/" then
    b.path = plan.dir .. "/" .. p.path
  end
  return b
end

local function new_plan(sb, opts)
  local id = opts.id or sb.load.id or sb.id
  local run_dir = opts.run_dir or core.paths.default_run_dir()
  local plan = {
    id = id, run_dir = run_dir, dir = run_dir .. "/" .. id, kind = sb.kind, driver = sb.driver, flow = sb.flow,
    base_dir = sb.base_dir, recipe = sb.recipe, args = sb.args, errors = {},
    processes = {}, sockets = {}, config = sb.hypervisor:copy(),
  }
  local ok, err = core.paths.check_id(id)
  if not ok then plan.errors[#plan.errors + 1] = err end
  return plan
end

--- The control socket: the recipe's own, or the driver's file in the dir.
function M.wire_control_socket(plan)
  local ctl = plan.config:control_socket()
  local control = plan.driver.control
  if not ctl then
    ctl = socket_path(plan, control.file)
    local ok, err = plan.config:set_control_socket(ctl)
    if not ok then add_error(plan, "hypervisor: cannot add the control socket: %s", tostring(err)) end
  end
  plan.control_socket = ctl
  plan.sockets[control.protocol] = ctl
end

--- The serial console goes to serial.log in the sandbox dir unless the
-- recipe already sends it to a file of its own.
function M.wire_serial(plan)
  plan.serial_log = plan.config:serial_file()
  if plan.serial_log then return end
  local path = plan.dir .. "/serial.log"
  local ok, err = plan.config:set_serial_file(path)
  if ok then plan.serial_log = path else plan.serial_note = err end
end

-- The recipe's name for a virtiofsd field: the share's own field, or the
-- share's virtiofsd table's.
local SHARE_FIELDS = { source = "source", cache = "cache", path = "virtiofsd.path", flavor = "virtiofsd.flavor",
                       sandbox = "virtiofsd.sandbox", thread_pool_size = "virtiofsd.thread_pool_size",
                       extra_args = "virtiofsd.extra_args" }

-- A virtiofsd builder's "field: message" as the recipe names it:
-- "shares[1].source: must not contain ','...".
local function share_problem(i, err)
  err = tostring(err)
  local field, rest, msg = err:match("^([%a_]+)([^%s:]*): (.*)$")
  if field and SHARE_FIELDS[field] then
    return string.format("shares[%d].%s%s: %s", i, SHARE_FIELDS[field], rest, msg)
  elseif field == "socket" then
    return string.format("shares[%d]: the virtiofsd socket in the sandbox dir: %s (see VMLUA_RUN_DIR)", i, msg)
  end
  return string.format("shares[%d].virtiofsd: %s", i, err)
end

-- virtiofsd for share i: its process (ready by its "Waiting for vhost-user"
-- line) and its socket.
local function virtiofsd_process(sb, plan, i, share)
  local sock = socket_path(plan, string.format("vfs%d.sock", i))
  local v = share.virtiofsd
  local bin = v.path and (core.fs.which(v.path) or v.path) or virtiofsd.find()
  if not bin then
    add_error(plan, "shares[%d]: virtiofsd not found (looked for %s); install it or set shares[%d].virtiofsd.path",
              i, table.concat(virtiofsd.CANDIDATES, ", "), i)
    bin = "virtiofsd"
  end
  local log = plan.dir .. "/" .. string.format("virtiofsd-%d.log", i)
  local cfg, cerr = virtiofsd.new {
    path = bin, socket = sock, source = sb:resolve(share.source), cache = share.cache,
    sandbox = v.sandbox or virtiofsd.default_sandbox(), thread_pool_size = v.thread_pool_size,
    extra_args = v.extra_args,
    flavor = v.flavor,
  }
  local argv, aerr
  if cfg then argv, aerr = cfg:command() end
  if not argv then
    plan.errors[#plan.errors + 1] = share_problem(i, cerr or aerr)
    argv = { bin }
  end
  -- virtiofsd serves exactly one connection: readiness is its ready line,
  -- never a connect() probe (that would be taken for the VMM).
  local ready = {}
  local r = cfg and cfg:ready() or { line = virtiofsd.READY_LINE }
  if r.line then ready[1] = bind_probe({ kind = "line", text = r.line, timeout = share.timeout }, plan, log) end
  return {
    name = "virtiofsd-" .. share.tag, role = "share", share = i, tag = share.tag, argv = argv, log = log,
    socket = sock, cwd = sb.base_dir, env = v.env, timeout = share.timeout, ready = ready,
    stop = { signal = "SIGTERM", grace = 5 },
  }
end

--- A virtiofsd per share, and the share wired into the hypervisor config.
function M.wire_shares(sb, plan)
  for i, share in ipairs(sb.shares) do
    local proc = virtiofsd_process(sb, plan, i, share)
    local ok, err = plan.config:add_share { tag = share.tag, socket = proc.socket, queue_size = share.queue_size }
    if not ok then
      add_error(plan, "shares[%d]: cannot wire into the hypervisor config: %s", i, tostring(err))
    end
    plan.sockets[proc.name] = proc.socket
    plan.processes[#plan.processes + 1] = proc
  end
end

--- The recipe's helpers, in order, each with its output in the dir.
function M.add_helpers(sb, plan)
  for _, h in ipairs(sb.helpers) do
    local log = plan.dir .. "/" .. h.name .. ".log"
    local proc = {
      name = h.name, role = "helper", argv = resolve_program(sb, h.argv), env = h.env,
      cwd = h.cwd and sb:resolve(h.cwd) or sb.base_dir,
      log = log, timeout = h.timeout, stop = h.stop, ready = {},
    }
    for j, p in ipairs(h.ready) do proc.ready[j] = bind_probe(p, plan, log) end
    plan.processes[#plan.processes + 1] = proc
  end
end

--- Sockets the recipe named itself (vsock, vhost-user backends, ...) must
-- fit in sun_path too.
function M.check_recipe_sockets(plan)
  for _, e in ipairs(plan.config:socket_entries()) do
    local dir, name = e.path:match("^(.*)/([^/]*)$")
    local ok, err = core.paths.socket(dir or ".", name or e.path)
    if not ok then add_error(plan, "hypervisor.%s: %s", e.field, err) end
  end
end

--- The hypervisor process, as its driver launches it in the sandbox's flow.
function M.add_hypervisor(sb, plan)
  -- The builder raises for a config it cannot launch (a recipe that edited
  -- cfg.fields by hand): that is a recipe error, reported with the others.
  local valid, verr = plan.config:validate()
  local launch
  if valid then
    launch = plan.driver.launch(plan.config, plan.flow)
  else
    add_error(plan, "hypervisor: %s", tostring(verr))
    launch = { argv = { plan.config:binary() } }
  end
  plan.vm_config, plan.net_hotplug = launch.vm_config, launch.net_hotplug
  plan.hypervisor = {
    name = "hypervisor", role = "hypervisor", argv = resolve_program(sb, launch.argv),
    log = plan.dir .. "/hypervisor.log", fds = launch.fds or {}, env = sb.env, cwd = sb.base_dir,
  }
  plan.processes[#plan.processes + 1] = plan.hypervisor
end

--- The sandbox's readiness probes, bound to the plan's files.
function M.bind_ready(sb, plan)
  plan.ready = {}
  for i, p in ipairs(sb.ready) do plan.ready[i] = bind_probe(p, plan, plan.hypervisor.log) end
  -- the same list under the hypervisor's process, as for helpers (and as
  -- `plan --json` shows it): a step may change a probe through either
  plan.hypervisor.ready = plan.ready
  for _, p in ipairs(plan.ready) do
    if p.kind == "serial" and not plan.serial_log then
      add_error(plan, "ready: a serial probe needs the serial console in a file, but %s",
                plan.serial_note or "the hypervisor config sends it elsewhere")
    end
  end
end

local function unique(list)
  local seen, out = {}, {}
  for _, e in ipairs(list) do
    if not seen[e] then seen[e] = true; out[#out + 1] = e end
  end
  return out
end

--- The plan of `sb` (`opts`: `id`, `run_dir`). Problems that would stop a
-- launch (a socket path over the sun_path limit, virtiofsd missing) are
-- collected in plan.errors rather than raised, so that `check` can report
-- all of them.
function M.plan(sb, opts)
  local plan = new_plan(sb, opts or {})
  M.wire_control_socket(plan)
  M.wire_serial(plan)
  M.wire_shares(sb, plan)
  M.add_helpers(sb, plan)
  M.check_recipe_sockets(plan)
  require("vmlua.sandbox.resources").wire(sb, plan) -- network, disks
  M.add_hypervisor(sb, plan)
  M.bind_ready(sb, plan)
  plan.stop = sb.stop
  plan.errors = unique(plan.errors)
  return plan
end

return M
