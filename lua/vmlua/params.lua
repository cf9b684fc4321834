--- Kernel parameter lists: ordered `key[=value]` pairs, as the kernel reads
-- its command line.
--
--     local params = require "vmlua.params"
--     local p = params { "root=/dev/vda1", "quiet", { "console", "ttyS0" } }
--     p:set("panic", -1):remove("quiet")
--     print(p:render())            --> root=/dev/vda1 console=ttyS0 panic=-1
--     local q = params.load("qemu-serial"):set("quiet")
--
-- A value is a string (numbers are converted); a key without a value
-- (`quiet`) has the value nil, and an empty string means the same (the 2019
-- Kata builder wrote `{"no_timer_check", ""}` for a bare key). Values with
-- white space are double-quoted when rendered (`dm-mod.create="a b"`), the
-- one quoting the kernel's parser (lib/cmdline.c next_arg) understands; it
-- has no escape for a double quote or a newline, so those are errors.
--
-- Programming errors (bad keys and values, an over-long command line, a
-- malformed parameter file) raise, naming the key and the caller's line.

local params = {}

local Params = {}
Params.__index = Params
Params.__name = "vmlua.params"

--- x86 COMMAND_LINE_SIZE: the kernel's buffer, including the final NUL.
params.DEFAULT_LIMIT = 2048

local function is_params(v)
  return getmetatable(v) == Params
end
params.is_params = is_params

-- ------------------------------------------------------------ checking

local function check_key(key, level)
  if type(key) ~= "string" then
    error(string.format("kernel parameter key: expected a string, got %s", type(key)), level + 1)
  end
  if key == "" then
    error("kernel parameter key: must not be empty", level + 1)
  end
  if key:find("[=%s\"]") then
    error(string.format("kernel parameter %q: key must not contain '=', '\"' or white space", key), level + 1)
  end
  if key:find("%z") then
    error(string.format("kernel parameter %q: key must not contain a NUL byte (it ends the command line)", key),
          level + 1)
  end
  return key
end

local function check_value(key, value, level)
  if value == nil then return nil end
  if math.type(value) == "integer" then return tostring(value) end
  if type(value) ~= "string" then
    error(string.format("kernel parameter %q: value must be a string, an integer or nil, got %s",
                        key, math.type(value) or type(value)), level + 1)
  end
  if value == "" then return nil end
  if value:find('"', 1, true) then
    error(string.format("kernel parameter %q: value must not contain '\"' (the kernel has no escape for it)", key),
          level + 1)
  end
  if value:find("[\n\r]") then
    error(string.format("kernel parameter %q: value must not contain a newline", key), level + 1)
  end
  if value:find("%z") then
    error(string.format("kernel parameter %q: value must not contain a NUL byte (it ends the command line)", key),
          level + 1)
  end
  return value
end

-- ------------------------------------------------------------- parsing

