--- cloud-hypervisor `--version` output: parsing and comparison.
--
-- Forms seen in the wild (see ../shared/reference/cloud-hypervisor-cli.md):
--   cloud-hypervisor v53.0                      (release tags have two components)
--   cloud-hypervisor v54.0.0                    (Cargo version, no git)
--   cloud-hypervisor v53.0-246-gae44c2971       (git describe)
--   cloud-hypervisor v53.0-dirty, ...-$CH_EXTRA_VERSION
--   cloud-hypervisor 0.3.0                      (2019, no "v")
-- followed, since 2026, by "Migration Protocol Versions: ..." and, with -v,
-- "Enabled features: [...]". The first line carries the version.

local M = {}

local function fail(text, why)
  local shown = text
  if #shown > 60 then shown = shown:sub(1, 57) .. "..." end
  return nil, string.format("cannot parse cloud-hypervisor version from %q: %s", shown, why)
end

--- Parse `--version` output, or a bare version ("v53.0"). Returns
-- `{ major, minor, patch, extra, commits, commit, dirty, text }` (patch is
-- 0 when the version has two components; extra is what follows the first
-- '-', e.g. "246-gae44c2971"), or `nil, message`.
function M.parse(text)
  if type(text) ~= "string" then
    error(string.format("bad argument #1 to 'parse_version' (string expected, got %s)", type(text)), 2)
  end
  local line = text:match("^%s*([^\n]*)") or ""
  line = line:gsub("%s+$", "")
  if line == "" then return fail(text, "empty output") end
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local token
  if #words == 1 then
    token = words[1]
  elseif #words == 2 and words[1] == "cloud-hypervisor" then
    token = words[2]
  else
    return fail(text, "expected \"cloud-hypervisor vX.Y[.Z][-extra]\" on the first line")
  end
  local body = token:gsub("^v", "")
  local nums, rest = body:match("^([%d%.]+)(.*)$")
  if not nums then return fail(text, "the version does not start with a number") end
  local parts = {}
  for piece in (nums .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = piece end
  if #parts < 2 or #parts > 3 then
    return fail(text, string.format("expected 2 or 3 numeric components, got %d", #parts))
  end
  for _, p in ipairs(parts) do
    if p == "" then return fail(text, "empty version component") end
    if #p > 9 then return fail(text, "version component too large") end
  end
  local extra
  if rest ~= "" then
    extra = rest:match("^%-(.+)$")
    if not extra or not extra:match("^[%w._+~-]+$") then
      return fail(text, string.format("unexpected %q after the version number", rest))
    end
  end
  local v = {
    major = math.tointeger(tonumber(parts[1])),
    minor = math.tointeger(tonumber(parts[2])),
    patch = parts[3] and math.tointeger(tonumber(parts[3])) or 0,
    extra = extra,
    text = token,
  }
  if extra then
    local commits, hash = extra:match("^(%d+)%-g(%x+)")
    if commits then v.commits, v.commit = math.tointeger(tonumber(commits)), hash end
    v.dirty = extra == "dirty" or extra:sub(-6) == "-dirty" or nil
  end
  return v
end

local function as_version(v, what, level)
  if type(v) == "table" then
    if math.type(v.major) == "integer" and math.type(v.minor) == "integer" then return v end
    if math.type(v[1]) == "integer" then
      return { major = v[1], minor = v[2] or 0, patch = v[3] or 0 }
    end
    error(string.format("%s: expected a parsed version or {major, minor[, patch]}", what), level + 1)
  elseif type(v) == "string" then
    local parsed, err = M.parse(v)
    if not parsed then error(what .. ": " .. err, level + 1) end
    return parsed
  end
  error(string.format("%s: expected a version string or table, got %s", what, type(v)), level + 1)
end

--- True when version `v` is `min` or newer (major, minor, patch compared
-- in order; the extra part is ignored). Both may be strings or tables.
function M.at_least(v, min)
  v = as_version(v, "version", 2)
  min = as_version(min, "minimum version", 2)
  local a = { v.major, v.minor, v.patch or 0 }
  local b = { min.major, min.minor, min.patch or 0 }
  for i = 1, 3 do
    if a[i] ~= b[i] then return a[i] > b[i] end
  end
  return true
end

--- `true`, or `nil, message` naming both versions when `v` is older than
-- `min` (the check the 2019 Kata driver meant to make).
function M.check(v, min)
  v = as_version(v, "version", 2)
  min = as_version(min, "minimum version", 2)
  if M.at_least(v, min) then return true end
  local function show(x)
    return x.text or string.format("v%d.%d.%d", x.major, x.minor, x.patch or 0)
  end
  return nil, string.format("cloud-hypervisor %s is older than the required %s", show(v), show(min))
end

return M
