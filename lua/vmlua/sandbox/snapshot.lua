--- Snapshots, restores and templates in a sandbox's life: the recipe fields
-- (`template = true`, `from = NAME`, `restore = DIR`, and `run --from`,
-- `--restore`), what they change in the plan, and the steps around the
-- hypervisor's start and end. What the hypervisor does is its driver's
-- (template_config, restore_config, stage_restore, restore, clone); the
-- store of templates is vmlua.sandbox.templates, the manifests
-- vmlua.sandbox.saved; docs/snapshots.md tells the whole story.
--
-- Modes (`sb.snapshot.mode`):
--   template  the guest RAM in a shared file, so `vmlua template save` can
--             keep it and clones can map it;
--   clone     start from a template: its RAM file mapped privately
--             (copy-on-write), its device state loaded;
--   restore   start from a snapshot dir (`vmlua snapshot ID DIR`).
-- A restored sandbox or a clone does not boot: it is ready once the
-- hypervisor says the VM runs (the driver's default readiness); the
-- recipe's own probes describe a boot and are not run.
local core = require "vmlua.core"
local S = require "vmlua.schema"
local fingerprint = require "vmlua.sandbox.fingerprint"
local saved = require "vmlua.sandbox.saved"
local templates = require "vmlua.sandbox.templates"

local M = {}

--- The file in the sandbox dir that records its config's fingerprint
-- (what `vmlua snapshot` and `vmlua template save` put in the manifest).
M.FINGERPRINT_FILE = "fingerprint.json"
--- The dir in the sandbox dir where a driver stages a restore's files.
M.STAGE_DIR = "restore"

local MODE_FIELD = { template = "template", clone = "from", restore = "restore" }
local MODE_WHAT = { template = "keep templates", clone = "start clones of templates", restore = "restore snapshots" }
-- The driver functions each mode needs (docs/drivers.md).
local MODE_NEEDS = { template = { "template_config" }, clone = { "restore_config", "stage_restore", "clone" },
                     restore = { "restore_config", "stage_restore", "restore" } }

-- Why the driver cannot do `mode`: what it says, or the function it lacks.
local function cannot(driver, mode)
  local why = driver.cannot and driver.cannot[mode]
  if why then return why end
  for _, fn in ipairs(MODE_NEEDS[mode]) do
    if type(driver[fn]) ~= "function" then
      return string.format("its driver (vmlua.driver.%s) has no %s", driver.name, fn)
    end
  end
  return nil
end

-- ------------------------------------------------------------ recipe fields

local template_name = S.string { nonempty = true, check = function(v, path)
  local ok, err = core.paths.check_id(v)
  if not ok then return S.fail(path, "%s", (err:gsub("sandbox id", "template name"))) end
  return true
end }

--- The recipe fields, added to the sandbox schema.
M.fields = {
  template = S.boolean {},
  from = template_name,
  restore = S.string { nonempty = true },
}

--- At most one of template, from and restore (checked with the sandbox).
function M.check(spec, path)
  local given = {}
  if spec.template then given[#given + 1] = "template" end
  if spec.from ~= nil then given[#given + 1] = "from" end
  if spec.restore ~= nil then given[#given + 1] = "restore" end
  if #given > 1 then
    return S.fail(S.join(path, given[2]), "give one of template, from and restore, not both %s and %s",
                  given[1], given[2])
  end
  return true
end

--- The mode of a recipe's table, for `sb.snapshot` (nil: none).
function M.normalize(spec, sb)
  if spec.template then return { mode = "template" } end
  if spec.from then return { mode = "clone", name = spec.from } end
  if spec.restore then return { mode = "restore", dir = sb:resolve(spec.restore) } end
  return nil
end

--- `run --from NAME` / `--restore DIR` replace what the recipe says (a
-- recipe with `template = true` is how its clones are described too).
-- Returns true, or nil and a usage message.
function M.override(sb, opts)
  if opts.from and opts.restore then return nil, "--from and --restore: give one of them" end
  if opts.from then
    local ok, err = template_name:check(opts.from, "--from")
    if not ok then return nil, err end
    sb.snapshot = { mode = "clone", name = opts.from }
  elseif opts.restore then
    local dir = opts.restore
    if dir:sub(1, 1) ~= "/" then dir = (core.fs.realpath(".") or os.getenv("PWD") or ".") .. "/" .. dir end
    sb.snapshot = { mode = "restore", dir = dir }
  end
  return true
end

-- ------------------------------------------------------------ the plan

local function add_error(plan, fmt, ...)
  plan.errors[#plan.errors + 1] = string.format(fmt, ...)
end

--- What of a sandbox a saved VM cannot carry, from its plan or its state
-- (`disks` and `network` as vmlua.sandbox.resources records them): a disk the
-- guest writes (its contents are not saved with the VM: a restore would see
-- other contents than its memory remembers), a tap (the tap and its host
-- addresses are one sandbox's). The field and why, or nil.
function M.unsaveable(disks, network)
  for i, d in ipairs(type(disks) == "table" and disks or {}) do
    if type(d) == "table" and not d.read_only then
      return string.format("disks[%d]", i), "a disk the guest writes cannot be in a snapshot or a template: its "
        .. "contents are not saved with the VM; make it read_only"
    end
  end
  if type(network) == "table" and network.mode == "tap" then
    return "network", "a tap network cannot be in a snapshot or a template: the tap and its addresses are one "
      .. "sandbox's; use mode = \"user\""
  end
  return nil
end

local function refuse_shares(sb, plan, field, what)
  if #sb.shares == 0 then return false end
  add_error(plan, "%s: a sandbox with shares cannot %s: virtio-fs needs the guest RAM shared with virtiofsd, and "
            .. "a vhost-user-fs device cannot be migrated (QEMU: \"State blocked by non-migratable device\"); "
            .. "drop the shares", field, what)
  return true
end

-- The saved VM to start from, checked against this sandbox: the manifest
-- and its dir, or nil (errors added to the plan).
local function source(plan, snap)
  local field = MODE_FIELD[snap.mode]
  local m, err
  if snap.mode == "clone" then
    m, err = templates.load(plan.run_dir, snap.name)
    if not m then add_error(plan, "%s: %s", field, err); return nil end
  else
    m, err = saved.read_snapshot(snap.dir)
    if m then
      m.dir = snap.dir
      local ok, ferr = saved.check_files(m, snap.dir)
      if not ok then m, err = nil, string.format("%s: the snapshot is incomplete: %s", snap.dir, ferr) end
    end
    if not m then add_error(plan, "%s: %s", field, err); return nil end
  end
  local ok, cerr = saved.compatible(m, plan.driver, plan.fingerprint)
  if not ok then
    local what = snap.mode == "clone" and string.format("template '%s'", snap.name) or ("snapshot " .. snap.dir)
    add_error(plan, "%s: cannot start from %s: %s", field, what, cerr)
    return nil
  end
  return m
end

--- What a sandbox's mode changes in the plan (before its hypervisor is
-- launched): the config's fingerprint (`plan.fingerprint`, for any sandbox
-- that could be saved: one without shares), the RAM file of a template,
-- the restore of a clone or a restored sandbox (`plan.snapshot`). Problems
-- go to plan.errors.
function M.wire(sb, plan)
  if #sb.shares == 0 then
    -- a MAC vmlua made from the id is the sandbox's own, as the id is
    local own = {}
    local net = plan.network
    if net and net.mac and not (sb.network and sb.network.mac) then own[net.mac] = "<mac>" end
    plan.fingerprint = fingerprint.of(plan.config, { dir = plan.dir, id = plan.id, own = own })
  end
  local snap = sb.snapshot
  if not snap then return end
  local field = MODE_FIELD[snap.mode]
  local why = cannot(plan.driver, snap.mode)
  if why then
    add_error(plan, "%s: %s cannot %s: %s", field, plan.driver.title, MODE_WHAT[snap.mode], why)
    return
  end
  if refuse_shares(sb, plan, field, snap.mode == "template" and "be a template" or "be saved or restored") then
    return
  end
  local what, why2 = M.unsaveable(plan.disks, plan.network)
  if what then add_error(plan, "%s: %s (%s)", what, why2, field); return end
  if snap.mode == "template" then
    local ram = templates.running_ram(plan.run_dir, plan.id)
    local ok, err = plan.driver.template_config(plan.config, ram)
    if not ok then add_error(plan, "template: %s", err); return end
    plan.snapshot = { mode = "template", ram = ram }
    return
  end
  local m = source(plan, snap)
  if not m then return end
  local from = { kind = m.kind, dir = m.dir, ram = m.ram and m.ram.path, stage = plan.dir .. "/" .. M.STAGE_DIR }
  local ok, err = plan.driver.restore_config(plan.config, from)
  if not ok then add_error(plan, "%s: %s", field, err); return end
  plan.snapshot = { mode = snap.mode, name = snap.name, dir = m.dir, ram = from.ram, stage = from.stage,
                    files = m.files }
end

--- A restored sandbox or a clone is ready when its guest agent answers
-- (with `agent`), else when its hypervisor says the VM runs (the driver's
-- default readiness), whatever the recipe's probes say: they wait for a
-- boot that does not happen.
function M.bind_ready(sb, plan)
  if plan.snapshot and plan.snapshot.mode ~= "template" then
    plan.ready = plan.agent and require("vmlua.sandbox.agent").default_ready(plan.driver, sb.timeouts.ready)
                 or plan.driver.default_ready(sb.timeouts.ready)
    plan.hypervisor.ready = plan.ready
  end
end

--- How many bytes of the host's randomness a restored guest gets.
M.RESEED_BYTES = 64

--- Once a clone or a restored sandbox is ready: through its guest agent
-- (when it has one), new randomness into the guest's pool and the guest's
-- clock set to now. A clone starts with its template's RNG state and
-- clock; writing to /dev/urandom mixes the bytes into the pool, so clones
-- of one template no longer draw the same numbers. Failures are logged,
-- not fatal (docs/snapshots.md: making clones unique).
function M.after_ready(rt)
  local snap = rt.plan.snapshot
  if not (snap and snap.mode ~= "template" and rt.plan.agent) then return true end
  local c, err = rt:agent()
  if not c then rt:log("warn", "cannot refresh the guest's randomness: " .. tostring(err)); return true end
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(M.RESEED_BYTES)
  if f then f:close() end
  local ok, werr = true, nil
  if bytes then ok, werr = c:write_file("/dev/urandom", bytes) end
  local tok, terr = c:call("guest-set-time", { time = math.floor(core.time() * 1e9) })
  c:close()
  if not (bytes and ok) then rt:log("warn", "cannot refresh the guest's randomness: " .. tostring(werr)) end
  if not tok then rt:log("warn", "cannot set the guest's clock: " .. tostring(terr)) end
  -- recorded with the "running" state that follows (state.json: snapshot.refreshed)
  if rt.state.snapshot then rt.state.snapshot.refreshed = { randomness = (bytes and ok) and true or false,
                                                            clock = tok and true or false } end
  rt:progress("through the agent: randomness %s, clock %s", (bytes and ok) and "refreshed" or "NOT refreshed",
              tok and "set" or "NOT set")
  return true
end

--- What state.json records: the mode, and the files it uses.
function M.record(st, plan)
  local snap = plan.snapshot
  if snap then st.snapshot = { mode = snap.mode, name = snap.name, dir = snap.dir, ram = snap.ram } end
end

-- ------------------------------------------------------------ the launch

-- Write the fingerprint file (no fsync: it is made again by every launch,
-- and a sandbox whose dir did not survive a crash is gone anyway).
local function write_fingerprint(rt)
  local path = rt.dir .. "/" .. M.FINGERPRINT_FILE
  local f, err = io.open(path .. ".tmp", "wb")
  if not f then return nil, err end
  local tree = rt.plan.fingerprint
  f:write(core.json.encode({ hash = fingerprint.hash(tree), fingerprint = tree }), "\n")
  f:close()
  return os.rename(path .. ".tmp", path)
end

--- Before the hypervisor starts: the fingerprint file; a template's RAM
-- dir (and no stale RAM file from a run that crashed); the driver's staged
-- files of a restore. true, or nil and a message.
function M.stage(rt)
  local plan = rt.plan
  if plan.fingerprint then
    local ok, err = write_fingerprint(rt)
    if not ok then return nil, "cannot record the config's fingerprint: " .. tostring(err) end
  end
  local snap = plan.snapshot
  if not snap then return true end
  if snap.mode == "template" then
    local ok, err = templates.make_ram_dir(plan.run_dir)
    if not ok then return nil, "template: " .. err end
    core.fs.remove(snap.ram)
    return true
  end
  return plan.driver.stage_restore(rt)
end

--- The boot step: the driver's boot, or for a clone or a restored sandbox
-- the driver's restore (its saved state loaded, the VM resumed).
function M.boot(rt)
  local snap = rt.plan.snapshot
  if snap and snap.mode == "clone" then return rt.driver.clone(rt) end
  if snap and snap.mode == "restore" then return rt.driver.restore(rt) end
  return rt.driver.boot(rt)
end

--- Once the hypervisor has ended: a template sandbox's RAM file goes, unless
-- `vmlua template save` took it (renamed it into the store). Only the path
-- the store's naming gives for this sandbox is removed, whatever the state
-- file says.
function M.release(rt)
  local snap = rt.state and rt.state.snapshot
  if type(snap) ~= "table" or snap.mode ~= "template" then return end
  local run_dir = rt.plan.run_dir or (rt.dir and rt.dir:match("^(.*)/[^/]*$"))
  if not run_dir then return end
  local ram = templates.running_ram(run_dir, rt.id)
  if snap.ram == ram then
    core.fs.remove(ram)
    templates.tidy_ram_dir(run_dir)
  end
end

return M
