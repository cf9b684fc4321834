--- vmlua.qmp: a client for QEMU's QMP monitor on a unix socket.
--
--     local qmp = require "vmlua.qmp"
--     local c = assert(qmp.connect("/run/vmlua/demo/qmp.sock", { timeout = 5 }))
--     local st = assert(c:query_status())         -- { status = "running", running = true, ... }
--     local ok, err, class = c:execute("device_del", { id = "nope" })
--     c:close()
--
-- The connection: the greeting is read (events sent before it are queued;
-- anything else that is not a well-formed greeting is an error naming what
-- is wrong), then `qmp_capabilities` is sent. Each command carries QMP's
-- `"id"` member, so a reply is matched to its command by id. After a
-- command times out the client stays usable: the late reply is recognised
-- by its id and dropped when it arrives.
--
-- Results: `execute` returns the command's `"return"` value (a table for
-- most commands, `{}` for none — marked as a JSON object); failures return
-- `nil, message, class`, where class is QMP's error class ("GenericError",
-- "CommandNotFound", "DeviceNotActive", ...) for an error reply, or
-- "timeout", "disconnected" for the transport. Misuse (a wrong argument
-- type, an unknown option, a closed client) raises.
--
-- Events (`{ event =, data =, timestamp = { seconds, microseconds }, time = }`)
-- that arrive while waiting for a reply are queued, up to MAX_QUEUED_EVENTS
-- (older ones are dropped and counted in `client.dropped_events`).
local core = require "vmlua.core"
local deadline_mod = require "vmlua.deadline"
local json = core.json

local M = {}

--- Seconds a connect or a command may take when no timeout is given.
M.DEFAULT_TIMEOUT = 30
M.MAX_QUEUED_EVENTS = 1024
--- The longest message line: QEMU 7.2's query-qmp-schema reply, the
-- longest it sends, is ~200 KiB. A longer line comes in pieces that are
-- skipped as not JSON, so a line that never ends takes no more memory.
M.MAX_LINE = 8 * 1024 * 1024

local ETIMEDOUT = core.errno.ETIMEDOUT
local ARRAY_MT = getmetatable(json.array())

local check = require "vmlua.qmp.check"
local check_opts, check_string, check_table = check.opts, check.string, check.table
local check_usable, limit, limit_of = check.usable, check.limit, check.limit_of

local Client = {}
local Client_mt = { __index = Client, __name = check.CLIENT_NAME }

-- ---- small helpers ---------------------------------------------------------

local function excerpt(s, max)
  max = max or 120
  if #s > max then s = s:sub(1, max) .. "..." end
  return (s:gsub("[%c]", "?"))
end

local function fmt_seconds(t)
  return string.format("%g s", t)
end

local remaining, overdue = deadline_mod.remaining, deadline_mod.expired

-- ---- the greeting ----------------------------------------------------------

--- The version and capabilities of a decoded greeting, or nil and what is
-- wrong with it.
local function parse_greeting(msg)
  if type(msg) ~= "table" then return nil, "not a JSON object" end
  local q = msg.QMP
  if type(q) ~= "table" then return nil, 'no "QMP" object' end
  if type(q.version) ~= "table" then return nil, "QMP.version is missing or not an object" end
  local v = q.version.qemu
  if type(v) ~= "table" then return nil, "QMP.version.qemu is missing or not an object" end
  local version = {}
  for _, k in ipairs { "major", "minor", "micro" } do
    if math.type(v[k]) ~= "integer" then
      return nil, string.format("QMP.version.qemu.%s is not an integer", k)
    end
    version[k] = v[k]
  end
  local package = q.version.package
  if package ~= nil and type(package) ~= "string" then return nil, "QMP.version.package is not a string" end
  version.package = package or ""
  local caps = q.capabilities
  if type(caps) ~= "table" then return nil, "QMP.capabilities is missing or not an array" end
  local list = {}
  for i, c in ipairs(caps) do
    if type(c) ~= "string" then return nil, "QMP.capabilities holds a value that is not a string" end
    list[i] = c
  end
  return version, list
end

-- ---- reading ---------------------------------------------------------------

function Client:_disconnect(reason)
  if self.state == "open" then
    self.state = "disconnected"
    self.disconnect_reason = reason
  end
