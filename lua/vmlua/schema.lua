--- Declarative checks for recipe tables, shared by every builder.
--
-- A schema is a table with a `check(self, value, path)` method that returns
-- `true` or `nil, "path: message"`. Messages name the field path the way a
-- user wrote it (`devices[3].context_id: must be >= 3, got 2`), and unknown
-- keys come with a suggestion (`machine.accell: unknown field (did you mean 'accel'?)`).
--
--     local S = require "vmlua.schema"
--     local vsock = S.record {
--       id = S.string { required = true },
--       context_id = S.integer { min = 3, max = 0xffffffff, required = true },
--     }
--     assert(vsock:check({ id = "v0", context_id = 2 }, "devices[3]"))
--       --> nil, "devices[3].context_id: must be >= 3, got 2"
--
-- `S.raise(ok, err, level)` turns a failed check into an error raised at the
-- caller's caller, so that `qemu.config{...}` reports the recipe's file:line.

local S = {}

local Schema = {}
Schema.__index = Schema

local function new(kind, opts, check)
  opts = opts or {}
  return setmetatable({ kind = kind, opts = opts, required = opts.required, _check = check,
                        describe = opts.describe }, Schema)
end

--- Join a path and a key: `a.b`, `a[3]`; the root has no prefix.
function S.join(path, key)
  if type(key) == "number" then return (path or "") .. "[" .. key .. "]" end
  if path == nil or path == "" then return tostring(key) end
  return path .. "." .. tostring(key)
end

local function fail(path, fmt, ...)
  local msg = string.format(fmt, ...)
  if path == nil or path == "" then return nil, msg end
  return nil, path .. ": " .. msg
end
S.fail = fail

--- A short, quoted rendering of a value for messages.
function S.show(v)
  local t = type(v)
  if t == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return string.format("%q", v)
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return t
end

function Schema:check(value, path)
  if value == nil then
    if self.required then return fail(path, "missing (required)") end
    return true
  end
  return self._check(self, value, path)
end

--- Returns a copy of this schema with `required = true`.
function Schema:req()
  local c = setmetatable({}, Schema)
  for k, v in pairs(self) do c[k] = v end
  c.required = true
  return c
end

