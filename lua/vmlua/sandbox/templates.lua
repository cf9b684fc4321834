--- The template store of a run dir: `<run dir>/.templates/NAME/` (0700)
-- holds a template's manifest (`state.json`, written as sandbox states
-- are: temp file, fsync, rename; see vmlua.sandbox.saved), its lock and
-- the device state QEMU saved (`state`). The store is a vmlua.core state
-- store: names are checked as sandbox ids are, and `.templates` can never be
-- a sandbox id.
--
-- Guest RAM lives in a memory-backed file system: the store itself when the
-- run dir is one (tmpfs: /run, $XDG_RUNTIME_DIR), else a dir of its own in
-- /dev/shm (`/dev/shm/vmlua.<uid>.<hash of the run dir>`), else the store
-- on disk. There a running template sandbox keeps `<id>.running`, renamed
-- to `<NAME>.ram` when it is saved.
--
-- A template is immutable once ready: saving refuses an existing name, and
-- `remove` takes the lock. Clones never lock: they read a manifest that is
-- replaced atomically and start only from status "ready".
local core = require "vmlua.core"
local saved = require "vmlua.sandbox.saved"
local fingerprint = require "vmlua.sandbox.fingerprint"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

M.STORE = ".templates"
M.SHM = "/dev/shm"

function M.store_dir(run_dir)
  return run_dir .. "/" .. M.STORE
end

--- The store (created on first use, 0700), or nil and a message.
function M.open(run_dir)
  if not core.fs.exists(run_dir) then
    local ok, err = core.fs.mkdir(run_dir, tonumber("700", 8))
    if not ok and not core.fs.exists(run_dir) then return nil, err end
  end
  return core.state.open(M.store_dir(run_dir))
end

-- The nearest existing directory at or above `path` (statfs needs one).
local function existing(path)
  while not core.fs.exists(path) do
    local up = path:match("^(.*)/[^/]*$")
    if not up or up == "" then return "/" end
    path = up
  end
  return path
end

--- Where guest RAM files of `run_dir` go, and what kind of place it is:
-- "memory" (the store, on a memory-backed run dir), "shm" (a dir in
-- /dev/shm) or "disk" (the store, on disk: no memory-backed fs at hand).
function M.ram_dir(run_dir)
  local fs = core.fs.statfs(existing(run_dir))
  if fs and fs.memory then return M.store_dir(run_dir), "memory" end
  local shm = core.fs.statfs(M.SHM)
  if shm and shm.memory and core.fs.access(M.SHM, "w") then
    -- one dir per run dir, named by the run dir's path as vmlua spells it
    local key = run_dir:gsub("(.)/+$", "%1")
    return string.format("%s/vmlua.%d.%s", M.SHM, core.getuid(), fingerprint.fnv1a(key)), "shm"
  end
  return M.store_dir(run_dir), "disk"
end

--- The RAM file of a running template sandbox.
function M.running_ram(run_dir, id)
  return M.ram_dir(run_dir) .. "/" .. id .. ".running"
end

--- The RAM file of a saved template.
function M.saved_ram(run_dir, name)
  return M.ram_dir(run_dir) .. "/" .. name .. ".ram"
end

--- Make the RAM dir (0700) if needed; a dir in /dev/shm must be ours, a
-- real directory, and closed to others. true, or nil and a message.
function M.make_ram_dir(run_dir)
  local dir, where = M.ram_dir(run_dir)
  if where ~= "shm" then
    local store, err = M.open(run_dir)
    if not store then return nil, err end
    store:close()
    return true
  end
  local ok, err, errno = core.fs.mkdir(dir, tonumber("700", 8))
  if ok then return true end
  if errno ~= core.errno.EEXIST then return nil, err end
  local st = core.fs.stat(dir)
  if not st or st.type ~= "dir" or st.uid ~= core.getuid() or st.mode & tonumber("077", 8) ~= 0 then
    return nil, string.format("%s: not a private directory of uid %d (a symlink, another owner, or open to others)",
                              dir, core.getuid())
  end
  return true
end