-- Split a command-line string into words the way the kernel does: white
-- space separates, double quotes group (and are removed).
local function split_words(s, level)
  local words = {}
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      i = i + 1
    else
      local buf, in_quote = {}, false
      while i <= n do
        c = s:sub(i, i)
        if c == '"' then
          in_quote = not in_quote
        elseif c:match("%s") and not in_quote then
          break
        else
          buf[#buf + 1] = c
        end
        i = i + 1
      end
      if in_quote then
        error(string.format("kernel command line: unbalanced '\"' in %q", s), level + 1)
      end
      words[#words + 1] = table.concat(buf)
    end
  end
  return words
end

local function parse_word(word, level)
  local key, value = word:match("^([^=]*)=(.*)$")
  if not key then key = word end
  return check_key(key, level + 1), check_value(key, value, level + 1)
end

-- One list entry: "k=v", "k", "a=b c d" (several), {k, v}, {key=, value=}.
local function add_entry(self, entry, where, level)
  local t = type(entry)
  if t == "string" then
    for _, word in ipairs(split_words(entry, level + 1)) do
      local k, v = parse_word(word, level + 1)
      self:add(k, v)
    end
  elseif t == "table" and not is_params(entry) then
    local k, v
    if entry.key ~= nil then
      for name in pairs(entry) do
        if name ~= "key" and name ~= "value" then
          error(string.format("%s: unknown field %s (a pair is {key =, value =} or {key, value})",
                              where, tostring(name)), level + 1)
        end
      end
      k, v = entry.key, entry.value
    else
      if entry[1] == nil or #entry > 2 or next(entry, #entry > 0 and #entry or nil) ~= nil then
        error(string.format("%s: expected {key, value} or {key =, value =}", where), level + 1)
      end
      k, v = entry[1], entry[2]
    end
    k = check_key(k, level + 1)
    self:add(k, check_value(k, v, level + 1))
  elseif is_params(entry) then
    for _, p in ipairs(entry._items) do self:add(p.key, p.value) end
  else
    error(string.format("%s: expected a string or a {key, value} pair, got %s", where, t), level + 1)
  end
end

--- Build a list from a string, a list of entries, or another params object
-- (copied). Raises for bad input.
function params.new(list)
  local self = setmetatable({ _items = {} }, Params)
  if list == nil then return self end
  if type(list) == "string" or is_params(list) then
    add_entry(self, list, "kernel parameters", 2)
  elseif type(list) == "table" then
    for k in pairs(list) do
      if math.type(k) ~= "integer" or k < 1 or k > #list then
        error(string.format("kernel parameters: expected a list, found key %s", tostring(k)), 2)
      end
    end
    for i, entry in ipairs(list) do
      add_entry(self, entry, string.format("kernel parameters[%d]", i), 2)
    end
  else
    error(string.format("kernel parameters: expected a string, a list or a params object, got %s", type(list)), 2)
  end
  return self
end

setmetatable(params, { __call = function(_, list) return params.new(list) end })

-- ------------------------------------------------------------- methods

local function index_of(self, key)
  for i, p in ipairs(self._items) do
    if p.key == key then return i end
  end
  return nil
end

--- Append `key[=value]` even if the key is already present (the kernel
-- accepts repeated keys, e.g. two `console=`). Returns self.
function Params:add(key, value)
  check_key(key, 2)
  value = check_value(key, value, 2)
  self._items[#self._items + 1] = { key = key, value = value }
  return self
end

--- Set `key` to `value` (nil: a bare key). The first occurrence keeps its
-- position and later duplicates are dropped; a new key is appended.
-- Returns self, so calls chain.
function Params:set(key, value)
  check_key(key, 2)
  value = check_value(key, value, 2)
  local first = index_of(self, key)
  if not first then
    self._items[#self._items + 1] = { key = key, value = value }
    return self
  end
  self._items[first] = { key = key, value = value }
  for i = #self._items, first + 1, -1 do
    if self._items[i].key == key then table.remove(self._items, i) end
  end
  return self
end

--- Remove every occurrence of `key`. Returns self.
function Params:remove(key)
  check_key(key, 2)
  for i = #self._items, 1, -1 do
    if self._items[i].key == key then table.remove(self._items, i) end
  end
  return self
end

--- Merge another list (params object, string or list) into this one: its
-- keys override ours in place, new keys are appended in its order; a key
-- repeated in `other` is repeated here too. Returns self.
function Params:merge(other)
  if not is_params(other) then
    local ok, p = pcall(params.new, other)
    if not ok then error(p, 2) end
    other = p
  end
  local seen = {}
  for _, p in ipairs(other._items) do
    if seen[p.key] then
      self._items[#self._items + 1] = { key = p.key, value = p.value }
    else
      seen[p.key] = true
      self:set(p.key, p.value)
    end
  end
  return self
end

--- The value of `key` (its last occurrence, the one the kernel acts on for
-- most parameters); `true` for a bare key; nil when absent.
function Params:get(key)
  check_key(key, 2)
  local found
  for _, p in ipairs(self._items) do
    if p.key == key then found = p.value == nil and true or p.value end
  end
  return found
end

--- Every value of `key`, in order (`true` for bare occurrences).
function Params:get_all(key)
  check_key(key, 2)
  local out = {}
  for _, p in ipairs(self._items) do
    if p.key == key then out[#out + 1] = p.value == nil and true or p.value end
  end
  return out
end

function Params:has(key)
  check_key(key, 2)
  return index_of(self, key) ~= nil
end

--- A copy of the entries: an array of `{ key =, value = }`.
function Params:list()
  local out = {}
  for i, p in ipairs(self._items) do out[i] = { key = p.key, value = p.value } end
  return out
end

function Params:len()
  return #self._items
end
Params.__len = Params.len

function Params:copy()
  return params.new(self)
end

local function render_item(p)
  if p.value == nil then return p.key end
  if p.value:find("%s") then return p.key .. '="' .. p.value .. '"' end
  return p.key .. "=" .. p.value
end

--- The command line as one string. `opts.limit` is the kernel's buffer size
-- (default 2048, x86 COMMAND_LINE_SIZE, which includes the final NUL);
-- `limit = false` skips the check. Raises when the line does not fit.
function Params:render(opts)
  local limit = params.DEFAULT_LIMIT
  if opts ~= nil then
    if type(opts) ~= "table" then error("render: expected an options table", 2) end
    for k in pairs(opts) do
      if k ~= "limit" then error(string.format("render: unknown option %s", tostring(k)), 2) end
    end
    if opts.limit ~= nil then limit = opts.limit end
  end
  if limit ~= false and (math.type(limit) ~= "integer" or limit < 1) then
    error("render: limit must be a positive integer or false", 2)
  end
  local words = {}
  for i, p in ipairs(self._items) do words[i] = render_item(p) end
  local s = table.concat(words, " ")
  if limit and #s >= limit then
    error(string.format("kernel command line is %d bytes; the limit is %d (a %d-byte buffer with its NUL)",
                        #s, limit - 1, limit), 2)
  end
  return s
end

--- For builders' set_kernel_param(key, value): `list` (anything
-- params.new takes, or nil) with `key` set to `value` (nil: bare), as a new
-- list, or nil and why (a bad key or value). A key that is no string or a
-- value that is neither a string nor nil is the caller's mistake: raised at
-- the caller of the method `fname`.
function params.with(list, key, value, fname)
  if type(key) ~= "string" then error(string.format("%s: expected a string key, got %s", fname, type(key)), 3) end
  if value ~= nil and type(value) ~= "string" then
    error(string.format("%s: expected a string value or nil, got %s", fname, type(value)), 3)
  end
  local ok, p = pcall(function() return params.new(list):set(key, value) end)
  if not ok then return nil, (tostring(p):gsub("^[^:]*:%d+: ", "")) end
  return p
end

function Params:__tostring()
  return self:render { limit = false }
end

function Params.__eq(a, b)
  if not (is_params(a) and is_params(b)) then return false end
  return a:render { limit = false } == b:render { limit = false }
end

-- ------------------------------------------------------------- loading

local function this_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  return src:sub(2):match("^(.*)/[^/]*$") or "."
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

--- How the module reads VMLUA_PATH (replaceable, for tests).
params.getenv = os.getenv

-- `path` without `//`, `.` and `dir/..` steps (as written, not through
-- symlinks: for the directories below, the real path is taken when the
-- directory exists).
local function lexical(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  local out = table.concat(parts, "/")
  if path:sub(1, 1) == "/" then return "/" .. out end
  return out == "" and "." or out
end

-- A directory to search, normalised and absolute: its real path when it
-- exists.
-- (vmlua.core only when it is loaded already, as it is in vmlua: this
-- module also serves a plain Lua without it.)
local function search_dir(dir)
  local core = package.loaded["vmlua.core"]
  if not core then return lexical(dir) end
  local real = core.fs.realpath(dir)
  if real then return real end
  if dir:sub(1, 1) ~= "/" then dir = (core.fs.realpath(".") or ".") .. "/" .. dir end
  return lexical(dir)
end

-- The directories `params.load` searches, in order.
local function search_dirs()
  local out, seen = {}, {}
  local function add(d)
    d = search_dir(d)
    if not seen[d] then seen[d] = true; out[#out + 1] = d end
  end
  local extra = params.getenv("VMLUA_PATH")
  if extra and extra ~= "" then
    for dir in extra:gmatch("[^:]+") do
      add(dir .. "/params")
      add(dir)
    end
  end
  local dir = this_dir()
  if dir then
    add(dir .. "/scripts/params")          -- installed: $(LUADIR)/vmlua/scripts
    add(dir .. "/../../scripts/params")    -- source tree: lua/vmlua/../../scripts
  end
  return out
end

--- The files `params.load(name)` tries, in order.
function params.search_paths(name)
  local out = {}
  for i, d in ipairs(search_dirs()) do out[i] = d .. "/" .. name .. ".lua" end
  return out
end

-- The parameter sets found in the search directories, for "did you mean".
local function known_sets()
  local core = package.loaded["vmlua.core"]
  local names = {}
  if not core then return names end
  for _, d in ipairs(search_dirs()) do
    for _, f in ipairs(core.fs.list(d) or {}) do
      local n = f:match("^(.+)%.lua$")
      if n then names[#names + 1] = n end
    end
  end
  table.sort(names)
  return names
end

--- Load the parameter set `scripts/params/<name>.lua` (see search_paths):
-- a Lua chunk returning a list or a params object. Returns a new params
-- object each time.
function params.load(name)
  if type(name) ~= "string" or not name:match("^[%w_][%w_.-]*$") or name:find("..", 1, true) then
    error(string.format("params.load: invalid parameter set name %s (use letters, digits, '_', '-', '.')",
                        type(name) == "string" and string.format("%q", name) or type(name)), 2)
  end
  local tried = params.search_paths(name)
  for _, path in ipairs(tried) do
    if file_exists(path) then
      local env = setmetatable({}, { __index = _G })
      local chunk, err = loadfile(path, "t", env)
      if not chunk then error("params.load: " .. err, 2) end
      local ok, result = pcall(chunk)
      if not ok then error(string.format("params.load: %s: %s", path, tostring(result)), 2) end
      if type(result) ~= "table" and type(result) ~= "string" then
        error(string.format("params.load: %s must return a list of parameters, returned %s", path, type(result)), 2)
      end
      local built
      ok, built = pcall(params.new, result)
      if not ok then error(string.format("params.load: %s: %s", path, built), 2) end
      return built
    end
  end
  local hint = require("vmlua.schema").suggest(name, known_sets())
  error(string.format("params.load: no parameter set '%s'%s (looked in: %s)", name,
                      hint and string.format(" (did you mean '%s'?)", hint) or "", table.concat(tried, ", ")), 2)
end

return params