-- Levenshtein distance, for "did you mean".
local function distance(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  if math.abs(la - lb) > 3 then return 99 end
  local prev = {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, lb do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[lb]
end

--- The closest of `candidates` to `word`, or nil when none is close.
function S.suggest(word, candidates)
  if type(word) ~= "string" then return nil end
  local best, bestd
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    local d = distance(lw, c:lower())
    -- underscores versus dashes and case are the commonest slips
    if lw:gsub("%-", "_") == c:lower():gsub("%-", "_") then d = 0 end
    if d < (bestd or math.huge) then best, bestd = c, d end
  end
  if best and bestd <= math.max(1, math.min(3, #word // 3)) then return best end
  return nil
end

--- "unknown field" message with a suggestion.
function S.unknown(path, key, known)
  local hint = S.suggest(key, known)
  if hint then
    return fail(path, "unknown field (did you mean '%s'?)", hint)
  end
  return fail(path, "unknown field")
end

-- ---------------------------------------------------------------- scalars

function S.string(opts)
  return new("string", opts, function(self, v, path)
    if type(v) ~= "string" then return fail(path, "expected a string, got %s", S.show(v)) end
    local o = self.opts
    if o.enum then
      for _, e in ipairs(o.enum) do if e == v then return true end end
      local hint = S.suggest(v, o.enum)
      return fail(path, "must be one of %s; got %s%s", table.concat(o.enum, ", "), S.show(v),
                  hint and (" (did you mean '" .. hint .. "'?)") or "")
    end
    if o.nonempty and v == "" then return fail(path, "must not be empty") end
    if o.pattern and not v:match(o.pattern) then
      return fail(path, "%s, got %s", o.pattern_help or ("must match " .. o.pattern), S.show(v))
    end
    if o.no_comma and v:find(",", 1, true) then
      return fail(path, "must not contain ',' (it would split the option), got %s", S.show(v))
    end
    if o.check then return o.check(v, path) end
    return true
  end)
end

local function check_range(o, v, path)
  if o.min and v < o.min then return fail(path, "must be >= %s, got %s", o.min, v) end
  if o.max and v > o.max then return fail(path, "must be <= %s, got %s", o.max, v) end
  return true
end

function S.integer(opts)
  return new("integer", opts, function(self, v, path)
    if math.type(v) ~= "integer" then
      if math.type(v) == "float" and v == math.floor(v) and v >= math.mininteger and v <= math.maxinteger then
        v = math.tointeger(v)
      else
        return fail(path, "expected an integer, got %s", S.show(v))
      end
    end
    return check_range(self.opts, v, path)
  end)
end

function S.number(opts)
  return new("number", opts, function(self, v, path)
    if type(v) ~= "number" or v ~= v then return fail(path, "expected a number, got %s", S.show(v)) end
    return check_range(self.opts, v, path)
  end)
end

function S.boolean(opts)
  return new("boolean", opts, function(_, v, path)
    if type(v) ~= "boolean" then return fail(path, "expected true or false, got %s", S.show(v)) end
    return true
  end)
end

--- A memory size: an integer number of bytes or a string like "256M", "1G",
-- "512K", "2T" (QEMU's and cloud-hypervisor's binary suffixes).
function S.size(opts)
  return new("size", opts, function(_, v, path)
    if math.type(v) == "integer" then
      if v < 0 then return fail(path, "must be >= 0, got %d", v) end
      return true
    end
    if type(v) == "string" and v:match("^%d+[KMGTkmgt]?$") then return true end
    return fail(path, "expected a size such as \"256M\", \"1G\" or a number of bytes, got %s", S.show(v))
  end)
end

--- Anything that passes `fn(value, path) -> true | nil, msg`.
function S.custom(fn, opts)
  return new("custom", opts, function(_, v, path) return fn(v, path) end)
end

function S.any(opts)
  return new("any", opts, function() return true end)
end

local accepts_type = {
  string = { string = true, size = true },
  table = { record = true, array = true, map = true, variant = true },
  number = { integer = true, number = true, size = true },
  boolean = { boolean = true },
}

--- A value accepted by the first schema that accepts it. When none does,
-- the alternative made for the value's type explains why (so a typo inside
-- a table is reported as such); otherwise the message names what was
-- expected (`opts.describe`).
function S.either(list, opts)
  return new("either", opts, function(self, v, path)
    local same_type_err
    for _, s in ipairs(list) do
      local ok, err = s:check(v, path)
      if ok then return true end
      local kinds = accepts_type[type(v)]
      if kinds and kinds[s.kind] and not same_type_err then same_type_err = err end
    end
    if same_type_err then return nil, same_type_err end
    if self.opts.describe then return fail(path, "expected %s, got %s", self.opts.describe, S.show(v)) end
    local _, err = list[1]:check(v, path)
    return nil, err
  end)
end

-- ------------------------------------------------------------ containers

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t
end
S.is_array = is_array

--- An array (a table with keys 1..n) whose elements match `elem`.
function S.array(elem, opts)
  return new("array", opts, function(self, v, path)
    if type(v) ~= "table" or not is_array(v) then
      return fail(path, "expected a list, got %s", S.show(v))
    end
    local o = self.opts
    if o.min and #v < o.min then
      return fail(path, "needs at least %d %s, got %d", o.min, o.min == 1 and "entry" or "entries", #v)
    end
    if o.max and #v > o.max then
      return fail(path, "takes at most %d %s, got %d", o.max, o.max == 1 and "entry" or "entries", #v)
    end
    for i = 1, #v do
      local ok, err = elem:check(v[i], S.join(path, i))
      if not ok then return nil, err end
    end
    return true
  end)
end

--- A table with string keys checked by `value` (and `key`, a string schema).
function S.map(key, value, opts)
  return new("map", opts, function(_, v, path)
    if type(v) ~= "table" then return fail(path, "expected a table, got %s", S.show(v)) end
    for k, x in pairs(v) do
      if type(k) ~= "string" then return fail(path, "keys must be strings, got %s", S.show(k)) end
      local ok, err = key:check(k, S.join(path, k))
      if not ok then return nil, err end
      ok, err = value:check(x, S.join(path, k))
      if not ok then return nil, err end
    end
    return true
  end)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

--- A table with known fields. `opts.check(value, path)` runs after the
-- fields pass (cross-field rules); `opts.extra` names keys to accept without
-- checking (such as a variant's discriminator).
function S.record(fields, opts)
  local names = sorted_keys(fields)
  local s = new("record", opts, function(self, v, path)
    if type(v) ~= "table" then
      return fail(path, "expected a table, got %s", S.show(v))
    end
    local extra = self.opts.extra or {}
    for k in pairs(v) do
      if extra[k] then -- luacheck: ignore 542
        -- accepted as is (a variant's discriminator, a positional entry)
      elseif type(k) ~= "string" then
        if math.type(k) == "integer" then
          return fail(S.join(path, k), "unexpected list entry (this table takes named fields: %s)",
                      table.concat(names, ", "))
        end
        return fail(path, "unexpected key %s", S.show(k))
      elseif fields[k] == nil then
        return S.unknown(S.join(path, k), k, names)
      end
    end
    for _, k in ipairs(names) do
      local ok, err = fields[k]:check(v[k], S.join(path, k))
      if not ok then return nil, err end
    end
    if self.opts.check then return self.opts.check(v, path) end
    return true
  end)
  s.fields = fields
  s.field_names = names
  return s
end

--- Tables told apart by a discriminator field (`kind`): `variants` maps each
-- value to a record schema.
function S.variant(key, variants, opts)
  local kinds = sorted_keys(variants)
  for _, k in ipairs(kinds) do
    local r = variants[k]
    r.opts.extra = r.opts.extra or {}
    r.opts.extra[key] = true
  end
  local s = new("variant", opts, function(_, v, path)
    if type(v) ~= "table" then return fail(path, "expected a table, got %s", S.show(v)) end
    local kind = v[key]
    if kind == nil then
      return fail(S.join(path, key), "missing (required): one of %s", table.concat(kinds, ", "))
    end
    local r = variants[kind]
    if not r then
      local hint = S.suggest(kind, kinds)
      return fail(S.join(path, key), "unknown %s %s%s", key, S.show(kind),
                  hint and (" (did you mean '" .. hint .. "'?)") or (" (one of " .. table.concat(kinds, ", ") .. ")"))
    end
    return r:check(v, path)
  end)
  s.variants = variants
  s.kinds = kinds
  return s
end

-- ------------------------------------------------------------- raising

--- Raise `err` at `level` (default: the caller of the function that calls
-- S.raise) when `ok` is falsy; otherwise return `ok`.
function S.raise(ok, err, level)
  if not ok then error(err, (level or 2) + 1) end
  return ok
end

--- Check and raise: `S.assert(schema, value, path, level)`.
function S.assert(schema, value, path, level)
  local ok, err = schema:check(value, path)
  if not ok then error(err, (level or 2) + 1) end
  return value
end

return S
