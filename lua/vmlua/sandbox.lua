--- vmlua.sandbox: the description of a sandbox, checked and normalised.
--
-- `vmlua.sandbox{}` (in init.lua) calls `new(spec)`. The returned object is
-- plain data plus methods; nothing starts until `vmlua.sandbox.launch`
-- runs it. See docs/recipes.md for every field.
local S = require "vmlua.schema"

local M = {}

local Sandbox = {}
Sandbox.__index = Sandbox
M.Sandbox = Sandbox

M.STOP_STEPS = { "powerdown", "shutdown", "quit", "term", "kill" }
M.PROBE_KINDS = { "serial", "socket", "qmp", "api", "line", "fn" }
M.HOOKS = { "on_start", "on_ready", "on_exit", "on_failure", "on_helper_exit" }

M.DEFAULTS = {
  ready_timeout = 60,
  helper_timeout = 10,
  stop_grace = 5,
  api_timeout = 5,
}

local ID_PATTERN_HELP = "use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"

local function valid_id(s)
  return type(s) == "string" and #s >= 1 and #s <= 64 and s:match("^[A-Za-z0-9][A-Za-z0-9_.%-]*$") ~= nil
end
M.valid_id = valid_id

-- ------------------------------------------------------------ the schema

local text_or_pattern = S.either({
  S.string { nonempty = true },
  S.record { pattern = S.string { required = true, nonempty = true } },
}, { describe = 'text to find or { pattern = "lua pattern" }' })

local probe_fields = {
  serial = text_or_pattern,
  line = text_or_pattern,
  socket = S.string { nonempty = true },
  qmp = S.either({ S.boolean {}, S.string { enum = { "running", "paused", "prelaunch", "inmigrate" } } },
                 { describe = 'true or a QEMU run state such as "running"' }),
  api = S.either({ S.boolean {}, S.string { enum = { "Created", "Running", "Paused" } } },
                 { describe = 'true or a cloud-hypervisor VM state such as "Running"' }),
  fn = S.custom(function(v, path)
    if type(v) ~= "function" then return S.fail(path, "expected a function, got %s", S.show(v)) end
    return true
  end),
  timeout = S.number { min = 0 },
  interval = S.number { min = 0.001 },
  hint = S.string {},
}

local function probe_kind(t)
  local found
  for _, k in ipairs(M.PROBE_KINDS) do
    if t[k] ~= nil then
      if found then return nil, string.format("give one of %s per probe, not both %s and %s",
                                              table.concat(M.PROBE_KINDS, ", "), found, k) end
      found = k
    end
  end
  if not found then return nil, "needs one of " .. table.concat(M.PROBE_KINDS, ", ") end
  return found
end

local probe = S.record(probe_fields, {
  check = function(v, path)
    local kind, err = probe_kind(v)
    if not kind then return S.fail(path, "%s", err) end
    return true
  end,
})

local function is_probe_table(t)
  if type(t) ~= "table" then return false end
  for _, k in ipairs(M.PROBE_KINDS) do if t[k] ~= nil then return true end end
  return false
end

local probes = S.custom(function(v, path)
  if type(v) ~= "table" then return S.fail(path, "expected a probe table or a list of probes, got %s", S.show(v)) end
  if is_probe_table(v) or not S.is_array(v) or #v == 0 then return probe:check(v, path) end
  for i, p in ipairs(v) do
    local ok, err = probe:check(p, S.join(path, i))
    if not ok then return nil, err end
  end
  return true
end)

local function func_schema()
  return S.custom(function(v, path)
    if type(v) ~= "function" then return S.fail(path, "expected a function, got %s", S.show(v)) end
    return true
  end)
end

local step_names = S.string { enum = M.STOP_STEPS }
local step_table = S.record({ step = step_names, fn = func_schema(), grace = S.number { min = 0 },
                              name = S.string {} }, { extra = { [1] = true } })

