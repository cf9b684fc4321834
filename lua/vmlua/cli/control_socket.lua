--- Shared by `vmlua qmp`, `api`, `pause` and `resume`: which control socket
-- to talk to (a sandbox's, from its state, or one given with --socket), whose
-- driver speaks what, JSON arguments from the command line, printing
-- replies, and "did you mean" suggestions.
local core = require "vmlua.core"
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"
local drivers = require "vmlua.driver"

local M = {}

M.DEFAULT_TIMEOUT = 10

--- The options every control command takes.
function M.options()
  return {
    { long = "--socket", arg = "PATH", help = "talk to this control socket instead of a sandbox's" },
    { long = "--hypervisor", arg = "KIND", help = "with --socket: " .. table.concat(drivers.names(), " or ")
                                                   .. " (else implied by the command)" },
    { long = "--timeout", arg = "SEC", number = true,
      help = "give up after SEC seconds (default " .. M.DEFAULT_TIMEOUT .. ")" },
  }
end

-- The driver that speaks `protocol` ("qmp": QEMU), for messages.
local function speaker(protocol)
  return drivers.speaking(protocol)[1]
end

-- "use 'vmlua api'": the command that speaks the driver's protocol.
local function other_command(driver)
  return "vmlua " .. driver.control.protocol
end

local function named_driver(name, kind)
  local d = drivers.named(kind)
  if not d then
    cli.usage(string.format("%s: --hypervisor must be %s, got '%s'", name, table.concat(drivers.names(), " or "), kind))
  end
  return d
end

--- Where to talk: { driver =, socket = path, label = id or path, id = id or
-- nil, status = live status or nil }, and the positional arguments left
-- after the ID. `protocol` is what the command speaks ("qmp", "api"; nil:
-- whatever the sandbox's driver speaks). Usage errors (exit 2) for a
-- missing ID, an unknown sandbox, a bad --hypervisor or a sandbox whose
-- driver speaks another protocol.
function M.target(name, opts, pos, protocol)
  local t
  if opts.socket then
    if opts.socket == "" then cli.usage(name .. ": --socket needs a path") end
    local d = opts.hypervisor and named_driver(name, opts.hypervisor) or (protocol and speaker(protocol))
    if not d then
      cli.usage(string.format("%s: --socket needs --hypervisor %s", name, table.concat(drivers.names(), "|")))
    end
    if protocol and d.control.protocol ~= protocol then
      cli.usage(string.format("%s: %s speaks no %s: use '%s'", name, d.title, speaker(protocol).control.label,
                              other_command(d)))
    end
    t = { driver = d, socket = opts.socket, label = opts.socket }
  else
    if opts.hypervisor then
      cli.usage(name .. ": --hypervisor goes with --socket (a sandbox's state names its hypervisor)")
    end
    local id = table.remove(pos, 1)
    if not id then cli.usage(string.format("%s: missing ID (or --socket PATH)", name)) end
    t = common.check(control.control_target(id))
    if protocol and t.driver.control.protocol ~= protocol then
      cli.usage(string.format("%s: sandbox '%s' runs %s, not %s: use '%s'", name, id, t.driver.title,
                              speaker(protocol).title, other_command(t.driver)))
    end
    t.label = id
  end
  t.timeout = opts.timeout or M.DEFAULT_TIMEOUT
  return t, pos
end

--- After the target: the command's verb (a QMP command, a REST endpoint)
-- and its one optional JSON argument; usage errors for a missing verb or
-- extra arguments.
function M.verb_and_json(name, rest, verb, json)
  if not rest[1] then
    cli.usage(string.format("%s: missing %s (usage: vmlua %s ID %s [%s])", name, verb, name, verb, json))
  end
  if #rest > 2 then
    cli.usage(string.format("%s: unexpected argument '%s' (%s is one argument)", name, rest[3], json))
  end
  return rest[1], rest[2]
end

--- Fail (exit 1) with err, adding the sandbox's status when it is not up.
function M.fail(t, err)
  if t.id and t.status and t.status ~= "running" and t.status ~= "starting" then
    err = string.format("%s (sandbox '%s' status: %s)", err, t.id, t.status)
  end
  cli.fail(err)
end

local ARRAY_MT = getmetatable(core.json.array())

local function describe(v)
  if type(v) == "table" then return getmetatable(v) == ARRAY_MT and "an array" or "an object" end
  if v == core.json.null then return "null" end
  return "a " .. type(v)
end

--- Decode a JSON object given on the command line (exit 2 otherwise).
function M.json_object(name, what, text)
  local v, err = core.json.decode(text)
  if v == nil then cli.usage(string.format("%s: %s is not valid JSON: %s", name, what, err)) end
  if type(v) ~= "table" or getmetatable(v) == ARRAY_MT then
    cli.usage(string.format("%s: %s must be a JSON object, got %s", name, what, describe(v)))
  end
  return v
end

--- Print a reply as pretty JSON ({} and [] on one line).
function M.print_json(v)
  local empty = type(v) == "table" and next(v) == nil
  io.stdout:write(core.json.encode(v, { pretty = not empty }), "\n")
end

--- Edit distance with transpositions (optimal string alignment).
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        d[i][j] = math.min(d[i][j], d[i - 2][j - 2] + 1)
      end
    end
  end
  return d[#a][#b]
end

--- The candidate closest to word, if it is close enough to be a typo.
function M.suggest(word, candidates)
  local best, bestd, bestl
  for _, c in ipairs(candidates) do
    -- ties go to the candidate of the closest length
    local d, l = distance(word:lower(), c:lower()), math.abs(#c - #word)
    if not bestd or d < bestd or (d == bestd and l < bestl) then best, bestd, bestl = c, d, l end
  end
  if bestd and bestd <= math.max(2, #word // 3) then return best end
  return nil
end

local ACTIONS = {
  pause = { done = "paused", summary = "pause a sandbox's VM" },
  resume = { done = "resumed", summary = "resume a paused VM" },
}

-- "(QEMU: QMP stop; ...)": how each driver does `name`.
local function hows(name)
  local out = {}
  for _, d in ipairs(drivers.all()) do out[#out + 1] = d.title .. ": " .. d.pause_how[name] end
  return "(" .. table.concat(out, "; ") .. ")"
end

--- The command module of `vmlua pause` or `vmlua resume`.
function M.pause_resume_command(name)
  local a = ACTIONS[name]
  return {
    summary = a.summary .. " " .. hows(name),
    usage = name .. " {ID | --socket PATH --hypervisor " .. table.concat(drivers.names(), "|") .. "}",
    description = table.concat({
      string.format("Prints '<ID> %s'. Whether a repeated request is an error is the", a.done),
      "hypervisor's choice (QEMU accepts it; cloud-hypervisor answers 500).",
      "",
      "Exit status: 0 done; 1 when the hypervisor refuses or cannot be reached;",
      "2 for an unknown sandbox or --socket without --hypervisor.",
    }, "\n"),
    args = {},
    variadic = true,
    options = M.options(),
    run = function(opts, pos)
      local t, rest = M.target(name, opts, pos, nil)
      if #rest > 0 then cli.usage(string.format("%s: unexpected argument '%s'", name, rest[1])) end
      local ok, err = control.pause_resume(t, name)
      if not ok then M.fail(t, err) end
      io.stdout:write(t.label, " ", a.done, "\n")
      return 0
    end,
  }
end

return M
