--- Saving a running sandbox: `vmlua snapshot ID DIR` (the whole VM, into a
-- dir of the user's) and `vmlua template save ID NAME` (a template
-- sandbox's device state and RAM file, into the run dir's template store).
-- This process talks to the hypervisor through the sandbox's driver (its
-- control socket is free: the supervisor holds it only while it probes or
-- stops); the supervisor keeps supervising, and records the end when a save
-- stops the VM.
--
-- Failures return `nil, message, code` (vmlua.sandbox.control's codes: 2
-- when nothing was done because the request cannot be met, 1 for a
-- failure on the way, after which the sandbox runs on as it was).
local core = require "vmlua.core"
local liveness = require "vmlua.sandbox.liveness"
local saved = require "vmlua.sandbox.saved"
local templates = require "vmlua.sandbox.templates"

local M = {}

local USAGE, RUNTIME = 2, 1

M.DEFAULT_TIMEOUT = 120

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local v = core.json.decode(f:read("a") or "")
  f:close()
  return v
end

-- The running sandbox `id` to save: `{ st =, driver =, dir =, config = }`,
-- or nil, message, code.
local function running(control, id)
  local st, store, code = control.find(id)
  if not st then return nil, store, code end
  local status = control.status(st)
  if status ~= "running" then
    return nil, string.format("sandbox '%s' is not running (status %s)", id, status), USAGE
  end
  for _, p in pairs(type(st.processes) == "table" and st.processes or {}) do
    if type(p) == "table" and p.role == "share" then
      return nil, string.format("sandbox '%s' has shares and cannot be saved: virtio-fs needs the guest RAM shared "
                                .. "with virtiofsd, and a vhost-user-fs device cannot be migrated", id), USAGE
    end
  end
  local field, why = require("vmlua.sandbox.snapshot").unsaveable(st.disks, st.network)
  if field then return nil, string.format("sandbox '%s' cannot be saved: %s: %s", id, field, why), USAGE end
  local driver, derr = require("vmlua.driver").named(st.hypervisor)
  if not driver then return nil, string.format("sandbox '%s': %s", id, derr), RUNTIME end
  local dir, dirr = store:dir_of(id)
  if not dir then return nil, dirr, RUNTIME end
  local fp = read_json(dir .. "/" .. require("vmlua.sandbox.snapshot").FINGERPRINT_FILE)
  if type(fp) ~= "table" or type(fp.hash) ~= "string" or type(fp.fingerprint) ~= "table" then
    return nil, string.format("sandbox '%s' records no fingerprint of its config (%s/%s): it was started by a "
                              .. "vmlua without snapshots; start it again", id, dir,
                              require("vmlua.sandbox.snapshot").FINGERPRINT_FILE), RUNTIME
  end
  if type(st.control_socket) ~= "string" then
    return nil, string.format("sandbox '%s' has no control socket in its state", id), RUNTIME
  end
  return { st = st, driver = driver, dir = dir, config = fp }
end

-- Wait (up to `timeout`) for the supervisor of `st` to finish, after the VM
-- was stopped under it.
local function wait_supervisor(st, timeout)
  local sup = liveness.attach_owned(st.supervisor)
  if not sup then return true end
  local how = sup:wait(timeout)
  sup:close()
  return how ~= nil
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (core.fs.realpath(".") or os.getenv("PWD") or ".") .. "/" .. path
end

-- The dir a snapshot goes into: a new one (made 0700), or an existing empty
-- one. Returns the absolute path and whether it was made here.
local function snapshot_dir(dir)
  dir = absolute(dir)
  if core.fs.exists(dir) then
    if not core.fs.is_dir(dir) then return nil, dir .. ": not a directory" end
    local names = core.fs.list(dir)
    if names == nil then return nil, dir .. ": cannot be read" end
    if #names > 0 then return nil, dir .. ": not empty (a snapshot goes into a new or an empty dir)" end
    return dir, false
  end
  local ok, err = core.fs.mkdir(dir, tonumber("700", 8))
  if not ok then return nil, err end
  return dir, true
end

-- Undo a failed snapshot: its files, and the dir if we made it.
local function discard(dir, made)
  for _, name in ipairs(core.fs.list(dir) or {}) do core.fs.remove_tree(dir .. "/" .. name) end
  if made then core.fs.remove(dir) end
end

local function source(s)
  return { id = s.st.id, recipe = s.st.recipe }
end

-- Make every file of `dir` durable, then the dir.
local function sync_dir(dir)
  for _, f in ipairs(saved.list_files(dir)) do
    local ok, err = core.fs.fsync(dir .. "/" .. f.name)
    if not ok then return nil, err end
  end
  return core.fs.fsync(dir)
end

