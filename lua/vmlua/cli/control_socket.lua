--- Shared by `vmlua qmp`, `api`, `pause` and `resume`: which control socket
-- to talk to (a sandbox's, from its state, or one given with --socket), of
-- which hypervisor kind, JSON arguments from the command line, printing
-- replies, and "did you mean" suggestions.
local core = require "vmlua.core"
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"

local M = {}

M.KIND_NAMES = { qemu = "QEMU", clh = "cloud-hypervisor" }
M.DEFAULT_TIMEOUT = 10

--- The options every control command takes.
function M.options()
  return {
    { long = "--socket", arg = "PATH", help = "talk to this control socket instead of a sandbox's" },
    { long = "--hypervisor", arg = "KIND", help = "with --socket: qemu or clh (else implied by the command)" },
    { long = "--timeout", arg = "SEC", number = true,
      help = "give up after SEC seconds (default " .. M.DEFAULT_TIMEOUT .. ")" },
  }
end

local function other_command(kind)
  return kind == "qemu" and "vmlua qmp" or "vmlua api"
end

--- Where to talk: { kind = "qemu"|"clh", socket = path, label = id or path,
-- id = id or nil, status = live status or nil }, and the positional
-- arguments left after the ID. `want` is the kind the command needs (nil:
-- either). Usage errors (exit 2) for a missing ID, an unknown sandbox, a
-- bad --hypervisor or a sandbox of the wrong kind.
function M.target(name, opts, pos, want)
  local kind = opts.hypervisor
  if kind ~= nil and not M.KIND_NAMES[kind] then
    cli.usage(string.format("%s: --hypervisor must be qemu or clh, got '%s'", name, kind))
  end
  local t
  if opts.socket then
    if opts.socket == "" then cli.usage(name .. ": --socket needs a path") end
    if kind and want and kind ~= want then
      cli.usage(string.format("%s: %s speaks no %s: use '%s'", name, M.KIND_NAMES[kind],
                              want == "qemu" and "QMP" or "REST API", other_command(kind)))
    end
    kind = kind or want
    if not kind then cli.usage(name .. ": --socket needs --hypervisor qemu|clh") end
    t = { kind = kind, socket = opts.socket, label = opts.socket }
  else
    if kind then cli.usage(name .. ": --hypervisor goes with --socket (a sandbox's state names its hypervisor)") end
    local id = table.remove(pos, 1)
    if not id then cli.usage(string.format("%s: missing ID (or --socket PATH)", name)) end
    local st = common.state(common.store { lookup = true }, id)
    if not M.KIND_NAMES[st.hypervisor] then
      cli.fail(string.format("sandbox '%s' has no known hypervisor in its state (%s)", id, tostring(st.hypervisor)))
    end
    if want and st.hypervisor ~= want then
      cli.usage(string.format("%s: sandbox '%s' runs %s, not %s: use '%s'", name, id,
                              M.KIND_NAMES[st.hypervisor], M.KIND_NAMES[want], other_command(st.hypervisor)))
    end
    if type(st.control_socket) ~= "string" or st.control_socket == "" then
      cli.fail(string.format("sandbox '%s' has no control socket in its state", id))
    end
    t = { kind = st.hypervisor, socket = st.control_socket, label = id, id = id,
          status = common.live_status(st) }
  end
  t.timeout = opts.timeout or M.DEFAULT_TIMEOUT
  return t, pos
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
  pause = { qmp = "stop", api = "pause", done = "paused",
            summary = "pause a sandbox's VM (QEMU: QMP stop; cloud-hypervisor: vm.pause)" },
  resume = { qmp = "cont", api = "resume", done = "resumed",
             summary = "resume a paused VM (QEMU: QMP cont; cloud-hypervisor: vm.resume)" },
}

--- The command module of `vmlua pause` or `vmlua resume`.
function M.pause_resume_command(name)
  local a = ACTIONS[name]
  return {
    summary = a.summary,
    usage = name .. " {ID | --socket PATH --hypervisor qemu|clh}",
    description = table.concat({
      string.format("QEMU sandboxes get the QMP command '%s', cloud-hypervisor sandboxes the", a.qmp),
      string.format("REST call vm.%s. Prints '<ID> %s'. QEMU treats a repeated %s as", a.api, a.done, a.qmp),
      string.format("success; cloud-hypervisor answers vm.%s in the wrong state with 500.", a.api),
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
      local ok, err
      if t.kind == "qemu" then
        local c, cerr = require("vmlua.qmp").connect(t.socket, { timeout = t.timeout })
        if not c then M.fail(t, cerr) end
        ok, err = c:execute(a.qmp)
        c:close()
      else
        ok, err = require("vmlua.chapi").new(t.socket, { timeout = t.timeout }):call(a.api)
      end
      if ok == nil then M.fail(t, err) end
      io.stdout:write(t.label, " ", a.done, "\n")
      return 0
    end,
  }
end

return M
