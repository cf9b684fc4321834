--- vmlua.sandbox: the description of a sandbox, checked and normalised.
--
-- `vmlua.sandbox{}` (in init.lua) calls `new(spec, ctx, where)`, `ctx` being
-- the load context of the recipe (see vmlua.load_recipe). The returned object
-- is plain data plus methods; nothing starts until the lifecycle
-- (vmlua.sandbox.control) runs it. What a field may hold depends on the
-- hypervisor's driver: its probe kinds and stop steps join the generic ones.
-- See docs/recipes.md for every field.
local S = require "vmlua.schema"
local drivers = require "vmlua.driver"

local M = {}

local Sandbox = {}
Sandbox.__index = Sandbox
M.Sandbox = Sandbox

--- Stop steps and probe kinds every driver has; each driver adds its own.
M.GENERIC_STOP_STEPS = { "term", "kill" }
M.GENERIC_PROBES = { "serial", "socket", "line", "fn" }
M.HOOKS = { "on_start", "on_ready", "on_exit", "on_failure", "on_helper_exit" }

M.DEFAULTS = {
  ready_timeout = 60,
  helper_timeout = 10,
  stop_grace = 5,
  api_timeout = 5,
  --- How long a stop waits for the hypervisor after SIGKILL.
  kill_wait = 10,
}

local ID_PATTERN_HELP = "use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"

local function valid_id(s)
  return type(s) == "string" and #s >= 1 and #s <= 64 and s:match("^[A-Za-z0-9][A-Za-z0-9_.%-]*$") ~= nil
end
M.valid_id = valid_id