local stop_step
stop_step = S.custom(function(v, path)
  if type(v) == "function" then return true end
  if type(v) == "string" then
    for _, s in ipairs(M.STOP_STEPS) do if s == v then return true end end
    local hint = S.suggest(v, M.STOP_STEPS)
    return S.fail(path, "unknown stop step %s (%s)", S.show(v),
                  hint and ("did you mean '" .. hint .. "'?") or ("one of " .. table.concat(M.STOP_STEPS, ", ")))
  end
  if type(v) ~= "table" then
    return S.fail(path, "expected a step name, a function or { step, grace = N }, got %s", S.show(v))
  end
  local ok, err = step_table:check(v, path)
  if not ok then return nil, err end
  local given = (v[1] ~= nil and 1 or 0) + (v.step ~= nil and 1 or 0) + (v.fn ~= nil and 1 or 0)
  if given ~= 1 then return S.fail(path, "give exactly one step: a name, step = name or fn = function") end
  if v[1] ~= nil then
    if type(v[1]) == "table" then return S.fail(S.join(path, 1), "expected a step name or a function, got table") end
    return stop_step:check(v[1], S.join(path, 1))
  end
  return true
end)

function M.check_stop_step(v, path)
  return stop_step:check(v, path)
end

local stop = S.custom(function(v, path)
  if type(v) ~= "table" then return S.fail(path, "expected a list of stop steps, got %s", S.show(v)) end
  local n = 0
  for k, x in pairs(v) do
    if k == "grace" then
      local ok, err = S.number { min = 0 }:check(x, S.join(path, "grace"))
      if not ok then return nil, err end
    elseif math.type(k) == "integer" and k >= 1 then
      n = n + 1
    else
      return S.unknown(S.join(path, tostring(k)), tostring(k), { "grace" })
    end
  end
  if n == 0 or n ~= #v then return S.fail(path, "needs at least one step, as a list") end
  for i = 1, #v do
    local ok, err = stop_step:check(v[i], S.join(path, i))
    if not ok then return nil, err end
  end
  return true
end)

local env_map = S.map(S.string { pattern = "^[A-Za-z_][A-Za-z0-9_]*$",
                                  pattern_help = "must be a valid variable name" },
                      S.either({ S.string {}, S.boolean {} }, { describe = "a string (or false to unset)" }))

local share = S.record {
  tag = S.string { required = true, nonempty = true, no_comma = true,
                   pattern = "^[^%s]+$", pattern_help = "must not contain spaces" },
  source = S.string { required = true, nonempty = true },
  cache = S.string { enum = { "auto", "always", "none", "never", "metadata" } },
  create = S.boolean {},
  timeout = S.number { min = 0 },
  queue_size = S.integer { min = 1, max = 32768 },
  virtiofsd = S.record {
    path = S.string { nonempty = true },
    flavor = S.string { enum = { "auto", "c", "rust", "legacy" } },
    sandbox = S.string { enum = { "namespace", "chroot", "none" } },
    thread_pool_size = S.integer { min = 0 },
    extra_args = S.array(S.string {}),
    env = env_map,
  },
}

local helper = S.record {
  name = S.string { required = true, check = function(v, path)
    if not valid_id(v) then return S.fail(path, "invalid helper name %s: %s", S.show(v), ID_PATTERN_HELP) end
    return true
  end },
  argv = S.array(S.string {}, { min = 1 }):req(),
  env = env_map,
  cwd = S.string {},
  ready = probes,
  timeout = S.number { min = 0 },
  stop = S.record { signal = S.either({ S.string {}, S.integer { min = 1, max = 64 } }), grace = S.number { min = 0 } },
}

local hooks = {}
for _, h in ipairs(M.HOOKS) do hooks[h] = func_schema() end

local fields = {
  id = S.string { required = true, check = function(v, path)
    if not valid_id(v) then return S.fail(path, "invalid sandbox id %s: %s", S.show(v), ID_PATTERN_HELP) end
    return true
  end },
  hypervisor = S.custom(function(v, path)
    if type(v) ~= "table" or (v.hypervisor ~= "qemu" and v.hypervisor ~= "clh") or type(v.argv) ~= "function" then
      return S.fail(path, "expected a hypervisor builder (qemu.config{...} or clh.config{...}), got %s", S.show(v))
    end
    return true
  end, { required = true }),
  shares = S.array(share),
  helpers = S.array(helper),
  ready = probes,
  stop = stop,
  timeouts = S.record {
    ready = S.number { min = 0 }, helper = S.number { min = 0 }, api = S.number { min = 0 },
    stop = S.number { min = 0 },
  },
  env = env_map,
  flow = S.string { enum = { "api", "cli" } },
  steps = S.map(S.string { enum = { "validate", "prepare", "start_helpers", "launch", "boot",
                                    "wait_ready", "supervise", "stop", "cleanup" } }, func_schema()),
  description = S.string {},
}
for k, v in pairs(hooks) do fields[k] = v end