end

--- The next JSON object from the socket, or nil and "timeout" | "disconnected".
-- Lines that are not JSON objects are skipped (counted in skipped_lines).
-- A server that keeps sending does not keep us past the deadline: after
-- the first line, each further read first checks it.
function Client:_read(deadline)
  for attempt = 1, math.huge do
    if attempt > 1 and overdue(deadline) then return nil, "timeout" end
    local line, err = self.sock:read_line(remaining(deadline), M.MAX_LINE)
    if not line then
      if err == "timeout" then return nil, "timeout" end
      self:_disconnect(err == "eof" and "the server closed the connection (eof)" or tostring(err))
      return nil, "disconnected"
    end
    local msg = json.decode(line)
    if type(msg) == "table" and getmetatable(msg) ~= ARRAY_MT then return msg end
    self.skipped_lines = self.skipped_lines + 1
    if core.log.enabled("debug") then
      core.log.debug("qmp: skipped a line that is not a JSON object", { line = excerpt(line) })
    end
  end
end

--- Add `time` (seconds since the epoch, a float) from QMP's timestamp.
local function with_time(ev)
  local ts = ev.timestamp
  if type(ts) == "table" and math.type(ts.seconds) == "integer" and math.type(ts.microseconds) == "integer" then
    ev.time = ts.seconds + ts.microseconds / 1e6
  end
  return ev
end