--- The stop steps of a driver: its own, in the order of its default policy,
-- then the generic ones.
function M.stop_steps(driver)
  local out, seen = {}, {}
  local function add(n) if not seen[n] then seen[n] = true; out[#out + 1] = n end end
  for _, n in ipairs(driver.default_stop) do if driver.actions[n] then add(n) end end
  local rest = {}
  for n in pairs(driver.actions) do rest[#rest + 1] = n end
  table.sort(rest)
  for _, n in ipairs(rest) do add(n) end
  for _, n in ipairs(M.GENERIC_STOP_STEPS) do add(n) end
  return out
end

--- The probe kinds of a driver: the generic ones, then its own.
function M.probe_kinds(driver)
  local out = table.move(M.GENERIC_PROBES, 1, #M.GENERIC_PROBES, 1, {})
  local own = {}
  for k in pairs(driver.probes) do own[#own + 1] = k end
  table.sort(own)
  return table.move(own, 1, #own, #out + 1, out)
end

-- ------------------------------------------------------------ the schema

local text_or_pattern = S.either({
  S.string { nonempty = true },
  S.record { pattern = S.string { required = true, nonempty = true } },
}, { describe = 'text to find or { pattern = "lua pattern" }' })

local function func_schema()
  return S.custom(function(v, path)
    if type(v) ~= "function" then return S.fail(path, "expected a function, got %s", S.show(v)) end
    return true
  end)
end

local function probe_kind(t, kinds)
  local found
  for _, k in ipairs(kinds) do
    if t[k] ~= nil then
      if found then return nil, string.format("give one of %s per probe, not both %s and %s",
                                              table.concat(kinds, ", "), found, k) end
      found = k
    end
  end
  if not found then return nil, "needs one of " .. table.concat(kinds, ", ") end
  return found
end

local function is_probe_table(t, kinds)
  if type(t) ~= "table" then return false end
  for _, k in ipairs(kinds) do if t[k] ~= nil then return true end end
  return false
end

-- The probes schema of a driver: a probe table or a list of them.
local function probes_schema(driver)
  local kinds = M.probe_kinds(driver)
  local fields = {
    serial = text_or_pattern,
    line = text_or_pattern,
    socket = S.string { nonempty = true },
    fn = func_schema(),
    timeout = S.number { min = 0 },
    interval = S.number { min = 0.001 },
    hint = S.string {},
  }
  for k, p in pairs(driver.probes) do fields[k] = p.schema end
  local probe = S.record(fields, {
    check = function(v, path)
      local kind, err = probe_kind(v, kinds)
      if not kind then return S.fail(path, "%s", err) end
      return true
    end,
  })
  return S.custom(function(v, path)
    if type(v) ~= "table" then return S.fail(path, "expected a probe table or a list of probes, got %s", S.show(v)) end
    if is_probe_table(v, kinds) or not S.is_array(v) or #v == 0 then return probe:check(v, path) end
    for i, p in ipairs(v) do
      local ok, err = probe:check(p, S.join(path, i))
      if not ok then return nil, err end
    end
    return true
  end)
end

-- The stop policy schema of a driver: a list of steps, and `grace`.
local function stop_schema(driver)
  local names = M.stop_steps(driver)
  local step_table = S.record({ step = S.string { enum = names }, fn = func_schema(), grace = S.number { min = 0 },
                                name = S.string {} }, { extra = { [1] = true } })
  local stop_step
  stop_step = S.custom(function(v, path)
    if type(v) == "function" then return true end
    if type(v) == "string" then
      for _, n in ipairs(names) do if n == v then return true end end
      local hint = S.suggest(v, names)
      return S.fail(path, "unknown stop step %s (%s)", S.show(v),
                    hint and ("did you mean '" .. hint .. "'?")
                    or (driver.title .. " stop steps: " .. table.concat(names, ", ")))
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
  return stop, stop_step
end

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

local hooks = {}
for _, h in ipairs(M.HOOKS) do hooks[h] = func_schema() end

local id_schema = S.string { required = true, check = function(v, path)
  if not valid_id(v) then return S.fail(path, "invalid sandbox id %s: %s", S.show(v), ID_PATTERN_HELP) end
  return true
end }

local step_names = { "validate", "prepare", "provision", "start_helpers", "launch", "boot", "wait_ready", "supervise",
                     "stop", "cleanup" }

-- The sandbox schema for one driver (its probe kinds, stop steps, flows).
local function build_schema(driver)
  local probes = probes_schema(driver)
  local stop, stop_step = stop_schema(driver)
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
    stop = S.record { signal = S.either({ S.string {}, S.integer { min = 1, max = 64 } }),
                      grace = S.number { min = 0 } },
  }
  local flow = S.custom(function(v, path)
    if not driver.flows then
      return S.fail(path, "only applies to hypervisors with a choice of launch flow, not %s", driver.title)
    end
    return S.string { enum = driver.flows }:check(v, path)
  end)
  local fields = {
    id = id_schema,
    hypervisor = S.any { required = true },
    shares = S.array(share),
    helpers = S.array(helper),
    ready = probes,
    stop = stop,
    timeouts = S.record {
      ready = S.number { min = 0 }, helper = S.number { min = 0 }, api = S.number { min = 0 },
      stop = S.number { min = 0 },
    },
    env = env_map,
    flow = flow,
    steps = S.map(S.string { enum = step_names }, func_schema()),
    description = S.string {},
  }
  for k, v in pairs(hooks) do fields[k] = v end
  for k, v in pairs(require("vmlua.sandbox.resources").schema_fields(driver)) do fields[k] = v end
  local schema = S.record(fields, {
    check = function(v, path)
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
  return { sandbox = schema, stop_step = stop_step, kinds = M.probe_kinds(driver) }
end

local schemas = setmetatable({}, { __mode = "k" })

--- The schemas of a driver's sandboxes (built once per driver).
function M.schema_for(driver)
  local s = schemas[driver]
  if not s then
    s = build_schema(driver)
    schemas[driver] = s
  end
  return s
end

--- Check one stop step of `driver` (a name, a function or a step table).
function M.check_stop_step(driver, v, path)
  return M.schema_for(driver).stop_step:check(v, path)
end

local function builders_text()
  local out = {}
  for _, d in ipairs(drivers.all()) do out[#out + 1] = d.builder end
  return table.concat(out, " or ")
end

--- Check a recipe's table: the driver of its hypervisor, or nil and
-- "field: message".
function M.check(spec)
  if type(spec) ~= "table" then return S.fail("", "expected a table, got %s", S.show(spec)) end
  local driver, derr = drivers.of(spec.hypervisor)
  if not driver then
    if spec.hypervisor == nil then return S.fail("hypervisor", "missing (required)") end
    return S.fail("hypervisor", "expected a hypervisor builder (%s), got %s%s", builders_text(),
                  S.show(spec.hypervisor), derr ~= "not a hypervisor builder" and (": " .. derr) or "")
  end
  local ok, err = M.schema_for(driver).sandbox:check(spec, "")
  if not ok then return nil, err end
  return driver
end

-- --------------------------------------------------------- normalising

local function norm_text(v)
  if type(v) == "string" then return { text = v } end
  return { pattern = v.pattern }
end

--- One probe table to `{ kind =, text | pattern | path | state | fn, timeout =, hint = }`.
function M.normalize_probe(driver, p, default_timeout)
  local kind = assert(probe_kind(p, M.probe_kinds(driver)))
  local out = { kind = kind, timeout = p.timeout or default_timeout, hint = p.hint, interval = p.interval }
  if kind == "serial" or kind == "line" then
    local t = norm_text(p[kind])
    out.text, out.pattern = t.text, t.pattern
  elseif kind == "socket" then
    out.path = p.socket
  elseif kind == "fn" then
    out.fn = p.fn
  else
    for k, v in pairs(driver.probes[kind].normalize(p[kind])) do out[k] = v end
  end
  return out
end

local function normalize_probes(driver, v, default_timeout)
  if v == nil then return nil end
  if is_probe_table(v, M.probe_kinds(driver)) then
    return { M.normalize_probe(driver, v, v.timeout or default_timeout) }
  end
  local out = {}
  for i, p in ipairs(v) do out[i] = M.normalize_probe(driver, p, default_timeout) end
  return out
end
M.normalize_probes = normalize_probes

--- A stop policy (the recipe's list, or the driver's default) to a list of
-- `{ name =, fn =, grace = }`.
function M.normalize_stop(driver, v)
  v = v or driver.default_stop
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

--- Build a sandbox from a recipe's table. `ctx` is the load context
-- (`{ path =, dir =, arg =, args =, id = }`, see vmlua.load_recipe; {} for a
-- table built outside a recipe). Errors are raised as "<where>: field:
-- message", `where` being the recipe's file:line.
function M.new(spec, ctx, where)
  ctx = ctx or {}
  local driver, err = M.check(spec)
  if not driver then error(where and (where .. ": " .. err) or err, 0) end
  local timeouts = spec.timeouts or {}
  local ready_timeout = timeouts.ready or (type(spec.ready) == "table" and spec.ready.timeout)
                        or M.DEFAULTS.ready_timeout
  local sb = setmetatable({
    id = spec.id,
    kind = driver.name,
    driver = driver,
    hypervisor = spec.hypervisor,
    description = spec.description,
    shares = {},
    helpers = {},
    ready = normalize_probes(driver, spec.ready, ready_timeout) or driver.default_ready(ready_timeout),
    stop = M.normalize_stop(driver, spec.stop),
    timeouts = {
      ready = ready_timeout,
      helper = timeouts.helper or M.DEFAULTS.helper_timeout,
      api = timeouts.api or M.DEFAULTS.api_timeout,
      stop = timeouts.stop,
    },
    env = spec.env or {},
    flow = spec.flow or driver.default_flow,
    hooks = {},
    steps = spec.steps or {},
    base_dir = ctx.dir or os.getenv("PWD") or ".",
    recipe = ctx.path,
    args = ctx.args or {},
    load = ctx,
    defined_at = where,
  }, Sandbox)
  for _, h in ipairs(M.HOOKS) do sb.hooks[h] = spec[h] end
  require("vmlua.sandbox.resources").normalize(sb, spec) -- network, disks
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
      ready = normalize_probes(driver, h.ready, t) or {},
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