M.schema = S.record(fields, {
  check = function(v, path)
    if v.flow and v.hypervisor.hypervisor ~= "clh" then
      return S.fail(S.join(path, "flow"), "only applies to cloud-hypervisor sandboxes")
    end
    local seen = {}
    for i, sh in ipairs(v.shares or {}) do
      if seen[sh.tag] then
        return S.fail(S.join(path, "shares[" .. i .. "].tag"), "duplicate tag %s", S.show(sh.tag))
      end
      seen[sh.tag] = true
    end
    local names = {}
    for i, h in ipairs(v.helpers or {}) do
      local field = S.join(path, "helpers[" .. i .. "].name")
      if names[h.name] then return S.fail(field, "duplicate helper name %s", S.show(h.name)) end
      if h.name:match("^virtiofsd%-") then
        return S.fail(field, "names starting with 'virtiofsd-' are reserved for shares")
      end
      names[h.name] = true
    end
    return true
  end,
})

-- --------------------------------------------------------- normalising

local function norm_text(v)
  if type(v) == "string" then return { text = v } end
  return { pattern = v.pattern }
end

--- One probe table to `{ kind =, text | pattern | path | state | fn, timeout =, hint = }`.
function M.normalize_probe(p, default_timeout)
  local kind = assert(probe_kind(p))
  local out = { kind = kind, timeout = p.timeout or default_timeout, hint = p.hint, interval = p.interval }
  if kind == "serial" or kind == "line" then
    local t = norm_text(p[kind])
    out.text, out.pattern = t.text, t.pattern
  elseif kind == "socket" then
    out.path = p.socket
  elseif kind == "qmp" then
    out.state = type(p.qmp) == "string" and p.qmp or "running"
  elseif kind == "api" then
    out.state = type(p.api) == "string" and p.api or "Running"
  elseif kind == "fn" then
    out.fn = p.fn
  end
  return out
end

local function normalize_probes(v, default_timeout)
  if v == nil then return nil end
  if is_probe_table(v) then
    return { M.normalize_probe(v, v.timeout or default_timeout) }
  end
  local out = {}
  for i, p in ipairs(v) do out[i] = M.normalize_probe(p, default_timeout) end
  return out
end
M.normalize_probes = normalize_probes

--- The default readiness: QEMU answers QMP with status running;
-- cloud-hypervisor reports its VM Running over the API.
function M.default_ready(kind, timeout)
  if kind == "qemu" then return { { kind = "qmp", state = "running", timeout = timeout } } end
  return { { kind = "api", state = "Running", timeout = timeout } }
end

function M.default_stop(kind)
  if kind == "qemu" then return { "powerdown", "quit", "term", "kill" } end
  return { "powerdown", "shutdown", "term", "kill" }
end

local function normalize_stop(v, kind)
  v = v or M.default_stop(kind)
  local grace = v.grace or M.DEFAULTS.stop_grace
  local out = {}
  for i, s in ipairs(v) do
    local step = { grace = grace }
    if type(s) == "string" then
      step.name = s
    elseif type(s) == "function" then
      step.name, step.fn = "function #" .. i, s
    else
      local first = s[1] or s.step or s.fn
      if type(first) == "function" then
        step.name, step.fn = s.name or ("function #" .. i), first
      else
        step.name = first
      end
      step.grace = s.grace or grace
    end
    out[i] = step
  end
  return out
end
M.normalize_stop = normalize_stop

