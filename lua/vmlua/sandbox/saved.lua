--- A saved VM: what vmlua records next to a snapshot or a template (its
-- manifest), and the checks a restore makes before it starts anything.
--
-- A manifest is a JSON object:
--   format = 1, kind = "snapshot"|"template", hypervisor = driver name,
--   status = "saving"|"ready" (templates; a snapshot's manifest is written
--   once, complete), source = { id =, recipe = }, created = epoch seconds,
--   seconds = how long the save took,
--   config = { hash =, fingerprint = } (vmlua.sandbox.fingerprint),
--   files = { { name =, size = } ... } (the hypervisor's files in the dir),
--   ram = { path =, size = } (templates: the guest RAM file),
--   saver = { pid =, start_time = } (templates being saved).
-- Manifests are read from disk and may be damaged or foreign: every field
-- vmlua uses is checked for its type before use.
local core = require "vmlua.core"
local fingerprint = require "vmlua.sandbox.fingerprint"

local M = {}

M.FORMAT = 1
--- The manifest's file in a snapshot dir.
M.SNAPSHOT_FILE = "vmlua-snapshot.json"

local function is_name(s)
  return type(s) == "string" and s ~= "" and not s:find("/", 1, true) and s ~= "." and s ~= ".."
end

local function field_error(what, field, expected)
  return nil, string.format("%s: %s is missing or not %s", what, field, expected)
end

--- Check a decoded manifest (`what` names it in messages). Returns it, or
-- nil and a message.
function M.check(m, what)
  if type(m) ~= "table" then return nil, what .. ": not a JSON object" end
  if m.format ~= M.FORMAT then
    return nil, string.format("%s: format %s is not supported (expected %d)", what, tostring(m.format), M.FORMAT)
  end
  if m.kind ~= "snapshot" and m.kind ~= "template" then return field_error(what, "kind", '"snapshot" or "template"') end
  if type(m.hypervisor) ~= "string" then return field_error(what, "hypervisor", "a string") end
  if m.status ~= nil and m.status ~= "saving" and m.status ~= "ready" then
    return field_error(what, "status", '"saving" or "ready"')
  end
  local c = m.config
  if type(c) ~= "table" or type(c.hash) ~= "string" or type(c.fingerprint) ~= "table" then
    return field_error(what, "config", "{ hash, fingerprint }")
  end
  if m.status ~= "saving" then
    if type(m.files) ~= "table" then return field_error(what, "files", "a list") end
    for i, f in ipairs(m.files) do
      if type(f) ~= "table" or not is_name(f.name) or math.type(f.size) ~= "integer" or f.size < 0 then
        return field_error(what, string.format("files[%d]", i), "{ name, size }")
      end
    end
  end
  if m.ram ~= nil and (type(m.ram) ~= "table" or type(m.ram.path) ~= "string" or m.ram.path:sub(1, 1) ~= "/"
                       or math.type(m.ram.size) ~= "integer") then
    return field_error(what, "ram", "{ path (absolute), size }")
  end
  if m.saver ~= nil and (type(m.saver) ~= "table" or math.type(m.saver.pid) ~= "integer"
                         or math.type(m.saver.start_time) ~= "integer") then
    return field_error(what, "saver", "{ pid, start_time }")
  end
  return m
end

--- The size of `path`, or nil and why it cannot be used.
local function regular_size(path)
  local st, err = core.fs.stat(path)
  if not st then return nil, err end
  if st.type ~= "file" then return nil, path .. ": not a regular file" end
  return st.size
end

--- Every file the manifest records is in `dir` with its recorded size, and
-- the RAM file (templates) too. true, or nil and what is wrong.
function M.check_files(m, dir)
  for _, f in ipairs(m.files) do
    local path = dir .. "/" .. f.name
    local size, err = regular_size(path)
    if not size then return nil, err end
    if size ~= f.size then
      return nil, string.format("%s is %d bytes, the save recorded %d (%s)", path, size, f.size,
                                size < f.size and "truncated?" or "changed since?")
    end
  end
  if m.ram then
    local size, err = regular_size(m.ram.path)
    if not size then return nil, "its RAM file: " .. err end
    if size ~= m.ram.size then
      return nil, string.format("its RAM file %s is %d bytes, the save recorded %d", m.ram.path, size, m.ram.size)
    end
  end
  return true
end

--- Can a sandbox of `driver` whose config has fingerprint `tree` start from
-- the saved VM `m`? true, or nil and why not.
function M.compatible(m, driver, tree)
  if m.hypervisor ~= driver.name then
    local other = require("vmlua.driver").named(m.hypervisor)
    return nil, string.format("it was saved from %s, this sandbox runs %s", other and other.title or m.hypervisor,
                              driver.title)
  end
  if fingerprint.hash(tree) == m.config.hash then return true end
  local diffs = fingerprint.diff(m.config.fingerprint, tree)
  if #diffs == 0 then return true end -- same fields, hashed differently (another vmlua)
  return nil, "its hypervisor config differs in " .. fingerprint.describe(diffs, 5)
    .. " (only ids and socket paths may differ)"
end

--- The files of a dir with their sizes (for `files`), but `except`.
function M.list_files(dir, except)
  local out = {}
  for _, name in ipairs(core.fs.list(dir) or {}) do
    if name ~= except then
      local size = regular_size(dir .. "/" .. name)
      if size then out[#out + 1] = { name = name, size = size } end
    end
  end
  return out
end

-- ------------------------------------------------------------ snapshot dirs

--- Read and check the manifest of snapshot dir `dir`: the manifest, or nil
-- and a message naming the dir.
function M.read_snapshot(dir)
  local path = dir .. "/" .. M.SNAPSHOT_FILE
  local st = core.fs.stat(dir)
  if not st then return nil, string.format("%s: no such directory", dir) end
  if st.type ~= "dir" and not core.fs.is_dir(dir) then return nil, string.format("%s: not a directory", dir) end
  local f = io.open(path, "rb")
  if not f then return nil, string.format("%s: not a vmlua snapshot (no %s)", dir, M.SNAPSHOT_FILE) end
  local text = f:read(1048577)
  f:close()
  if not text or #text > 1048576 then return nil, path .. ": too large for a manifest" end
  local m, err = core.json.decode(text)
  if m == nil then return nil, string.format("%s: not JSON (%s)", path, tostring(err)) end
  m, err = M.check(m, path)
  if not m then return nil, err end
  if m.kind ~= "snapshot" then return nil, path .. ": not a snapshot (kind " .. m.kind .. ")" end
  return m
end

--- Write a snapshot dir's manifest, crash-safe: a temp file, fsync, rename,
-- fsync of the dir. true, or nil and a message.
function M.write_snapshot(dir, m)
  local path = dir .. "/" .. M.SNAPSHOT_FILE
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(core.json.encode(m, { pretty = true }), "\n")
  local closed, cerr = f:close()
  if ok then ok, werr = closed, cerr end
  if ok then ok, werr = core.fs.fsync(tmp) end
  if ok then ok, werr = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    return nil, string.format("cannot write %s: %s", path, tostring(werr))
  end
  return core.fs.fsync(dir)
end

return M