--- Remove the RAM dir in /dev/shm and the store once nothing is left in
-- them (the removals fail, ENOTEMPTY, while they are in use).
function M.tidy_ram_dir(run_dir)
  local dir, where = M.ram_dir(run_dir)
  if where == "shm" then core.fs.remove(dir) end
  core.fs.remove(M.store_dir(run_dir))
end

-- ------------------------------------------------------------ reading

--- The status of a loaded manifest: "ready", "saving" (its saver is alive)
-- or "incomplete" (a save that did not finish).
function M.status(m)
  if m.status == "ready" then return "ready" end
  if m.saver and liveness.alive(m.saver) then return "saving" end
  return "incomplete"
end

--- Template `name` of `run_dir`, ready to clone: the manifest (with `dir`,
-- its directory), or nil and a message saying what is missing.
function M.load(run_dir, name)
  local ok, err = core.paths.check_id(name)
  if not ok then return nil, (err:gsub("sandbox id", "template name")) end
  local store_dir = M.store_dir(run_dir)
  if not core.fs.exists(store_dir .. "/" .. name .. "/state.json") then
    return nil, string.format("no template '%s' in %s ('vmlua template ls' lists them)", name, store_dir)
  end
  local store, serr = core.state.open(store_dir)
  if not store then return nil, serr end
  local m, lerr = store:load(name)
  store:close()
  if not m then return nil, string.format("template '%s': %s", name, lerr) end
  m, lerr = saved.check(m, string.format("template '%s'", name))
  if not m then return nil, lerr end
  local status = M.status(m)
  if status == "saving" then
    return nil, string.format("template '%s' is being saved (by pid %d): start its clones once 'vmlua template save' "
                              .. "has finished", name, m.saver.pid)
  elseif status == "incomplete" then
    return nil, string.format("template '%s' is incomplete (its save did not finish): remove it with "
                              .. "'vmlua template rm %s' and save it again", name, name)
  end
  if not m.ram then return nil, string.format("template '%s' records no RAM file", name) end
  m.dir = store_dir .. "/" .. name
  local fok, ferr = saved.check_files(m, m.dir)
  if not fok then
    return nil, string.format("template '%s' is incomplete: %s; remove it with 'vmlua template rm %s'",
                              name, ferr, name)
  end
  return m
end

--- Every template of `run_dir`: `{ { name =, status =, manifest = | error = } ... }`.
function M.list(run_dir)
  local out = {}
  local store_dir = M.store_dir(run_dir)
  if not core.fs.exists(store_dir) then return out end
  local store, err = core.state.open(store_dir)
  if not store then return nil, err end
  for _, name in ipairs(store:list()) do
    local m, lerr = store:load(name)
    if m then m, lerr = saved.check(m, string.format("template '%s'", name)) end
    if m then
      out[#out + 1] = { name = name, status = M.status(m), manifest = m }
    else
      out[#out + 1] = { name = name, status = "corrupt", error = lerr }
    end
  end
  store:close()
  return out
end

--- Remove template `name` (its RAM file too): true, or nil, message, code
-- (2: no such template).
function M.remove(run_dir, name)
  local ok, err = core.paths.check_id(name)
  if not ok then return nil, (err:gsub("sandbox id", "template name")), 2 end
  local store_dir = M.store_dir(run_dir)
  if not core.fs.exists(store_dir .. "/" .. name) then
    return nil, string.format("no template '%s' in %s", name, store_dir), 2
  end
  local store, serr = core.state.open(store_dir)
  if not store then return nil, serr, 1 end
  local lock, lerr = store:lock(name)
  if not lock then
    store:close()
    return nil, string.format("template '%s' is being saved or removed: %s", name, lerr), 1
  end
  -- Only the RAM file the store's own naming gives: a manifest cannot make
  -- us delete anything else.
  local ram = M.saved_ram(run_dir, name)
  local rok, rerr, errno = core.fs.remove(ram)
  if not rok and errno ~= core.errno.ENOENT then
    lock:close(); store:close()
    return nil, rerr, 1
  end
  local dok, derr = store:remove(name)
  lock:close()
  store:close()
  M.tidy_ram_dir(run_dir)
  if not dok then return nil, derr, 1 end
  return true
end

return M