--- "file:line" of the code that called the function at stack `level`
-- (1: the function calling call_site). A recipe usually ends with
-- `return vmlua.sandbox{...}`, a tail call that leaves no frame of the
-- recipe on the stack; then the line of that call is found in the recipe's
-- source instead.
function M.call_site(level)
  level = level + 1
  local me = debug.getinfo(level, "t")
  local info = debug.getinfo(level + 1, "Sl")
  if me and not me.istailcall and info and info.currentline and info.currentline > 0 then
    return string.format("%s:%d", info.short_src, info.currentline)
  end
  local vmlua = package.loaded["vmlua"]
  local path = vmlua and vmlua.recipe_path
  if not path then return nil end
  local f = io.open(path, "r")
  if not f then return path end
  local n, found = 0, nil
  for line in f:lines() do
    n = n + 1
    if line:find("sandbox%s*[{(]") then found = n end
  end
  f:close()
  local short = path:match("[^/]*$")
  if vmlua.recipe_arg then short = vmlua.recipe_arg end
  return found and string.format("%s:%d", short, found) or short
end

--- Build a sandbox from a recipe's table. Errors are raised as
-- "<where>: field: message", `where` being the caller's file:line.
function M.new(spec, where)
  if where == nil then where = M.call_site(1) end
  local ok, err = M.schema:check(spec, "")
  if not ok then error(where and (where .. ": " .. err) or err, 0) end
  local vmlua = package.loaded["vmlua"]
  local kind = spec.hypervisor.hypervisor
  local timeouts = spec.timeouts or {}
  local ready_timeout = timeouts.ready or (type(spec.ready) == "table" and spec.ready.timeout)
                        or M.DEFAULTS.ready_timeout
  local sb = setmetatable({
    id = spec.id,
    kind = kind,
    hypervisor = spec.hypervisor,
    description = spec.description,
    shares = {},
    helpers = {},
    ready = normalize_probes(spec.ready, ready_timeout) or M.default_ready(kind, ready_timeout),
    stop = normalize_stop(spec.stop, kind),
    timeouts = {
      ready = ready_timeout,
      helper = timeouts.helper or M.DEFAULTS.helper_timeout,
      api = timeouts.api or M.DEFAULTS.api_timeout,
      stop = timeouts.stop,
    },
    env = spec.env or {},
    flow = spec.flow or (kind == "clh" and "api" or nil),
    hooks = {},
    steps = spec.steps or {},
    base_dir = (vmlua and vmlua.recipe_dir) or os.getenv("PWD") or ".",
    recipe = vmlua and vmlua.recipe_path or nil,
    args = vmlua and vmlua.args or {},
  }, Sandbox)
  for _, h in ipairs(M.HOOKS) do sb.hooks[h] = spec[h] end
  sb.defined_at = where
  for i, s in ipairs(spec.shares or {}) do
    local v = s.virtiofsd or {}
    sb.shares[i] = {
      tag = s.tag, source = s.source, cache = s.cache or "auto",
      create = s.create or false, timeout = s.timeout or sb.timeouts.helper, queue_size = s.queue_size,
      virtiofsd = { path = v.path, flavor = v.flavor or "auto", sandbox = v.sandbox,
                    thread_pool_size = v.thread_pool_size, extra_args = v.extra_args, env = v.env },
    }
  end
  for i, h in ipairs(spec.helpers or {}) do
    local t = h.timeout or sb.timeouts.helper
    sb.helpers[i] = {
      name = h.name, argv = h.argv, env = h.env, cwd = h.cwd, timeout = t,
      ready = normalize_probes(h.ready, t) or {},
      stop = { signal = (h.stop and h.stop.signal) or "SIGTERM",
               grace = (h.stop and h.stop.grace) or M.DEFAULTS.stop_grace },
    }
  end
  return sb
end

function M.is_sandbox(v)
  return getmetatable(v) == Sandbox
end

--- A path from the recipe, made absolute against the recipe's directory.
function Sandbox:resolve(path)
  if type(path) ~= "string" or path:sub(1, 1) == "/" then return path end
  if path:sub(1, 2) == "./" then path = path:sub(3) end
  return self.base_dir .. "/" .. path
end

function Sandbox:__tostring()
  return string.format("vmlua.sandbox(%s, %s)", self.id, self.kind)
end

return M
