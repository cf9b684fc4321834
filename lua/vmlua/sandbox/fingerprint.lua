--- The fingerprint of a hypervisor config: what must be equal for a saved
-- VM (a snapshot, a template) to be restored into a new sandbox.
--
-- It is the builder's fields (`cfg.fields`) as plain data, with what belongs
-- to one sandbox replaced by placeholders: paths in its sandbox dir (its
-- sockets, its serial log) become "<sandbox dir>/...", its id "<id>". A
-- template and its clones, a snapshot and its restores, have their own ids
-- and sockets; everything else the guest sees or QEMU migrates must match.
-- `hash` names a fingerprint in one short string (FNV-1a, 64 bits: a check
-- against mistakes, not against forgery); `diff` names the fields that
-- differ.
local S = require "vmlua.schema"

local M = {}

M.DIR_MARK, M.ID_MARK = "<sandbox dir>", "<id>"

-- Replace every plain occurrence of `from` in `s` by `to`.
local function replace_all(s, from, to)
  local out, i = {}, 1
  while true do
    local a, b = s:find(from, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = to
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

local function is_sequence(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

-- Plain data for one value of the fields.
local function plain(v, ctx)
  local t = type(v)
  if t == "string" then
    if v == ctx.id then return M.ID_MARK end
    if ctx.own and ctx.own[v] then return ctx.own[v] end
    if ctx.dir and v:find(ctx.dir, 1, true) then return replace_all(v, ctx.dir, M.DIR_MARK) end
    return v
  elseif t == "number" or t == "boolean" then
    return v
  elseif t == "table" then
    local mt = getmetatable(v)
    if type(v.fileno) == "function" or io.type(v) then return "<open file>" end
    if mt ~= nil and type(mt) == "table" and mt.__tostring then return plain(tostring(v), ctx) end
    local out = {}
    if is_sequence(v) then
      for i, x in ipairs(v) do out[i] = plain(x, ctx) end
      return out
    end
    for k, x in pairs(v) do out[tostring(k)] = plain(x, ctx) end
    return out
  elseif t == "userdata" then
    return "<open file>"
  end
  return "<" .. t .. ">"
end

--- The fingerprint of `cfg` (a builder) for the sandbox `where` (`{ dir =,
-- id =, own = { value = placeholder } }`: `own` names other values that are
-- the sandbox's own, such as a MAC made from its id): a tree of strings,
-- numbers, booleans and tables.
function M.of(cfg, where)
  return plain(cfg.fields, { dir = where.dir, id = where.id, own = where.own })
end

-- A canonical text: keys sorted, so equal trees give equal text.
local function canonical(v, out)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      out[#out + 1] = string.format("%q:", k)
      canonical(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "number" and math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    out[#out + 1] = string.format("%d", v) -- 256.0 and 256 are the same number in JSON
  else
    out[#out + 1] = string.format("%q", v)
  end
end

--- FNV-1a (64 bits) of a string, as 16 hex digits.
function M.fnv1a(s)
  local h = -3750763034362895579 -- 0xcbf29ce484222325
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 1099511628211
  end
  return string.format("%016x", h)
end

--- The hash of a fingerprint: 16 hex digits.
function M.hash(tree)
  local out = {}
  canonical(tree, out)
  return M.fnv1a(table.concat(out))
end

local function show(v)
  if type(v) == "table" then return "a table" end
  if v == nil then return "absent" end
  return S.show(v)
end

local function walk(a, b, path, out)
  if type(a) == "table" and type(b) == "table" then
    local keys, seen = {}, {}
    for k in pairs(a) do keys[#keys + 1] = k; seen[k] = true end
    for k in pairs(b) do if not seen[k] then keys[#keys + 1] = k end end
    table.sort(keys, function(x, y)
      if type(x) == type(y) then return x < y end
      return type(x) == "number"
    end)
    for _, k in ipairs(keys) do walk(a[k], b[k], S.join(path, k), out) end
  elseif a ~= b and not (type(a) == "number" and type(b) == "number" and a == b) then
    out[#out + 1] = { field = path, saved = a, here = b }
  end
end

--- The fields where two fingerprints differ: a list of `{ field =, saved =,
-- here = }`, sorted by field (`saved` from the saved VM, `here` from the
-- sandbox being started).
function M.diff(saved, here)
  local out = {}
  walk(saved, here, "", out)
  return out
end

--- "memory.size (saved: "256M", here: "512M"), smp.cpus (...)": up to
-- `max` differences (default 5) for a message.
function M.describe(diffs, max)
  max = max or 5
  local parts = {}
  for i, d in ipairs(diffs) do
    if i > max then
      parts[#parts + 1] = string.format("and %d more", #diffs - max)
      break
    end
    parts[#parts + 1] = string.format("%s (saved: %s, here: %s)", d.field, show(d.saved), show(d.here))
  end
  return table.concat(parts, ", ")
end

return M