--- `vmlua snapshot ID DIR`: pause the VM, save it into DIR (a new or empty
-- dir) with a manifest, then resume it (if it ran), or with `opts.stop`
-- end it. opts: stop, timeout. Returns `{ dir =, seconds =, bytes =,
-- stopped = }`, or nil, message, code.
function M.snapshot(control, id, dir, opts)
  opts = opts or {}
  local s, err, code = running(control, id)
  if not s then return nil, err, code end
  local made
  dir, made = snapshot_dir(dir)
  if not dir then return nil, made, USAGE end
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  local client, cerr = s.driver.connect(s.st.control_socket, timeout)
  if not client then discard(dir, made); return nil, cerr, RUNTIME end
  local t0 = core.monotonic()
  local res, serr = s.driver.snapshot(client, dir, { timeout = timeout })
  local ok, werr = res ~= nil, serr
  local bytes = 0
  if ok then ok, werr = sync_dir(dir) end
  if ok then
    local files = saved.list_files(dir)
    for _, f in ipairs(files) do bytes = bytes + f.size end
    ok, werr = saved.write_snapshot(dir, {
      format = saved.FORMAT, kind = "snapshot", hypervisor = s.driver.name, source = source(s), created = core.time(),
      seconds = core.monotonic() - t0, config = s.config, files = core.json.array(files),
    })
  end
  if not ok then
    if res and res.was_running then s.driver.resume(client) end
    client:close()
    discard(dir, made)
    return nil, string.format("snapshot of '%s' failed: %s", id, tostring(werr)), RUNTIME
  end
  local seconds = core.monotonic() - t0
  if opts.stop then
    s.driver.quit(client)
  elseif res.was_running then
    local rok, rerr = s.driver.resume(client)
    if rok == nil then
      client:close()
      return nil, string.format("snapshot of '%s' saved in %s, but the VM did not resume: %s", id, dir, rerr), RUNTIME
    end
  end
  client:close()
  if opts.stop then wait_supervisor(s.st, timeout) end
  return { dir = dir, seconds = seconds, bytes = bytes, stopped = opts.stop == true }
end

-- ------------------------------------------------------------ templates

-- The RAM file of template sandbox `s` (it must be where the store put it).
local function template_ram(s, run_dir)
  local snap = s.st.snapshot
  if type(snap) ~= "table" or snap.mode ~= "template" then
    return nil, string.format("sandbox '%s' is not a template sandbox: its recipe needs template = true (the guest "
                              .. "RAM in a file its clones can map)", s.st.id), USAGE
  end
  local ram = templates.running_ram(run_dir, s.st.id)
  local st = core.fs.stat(ram)
  if snap.ram ~= ram or not st or st.type ~= "file" then
    return nil, string.format("sandbox '%s': its RAM file %s is missing", s.st.id, ram), RUNTIME
  end
  return ram
end

-- Save the device state and move the RAM file into template `name`'s place;
-- returns the ready manifest or nil, message. On failure the sandbox is as
-- it was (RAM file back, VM resumed by the caller).
local function save_template(s, client, m, tdir, ram, ram_to, timeout)
  local t0 = core.monotonic()
  local res, err = s.driver.save_template(client, tdir, { timeout = timeout })
  if not res then return nil, err end
  local ok, serr = core.fs.fsync(tdir .. "/" .. s.driver.STATE_FILE)
  if not ok then return nil, serr, res end
  ok, serr = os.rename(ram, ram_to)
  if not ok then return nil, serr, res end
  core.fs.fsync(ram_to)
  core.fs.fsync(ram_to:match("^(.*)/[^/]*$"))
  local files = {}
  for _, f in ipairs(saved.list_files(tdir)) do
    if f.name == s.driver.STATE_FILE then files[#files + 1] = f end
  end
  m.status, m.saver = "ready", nil
  m.files = core.json.array(files)
  m.ram = { path = ram_to, size = core.fs.stat(ram_to).size }
  m.seconds = core.monotonic() - t0
  return m, nil, res
end

--- `vmlua template save ID NAME`: save template sandbox ID as template NAME
-- (its device state, x-ignore-shared, and its RAM file), then stop it.
-- opts: timeout. Returns the manifest (with `name`), or nil, message, code.
function M.template(control, id, name, opts)
  opts = opts or {}
  local nok, nerr = core.paths.check_id(name)
  if not nok then return nil, (nerr:gsub("sandbox id", "template name")), USAGE end
  local s, err, code = running(control, id)
  if not s then return nil, err, code end
  local run_dir = control.run_dir()
  local ram, rerr, rcode = template_ram(s, run_dir)
  if not ram then return nil, rerr, rcode end
  local store, serr = templates.open(run_dir)
  if not store then return nil, serr, RUNTIME end
  local lock, lerr = store:lock(name)
  if not lock then
    store:close()
    return nil, string.format("template '%s' is being saved or removed: %s", name, lerr), RUNTIME
  end
  local tdir = templates.store_dir(run_dir) .. "/" .. name
  if core.fs.exists(tdir .. "/state.json") then
    lock:close(); store:close()
    return nil, string.format("template '%s' exists: remove it first ('vmlua template rm %s')", name, name), USAGE
  end
  local m = { format = saved.FORMAT, kind = "template", status = "saving", hypervisor = s.driver.name,
              source = source(s), created = core.time(), config = s.config, saver = liveness.me() }
  local ok, werr = store:save(name, m)
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  local client, res
  if ok then client, werr = s.driver.connect(s.st.control_socket, timeout) end
  local ram_to = templates.saved_ram(run_dir, name)
  if client then m, werr, res = save_template(s, client, m, tdir, ram, ram_to, timeout) end
  if client and m then ok, werr = store:save(name, m) else ok = false end
  if not ok then
    if core.fs.exists(ram_to) then os.rename(ram_to, ram) end
    if client and res and res.was_running then s.driver.resume(client) end
    if client then client:close() end
    store:remove(name)
    lock:close(); store:close()
    return nil, string.format("saving '%s' as template '%s' failed: %s", id, name, tostring(werr)), RUNTIME
  end
  s.driver.quit(client)
  client:close()
  wait_supervisor(s.st, timeout)
  lock:close()
  store:close()
  m.name = name
  return m
end

return M
