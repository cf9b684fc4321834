--- Commands in the guest, as methods of a vmlua.qga client: guest-exec,
-- then guest-exec-status until the command has exited. The agent sends no
-- events, so the status is polled with a growing delay (POLL_FIRST doubling
-- up to POLL_MAX); between polls the client waits on its socket, so a peer
-- that closes (the VM powered off, the hypervisor died) ends the wait at
-- once rather than at the next poll.
local core = require "vmlua.core"
local deadline_mod = require "vmlua.deadline"

local M = {}

--- qemu-ga keeps at most this much of a command's stdout and of its stderr
-- (GUEST_EXEC_MAX_OUTPUT); more is cut and flagged.
M.OUTPUT_CAP = 16 * 1024 * 1024
--- The most input vmlua sends (it travels in one request, base64-encoded).
M.INPUT_MAX = 16 * 1024 * 1024
M.POLL_FIRST, M.POLL_MAX = 0.002, 0.1
--- With `env`, qemu-ga gives the command exactly those variables: vmlua adds
-- this PATH unless the caller sets one.
M.DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

local SPEC_KEYS = { input = true, env = true, timeout = true, capture = true }

-- argv, input, env list, timeout, capture from an exec spec; raises for misuse.
local function check_spec(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'exec' (table expected)", 3) end
  local argv = {}
  for k, v in pairs(spec) do
    if math.type(k) == "integer" then
      if type(v) ~= "string" then error(string.format("bad argument #1 to 'exec' ([%d]: string expected)", k), 3) end
    elseif not SPEC_KEYS[k] then
      error(string.format("bad argument #1 to 'exec' (unknown field '%s')", tostring(k)), 3)
    end
  end
  for i = 1, #spec do argv[i] = spec[i] end
  if #argv == 0 or argv[1] == "" then error("bad argument #1 to 'exec' (a command expected in [1])", 3) end
  if spec.input ~= nil and type(spec.input) ~= "string" then
    error("bad argument #1 to 'exec' (input: string expected)", 3)
  end
  local env
  if spec.env ~= nil then
    if type(spec.env) ~= "table" then error("bad argument #1 to 'exec' (env: table expected)", 3) end
    env = {}
    local names = {}
    for k, v in pairs(spec.env) do
      if type(k) ~= "string" or not k:match("^[^=%z]+$") or type(v) ~= "string" then
        error("bad argument #1 to 'exec' (env: NAME = \"value\" strings expected)", 3)
      end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do env[#env + 1] = k .. "=" .. spec.env[k] end
    if spec.env.PATH == nil then env[#env + 1] = "PATH=" .. M.DEFAULT_PATH end
  end
  local t = spec.timeout
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then
    error("bad argument #1 to 'exec' (timeout: a number >= 0 expected)", 3)
  end
  if spec.capture ~= nil and type(spec.capture) ~= "boolean" then
    error("bad argument #1 to 'exec' (capture: boolean expected)", 3)
  end
  return argv, spec.input, env, t, spec.capture ~= false
end

-- guest-exec's failure to start the program, classified as a shell would:
-- not found (127), not executable (126).
local function start_failure(name, err, class)
  if class ~= "GenericError" then return err, class end
  if err:find("No such file or directory", 1, true) then
    return string.format("exec: '%s': not found in the guest (%s)", name, err), "notfound"
  end
  if err:find("Permission denied", 1, true) then
    return string.format("exec: '%s': not executable in the guest (%s)", name, err), "noexec"
  end
  return err, class
end

--- guest-exec: start a command; its pid, or nil, message, class.
-- (`spec` as for exec; the command runs on after this returns.)
function M:exec_start(spec)
  local argv, input, env, _, capture = check_spec(spec)
  if input and #input > M.INPUT_MAX then
    return nil, string.format("exec: input of %d bytes is over the %d-byte limit (it goes in one request)",
                              #input, M.INPUT_MAX), "input"
  end
  local args = { path = argv[1], arg = core.json.array(table.move(argv, 2, #argv, 1, {})),
                 ["capture-output"] = capture }
  if env then args.env = core.json.array(env) end
  if input then args["input-data"] = core.base64.encode(input) end
  local r, err, class, why = self:call("guest-exec", args)
  if r == nil then
    local msg, kind = start_failure(argv[1], err, class)
    return nil, msg, kind, why
  end
  if type(r) ~= "table" or math.type(r.pid) ~= "integer" then
    return nil, "qga: guest-exec: a reply without a pid", "protocol"
  end
  return r.pid
end

local function decode_output(st, field)
  local v = st[field]
  if v == nil then return "" end
  if type(v) ~= "string" then return nil, field .. " is not a string" end
  local data, err = core.base64.decode(v)
  if not data then return nil, field .. ": " .. err end
  return data
end

--- guest-exec-status once: `{ exited =, status =, signal =, stdout =,
-- stderr =, stdout_truncated =, stderr_truncated = }` (outputs decoded), or
-- nil, message, class.
function M:exec_status(pid, timeout)
  if math.type(pid) ~= "integer" then error("bad argument #1 to 'exec_status' (pid: integer expected)", 2) end
  local st, err, class, why = self:call("guest-exec-status", { pid = pid }, { timeout = timeout })
  if st == nil then return nil, err, class, why end
  if type(st) ~= "table" or type(st.exited) ~= "boolean" then
    return nil, "qga: guest-exec-status: a reply without 'exited'", "protocol"
  end
  local out = { exited = st.exited, pid = pid }
  if not st.exited then return out end
  local derr
  out.stdout, derr = decode_output(st, "out-data")
  if out.stdout then out.stderr, derr = decode_output(st, "err-data") end
  if derr then return nil, "qga: guest-exec-status: " .. derr, "protocol" end
  if math.type(st.exitcode) == "integer" then out.status = st.exitcode end
  if math.type(st.signal) == "integer" then out.signal = st.signal end
  if not (out.status or out.signal) then
    return nil, "qga: guest-exec-status: an exited command with neither an exit code nor a signal", "protocol"
  end
  out.stdout_truncated = st["out-truncated"] == true
  out.stderr_truncated = st["err-truncated"] == true
  return out
end

-- After a timeout: ask the guest to kill the command (the agent has no
-- command for that) and collect both statuses, so the agent forgets them.
-- Best effort, within a few seconds.
local function kill_in_guest(self, pid)
  local t = math.min(self.timeout, 2)
  local kpid = self:call("guest-exec", { path = "kill", arg = core.json.array { "-KILL", tostring(pid) } },
                         { timeout = t })
  if type(kpid) == "table" and math.type(kpid.pid) == "integer" then
    local until_t = core.monotonic() + t
    for _, p in ipairs { kpid.pid, pid } do
      repeat
        local st = self:exec_status(p, t)
      until not st or st.exited or core.monotonic() > until_t
    end
  end
end

-- Wait `delay` seconds between polls, on the socket: a closed peer or a
-- stray byte ends the wait early and is dealt with here.
local function between_polls(self, delay, deadline)
  local until_t = core.monotonic() + delay
  if deadline and deadline < until_t then until_t = deadline end
  local i, why = self.wait({ { readable = self.sock } }, until_t)
  if i == nil then return nil, "exec: interrupted: " .. tostring(why), "interrupted", why end
  if i == 1 then
    local ok, err, class = self:_fill(until_t, "guest-exec-status")
    if not ok and class ~= "timeout" then return nil, err, class end
  end
  return true
end

-- A failure while the command runs, classified for exec's caller.
local function running_failure(self, name, err, class, why)
  if class == "timeout" then return nil, err, "noanswer", why end
  if class == "disconnected" then
    return nil, string.format("exec: '%s': the connection to the guest agent closed while the command ran "
                              .. "(%s): did the VM stop?", name, self.reason or "closed"), class, why
  end
  return nil, err, class, why
end

--- Run a command in the guest and wait for it:
--   c:exec { "cmd", "arg"..., input = "stdin bytes", env = { NAME = "v" },
--            timeout = seconds, capture = true }
-- Returns `{ status = exit status | nil, signal = number | nil, stdout =,
-- stderr =, pid = }`, or nil, message, class: "notfound" (127 in a shell),
-- "noexec" (126), "timeout" (the command ran past `timeout` and was killed
-- in the guest), "truncated" (its output was over OUTPUT_CAP: the result,
-- cut, is the fourth value), "input" (input over INPUT_MAX), "noanswer"
-- (the agent did not answer a call in time: dead, or stuck), or a
-- transport class.
-- Each call to the agent has the client's timeout; `timeout` bounds the
-- whole command (none by default).
function M:exec(spec)
  local argv, _, _, timeout = check_spec(spec)
  local name = argv[1]
  local deadline = deadline_mod.after(timeout)
  local pid, err, class, why = self:exec_start(spec)
  if not pid then return nil, err, class == "timeout" and "noanswer" or class, why end
  local delay = M.POLL_FIRST
  while true do
    local st
    st, err, class, why = self:exec_status(pid)
    if not st then return running_failure(self, name, err, class, why) end
    if st.exited then
      st.exited = nil
      local cut = st.stdout_truncated and "stdout" or (st.stderr_truncated and "stderr")
      if cut then
        return nil, string.format("exec: '%s': its %s was over the guest agent's %d MiB output cap; only the "
                                  .. "first %d MiB came back", name, cut, M.OUTPUT_CAP >> 20, M.OUTPUT_CAP >> 20),
               "truncated", st
      end
      st.stdout_truncated, st.stderr_truncated = nil, nil
      return st
    end
    if deadline_mod.expired(deadline) then
      kill_in_guest(self, pid)
      return nil, string.format("exec: '%s' did not finish within %g s (killed in the guest)", name, timeout),
             "timeout"
    end
    local ok
    ok, err, class, why = between_polls(self, delay, deadline)
    if not ok then return running_failure(self, name, err, class, why) end
    delay = math.min(delay * 2, M.POLL_MAX)
  end
end

return M