function Client:_queue(ev)
  with_time(ev)
  self.seq = self.seq + 1
  local q = self.queue
  q[#q + 1] = { seq = self.seq, ev = ev }
  if #q > M.MAX_QUEUED_EVENTS then
    table.remove(q, 1)
    self.dropped_events = self.dropped_events + 1
  end
end

--- A message that nobody waits for: queue an event, drop a late reply.
function Client:_stray(msg)
  if msg.event ~= nil then
    self:_queue(msg)
  elseif msg.id ~= nil and self.pending[msg.id] then
    self.pending[msg.id] = nil
  end
end

local function is_reply(msg)
  return msg.event == nil and (msg["return"] ~= nil or msg.error ~= nil)
end

local function error_message(err)
  if type(err) ~= "table" then return "QMP error (malformed error reply)", "GenericError" end
  local desc, class = require("vmlua.qapi").error(err)
  return string.format("QMP error %s: %s", class, desc), class
end

function Client:_gone(what)
  return string.format("qmp: connection to %s lost %s: %s", self.path, what,
                       self.disconnect_reason or "closed")
end

-- ---- commands --------------------------------------------------------------

--- Send one command and wait (until lim.deadline) for its reply.
function Client:_execute(cmd, args, lim, fds)
  local deadline = lim.deadline
  if self.state ~= "open" then
    return nil, self:_gone("before '" .. cmd .. "' was sent"), "disconnected"
  end
  local id = self.next_id
  self.next_id = id + 1
  local req = { execute = cmd, id = id }
  if args ~= nil then req.arguments = args end
  local line = json.encode(req) .. "\n"
  local ok, err
  if fds then
    ok, err = self.sock:send_fds(line, fds, remaining(deadline))
  else
    ok, err = self.sock:send(line, remaining(deadline))
  end
  if not ok then
    -- A command sent in part would garble the stream: the client is done.
    self:_disconnect("send: " .. tostring(err))
    return nil, self:_gone("sending '" .. cmd .. "'"), "disconnected"
  end
  while true do
    local msg, kind = self:_read(deadline)
    if not msg then
      if kind == "timeout" then
        self.pending[id] = cmd
        return nil, string.format("qmp: no reply to '%s' within %s", cmd, fmt_seconds(lim.seconds)), "timeout"
      end
      -- quit: QEMU may close the connection before its reply is read.
      if cmd == "quit" then return json.object() end
      return nil, self:_gone("waiting for the reply to '" .. cmd .. "'"), "disconnected"
    end
    if is_reply(msg) and (msg.id == id or (msg.id == nil and next(self.pending) == nil)) then
      if msg.error ~= nil then
        local text, class = error_message(msg.error)
        return nil, text, class
      end
      return msg["return"]
    end
    self:_stray(msg)
    if overdue(deadline) then
      self.pending[id] = cmd
      return nil, string.format("qmp: no reply to '%s' within %s", cmd, fmt_seconds(lim.seconds)), "timeout"
    end
  end
end

--- Run a QMP command. `args` is its arguments table (or nil); opts:
-- `timeout` (seconds, default the client's), `fds` (files or fds sent with
-- the command by SCM_RIGHTS, for getfd/add-fd).
-- Returns the result, or nil, message, class.
function Client:execute(cmd, args, opts)
  check_usable(self, "execute")
  check_string(cmd, "the command", "execute")
  if args ~= nil then check_table(args, "the arguments", "execute") end
  opts = check_opts(opts, { timeout = true, fds = true }, "execute")
  if opts.fds ~= nil then check_table(opts.fds, "fds", "execute") end
  return self:_execute(cmd, args, limit(self, opts), opts.fds)
end

-- ---- events ----------------------------------------------------------------

--- The queued events plus the complete messages already readable on the
-- socket (never blocks; at most MAX_QUEUED_EVENTS of them, so that a
-- server that never stops cannot keep it), oldest first; the queue is
-- emptied.
function Client:events()
  check_usable(self, "events")
  if self.state == "open" then
    local now = core.monotonic()
    for _ = 1, M.MAX_QUEUED_EVENTS do
      local msg = self:_read(now)
      if not msg then break end
      self:_stray(msg)
    end
  end
  local out = {}
  for i, e in ipairs(self.queue) do out[i] = e.ev end
  self.queue = {}
  return out
end

local function matches(ev, name, match)
  if name ~= nil and ev.event ~= name then return false end
  if match == nil then return true end
  if type(match) == "function" then return match(ev) and true or false end
  local data = type(ev.data) == "table" and ev.data or {}
  for k, v in pairs(match) do
    if data[k] ~= v then return false end
  end
  return true
end

--- Take the first queued event after `since` that matches, or read until one
-- arrives (other events are queued meanwhile).
function Client:_wait_event(name, lim, match, since, what)
  for i, e in ipairs(self.queue) do
    if e.seq > since and matches(e.ev, name, match) then
      table.remove(self.queue, i)
      return e.ev
    end
  end
  if self.state ~= "open" then
    return nil, self:_gone("waiting for " .. what), "disconnected"
  end
  while true do
    local msg, kind = self:_read(lim.deadline)
    if not msg then
      if kind == "timeout" then
        return nil, string.format("qmp: no %s within %s", what, fmt_seconds(lim.seconds)), "timeout"
      end
      return nil, self:_gone("waiting for " .. what), "disconnected"
    end
    if msg.event ~= nil and matches(msg, name, match) then
      return with_time(msg)
    end
    self:_stray(msg)
    if overdue(lim.deadline) then
      return nil, string.format("qmp: no %s within %s", what, fmt_seconds(lim.seconds)), "timeout"
    end
  end
end

--- Wait for event `name` (nil: any event) for up to `timeout` seconds.
-- `match` is a table of `data` members that must be equal, or a function
-- (event) -> boolean. A queued event counts; the event returned is removed
-- from the queue. Returns the event, or nil, message, "timeout"|"disconnected".
function Client:wait_event(name, timeout, match)
  check_usable(self, "wait_event")
  if name ~= nil then check_string(name, "the event name", "wait_event") end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error("bad argument to 'wait_event' (timeout must be a number >= 0)", 2)
  end
  if match ~= nil and type(match) ~= "table" and type(match) ~= "function" then
    error("bad argument to 'wait_event' (match must be a table or a function)", 2)
  end
  local what = name and (name .. " event") or "event"
  return self:_wait_event(name, limit(self, { timeout = timeout }), match, 0, what)
end

--- A command, then an event that it causes (the event may come before the
-- reply: only events queued after the command was sent count).
function Client:_execute_then_event(cmd, args, opts, event, match, what)
  local lim = limit(self, opts)
  local since = self.seq
  local res, err, class = self:_execute(cmd, args, lim)
  if res == nil then return nil, err, class end
  local ev, werr, wclass = self:_wait_event(event, lim, match, since, what)
  if not ev then return nil, (werr:gsub("^qmp: ", "qmp: " .. cmd .. ": ")), wclass end
  return res, ev
end

-- ---- information -----------------------------------------------------------

--- QEMU's version from the greeting: { major, minor, micro, package }.
function Client:version()
  check_usable(self, "version")
  local v = self.greeting_version
  return { major = v.major, minor = v.minor, micro = v.micro, package = v.package }
end

--- The capabilities QEMU offered in the greeting (e.g. { "oob" }).
function Client:capabilities()
  check_usable(self, "capabilities")
  return table.move(self.greeting_capabilities, 1, #self.greeting_capabilities, 1, {})
end

--- The core Socket (for core.wait { { readable = c:socket() } }).
function Client:socket()
  check_usable(self, "socket")
  return self.sock
end

function Client:close()
  if self.state ~= "closed" then
    self.state = "closed"
    self.sock:close()
  end
  return true
end

Client_mt.__close = function(self) self:close() end
Client_mt.__gc = Client_mt.__close
Client_mt.__tostring = function(self)
  return string.format("vmlua.QMP (%s, %s)", self.path, self.state)
end

-- The convenience commands (govmm's set).
for name, f in pairs(require "vmlua.qmp.commands") do Client[name] = f end

-- ---- connecting ------------------------------------------------------------

--- Read lines until the greeting (events before it are queued).
local function read_greeting(c, lim)
  for attempt = 1, math.huge do
    local line, err, errno
    if attempt > 1 and overdue(lim.deadline) then
      err = "timeout"
    else
      line, err, errno = c.sock:read_line(remaining(lim.deadline), M.MAX_LINE)
    end
    if not line then
      if err == "timeout" then
        return nil, string.format("qmp: no greeting from %s within %s (QEMU serves one QMP client at a "
                                  .. "time: is another client connected?)", c.path, fmt_seconds(lim.seconds)), ETIMEDOUT
      end
      if err == "eof" then
        return nil, string.format("qmp: %s closed the connection before the greeting", c.path)
      end
      return nil, string.format("qmp: %s: %s", c.path, tostring(err)), errno
    end
    local msg, jerr = json.decode(line)
    if msg == nil then
      return nil, string.format("qmp: malformed greeting from %s: not JSON (%s): '%s'", c.path, jerr, excerpt(line))
    end
    if type(msg) == "table" and msg.event ~= nil and msg.QMP == nil then
      c:_queue(msg)
    else
      local version, caps = parse_greeting(msg)
      if not version then
        return nil, string.format("qmp: malformed greeting from %s: %s: '%s'", c.path, caps, excerpt(line))
      end
      c.greeting_version, c.greeting_capabilities = version, caps
      return true
    end
  end
end

--- Connect to QEMU's QMP socket at `path`: read the greeting, negotiate
-- capabilities. opts: timeout (seconds, default DEFAULT_TIMEOUT; it covers
-- the whole connect and is the default timeout of later commands).
-- Returns the client, or nil, message[, errno].
function M.connect(path, opts)
  if type(path) ~= "string" then
    error(string.format("bad argument #1 to 'connect' (socket path expected, got %s)", type(path)), 2)
  end
  opts = check_opts(opts, check.TIMEOUT_ONLY, "connect")
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  local lim = limit_of(timeout)
  local sock, err, errno = core.socket.connect(path, timeout)
  if not sock then
    if err == "timeout" then
      return nil, string.format("qmp: connect %s: no answer within %s", path, fmt_seconds(timeout)), errno
    end
    return nil, "qmp: " .. tostring(err), errno
  end
  local c = setmetatable({
    path = path, sock = sock, state = "open", timeout = timeout,
    next_id = 1, pending = {}, queue = {}, seq = 0,
    skipped_lines = 0, dropped_events = 0,
  }, Client_mt)
  local ok, gerr, gerrno = read_greeting(c, lim)
  if not ok then
    c:close()
    return nil, gerr, gerrno
  end
  local res, cerr = c:_execute("qmp_capabilities", nil, lim)
  if res == nil then
    c:close()
    return nil, string.format("qmp: %s: qmp_capabilities failed: %s", path, cerr)
  end
  return c
end

return M
