--- Turn a sandbox description into a plan: the sandbox dir, every socket and
-- log path, the processes to start in order (virtiofsd for each share and
-- the recipe's helpers, then the hypervisor) with their argv, and the
-- readiness probes bound to those paths. Computing a plan starts nothing and
-- creates nothing; `plan`, `check` and `run` all use it.
local core = require "vmlua.core"

local M = {}

--- Where virtiofsd is looked for when a share does not name it: the Rust
-- virtiofsd on PATH or in /usr/libexec, then QEMU's C virtiofsd.
M.VIRTIOFSD_CANDIDATES = { "virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd" }

local function find_virtiofsd(path)
  if path then return core.fs.which(path) or path end
  for _, c in ipairs(M.VIRTIOFSD_CANDIDATES) do
    local p = core.fs.which(c)
    if p then return p end
  end
  return nil
end
M.find_virtiofsd = find_virtiofsd

local function socket_path(dir, name, errors)
  local p, err = core.paths.socket(dir, name)
  if not p then
    errors[#errors + 1] = err
    return dir .. "/" .. name
  end
  return p
end

-- A program path with a slash but not absolute is relative to the recipe's
-- directory, like every other path in a recipe; a bare name is looked up on
-- PATH by core.spawn.
local function resolve_program(sb, argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = a end
  if out[1] and out[1]:find("/", 1, true) and out[1]:sub(1, 1) ~= "/" then out[1] = sb:resolve(out[1]) end
  return out
end

local function merged_env(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do out[k] = v end
  end
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

local function virtiofsd_process(sb, plan, i, share, errors)
  local vfs_mod = require "vmlua.virtiofsd"
  local sock = socket_path(plan.dir, string.format("vfs%d.sock", i), errors)
  local bin = find_virtiofsd(share.virtiofsd.path)
  if not bin then
    errors[#errors + 1] = string.format(
      "shares[%d]: virtiofsd not found (looked for %s); install it or set shares[%d].virtiofsd.path",
      i, table.concat(M.VIRTIOFSD_CANDIDATES, ", "), i)
    bin = share.virtiofsd.path or "virtiofsd"
  end
  local v = share.virtiofsd
  local cfg = vfs_mod.config {
    path = bin, socket = sock, source = sb:resolve(share.source), cache = share.cache,
    sandbox = v.sandbox, thread_pool_size = v.thread_pool_size, extra_args = v.extra_args,
    flavor = v.flavor,
  }
  local name = "virtiofsd-" .. share.tag
  local log = plan.dir .. "/" .. string.format("virtiofsd-%d.log", i)
  local argv, aerr = cfg:argv()
  if not argv then
    errors[#errors + 1] = string.format("shares[%d].virtiofsd: %s", i, tostring(aerr))
    argv = { bin }
  end
  -- virtiofsd serves exactly one connection: readiness is its ready line,
  -- never a connect() probe (that would be taken for the VMM).
  local ready = {}
  local r = cfg:ready()
  if r.line then ready[1] = bind_probe({ kind = "line", text = r.line, timeout = share.timeout }, plan, log) end
  return {
    name = name, role = "share", share = i, tag = share.tag, argv = argv, log = log,
    socket = sock, cwd = sb.base_dir, env = v.env, timeout = share.timeout, ready = ready,
    stop = { signal = "SIGTERM", grace = 5 },
  }, sock
end

--- Compute the plan for `sb` in `run_dir`. Returns the plan; problems that
-- would stop a launch (a socket path over the sun_path limit, virtiofsd
-- missing) are collected in plan.errors rather than raised, so that `check`
-- can report all of them.
function M.plan(sb, opts)
  opts = opts or {}
  local id = opts.id or sb.id
  local run_dir = opts.run_dir or core.paths.default_run_dir()
  local plan = {
    id = id, run_dir = run_dir, dir = run_dir .. "/" .. id, kind = sb.kind, flow = sb.flow,
    base_dir = sb.base_dir, recipe = sb.recipe, args = sb.args, errors = {},
    processes = {}, sockets = {},
  }
  local errors = plan.errors
  local ok, err = core.paths.check_id(id)
  if not ok then errors[#errors + 1] = err end

  local cfg = sb.hypervisor:copy()
  plan.config = cfg

  -- The control socket: QMP for QEMU, the REST API for cloud-hypervisor.
  local ctl = cfg:control_socket()
  if not ctl then
    ctl = socket_path(plan.dir, sb.kind == "qemu" and "qmp.sock" or "api.sock", errors)
    local set, serr = cfg:set_control_socket(ctl)
    if set == nil or set == false then
      errors[#errors + 1] = "hypervisor: cannot add the control socket: " .. tostring(serr)
    end
  end
  plan.control_socket = ctl
  plan.sockets[sb.kind == "qemu" and "qmp" or "api"] = ctl

  -- The serial console goes to a log in the sandbox dir unless the recipe
  -- already sends it to a file of its own.
  plan.serial_log = cfg:serial_file()
  if not plan.serial_log then
    local path = plan.dir .. "/serial.log"
    local set, serr = cfg:set_serial_file(path)
    if set ~= nil and set ~= false then plan.serial_log = path
    else plan.serial_note = serr end
  end

  for i, share in ipairs(sb.shares) do
    local proc, sock = virtiofsd_process(sb, plan, i, share, errors)
    local added, aerr = cfg:add_share { tag = share.tag, socket = sock, queue_size = share.queue_size }
    if added == nil or added == false then
      errors[#errors + 1] = string.format("shares[%d]: cannot wire into the hypervisor config: %s", i, tostring(aerr))
    end
    plan.sockets[proc.name] = sock
    plan.processes[#plan.processes + 1] = proc
  end

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

  -- Sockets the recipe named itself (vsock, vhost-user backends, ...).
  local entries = cfg.socket_entries and cfg:socket_entries() or {}
  for _, e in ipairs(entries) do
    local dir, name = e.path:match("^(.*)/([^/]*)$")
    local okp, perr = core.paths.socket(dir or ".", name or e.path)
    if not okp then errors[#errors + 1] = string.format("hypervisor.%s: %s", e.field, perr) end
  end

  local hv_log = plan.dir .. "/hypervisor.log"
  local argv
  if sb.kind == "clh" and sb.flow == "api" then
    argv = cfg:api_argv()
    plan.vm_config = cfg:vm_config()
  else
    argv = cfg:argv()
  end
  plan.hypervisor = {
    name = "hypervisor", role = "hypervisor", argv = resolve_program(sb, argv), log = hv_log,
    fds = cfg.fds and cfg:fds() or {},
    env = merged_env(sb.env), cwd = sb.base_dir,
  }
  plan.processes[#plan.processes + 1] = plan.hypervisor

  plan.ready = {}
  for i, p in ipairs(sb.ready) do plan.ready[i] = bind_probe(p, plan, hv_log) end
  for _, p in ipairs(plan.ready) do
    if p.kind == "serial" and not plan.serial_log then
      errors[#errors + 1] = "ready: a serial probe needs the serial console in a file, but "
        .. (plan.serial_note or "the hypervisor config sends it elsewhere")
    end
  end
  plan.stop = sb.stop
  local seen, unique = {}, {}
  for _, e in ipairs(errors) do
    if not seen[e] then seen[e] = true; unique[#unique + 1] = e end
  end
  plan.errors = unique
  return plan
end

return M
