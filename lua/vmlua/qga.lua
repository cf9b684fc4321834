--- vmlua.qga: a client of the QEMU guest agent (qemu-ga), over QEMU's
-- virtio-serial chardev socket or cloud-hypervisor's hybrid vsock.
--
--     local qga = require "vmlua.qga"
--     local c = assert(qga.connect { socket = "/run/vmlua/demo/qga.sock", timeout = 10 })
--     local r = assert(c:exec { "sh", "-c", "echo hi; exit 3" })  -- { status = 3, stdout = "hi\n", ... }
--     local data = assert(c:read_file("/etc/hostname"))
--     c:close()
--
-- The protocol is QMP's JSON without a greeting (qga/qapi-schema.json in
-- QEMU). A connection starts with guest-sync-delimited: vmlua sends a 0xFF
-- byte (which flushes whatever a previous client left half-sent in the
-- agent's parser), then the sync with a random id, and drops every byte up
-- to the 0xFF the agent puts before its answer, and any answer with another
-- id. After a call times out the client syncs again before its next call.
-- Every request carries an "id" that qemu-ga echoes, so a late reply to an
-- earlier call is recognised and dropped.
--
-- Transports: `socket` alone is a unix socket that speaks QGA at once
-- (QEMU's `-chardev socket,...,server=on,wait=off` behind a virtserialport;
-- QEMU holds what the host sends until the agent opens the port, so a sync
-- sent early is answered once the agent is up). `socket` with `port` is
-- cloud-hypervisor's hybrid vsock: write `CONNECT <port>\n`, read
-- `OK <hostport>\n`, then QGA; until the guest listens on the port
-- cloud-hypervisor closes the connection without `OK`, and connect retries
-- (with a growing delay) until the deadline.
--
-- Results: `nil, message, class` on failure, class being the agent's error
-- class ("GenericError", ...) for an error reply, or "timeout",
-- "disconnected" (the peer closed; the client is done), "protocol" (bytes
-- that are not QGA: the client is done), "interrupted" (the `wait` function
-- gave up: see connect). Misuse (a wrong argument type, a closed client)
-- raises. Nothing the peer sends makes the client hold more than
-- MAX_REPLY bytes or wait past the timeout.
local core = require "vmlua.core"
local deadline_mod = require "vmlua.deadline"
local reader = require "vmlua.qga.reader"

local json = core.json
local remaining = deadline_mod.remaining

local M = {}

--- Seconds a call (or a connect, with its sync) may take by default.
M.DEFAULT_TIMEOUT = 10
--- A reply that is still coming in earns its call one more second per
-- REPLY_RATE bytes of it (guest-exec-status with 2 x 16 MiB of output takes
-- seconds under TCG); a peer that sends slower, or whose lines end (a
-- flood), gets no more than the timeout, and no line exceeds MAX_REPLY.
M.REPLY_RATE = 1024 * 1024
--- The longest reply line accepted: guest-exec-status with stdout and
-- stderr each at qemu-ga's 16 MiB cap, base64-encoded, is about 45 MB.
M.MAX_REPLY = 48 * 1024 * 1024
--- The longest answer to CONNECT accepted ("OK 1073741825\n" is 14 bytes).
M.MAX_CONNECT_ANSWER = 64
--- Delays between hybrid vsock CONNECT attempts while the guest does not
-- listen yet: the first, the factor and the longest.
M.RETRY_FIRST, M.RETRY_FACTOR, M.RETRY_MAX = 0.01, 2, 0.25

local ARRAY_MT = getmetatable(json.array())

local Client = {}
local Client_mt = { __index = Client, __name = "vmlua.QGA" }
M.Client = Client

local function excerpt(s, max)
  max = max or 100
  if #s > max then s = s:sub(1, max) .. "..." end
  return (s:gsub("[%c\128-\255]", "?"))
end

local function check_open(self, name)
  if getmetatable(self) ~= Client_mt then
    error(string.format("bad self to '%s' (a vmlua.qga client expected)", name), 3)
  end
  if self.state == "closed" then error("attempt to use a closed guest agent client", 3) end
end

local function check_timeout(v, name)
  if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0) then
    error(string.format("bad argument to '%s' (timeout must be a number >= 0)", name), 3)
  end
end

-- The default wait: core.wait over `conds` until `deadline`. Returns the
-- index of the condition that held, false on the deadline, nil and a
-- reason otherwise. A `wait` given to connect has the same shape, and may
-- watch more (the hypervisor's exit, signals): its nil, reason ends the
-- call with class "interrupted".
local function default_wait(conds, deadline)
  local i, err = core.wait(conds, remaining(deadline))
  if i then return i end
  if err == "timeout" then return false end
  return nil, err
end

function Client:_where()
  if self.port then return string.format("%s (vsock port %d)", self.path, self.port) end
  return self.path
end

function Client:_fail(reason, class)
  if self.state == "open" then
    self.state = class
    self.reason = reason
  end
end

function Client:_gone()
  return string.format("qga: connection to %s lost: %s", self:_where(), self.reason or "closed")
end

--- More bytes into the reader, waiting until `deadline` (plus what the
-- part of a reply already in earns: REPLY_RATE). Returns true, or nil,
-- message, class.
function Client:_fill(deadline, what)
  if deadline then deadline = deadline + self.reader:pending() / M.REPLY_RATE end
  local i, why = self.wait({ { readable = self.sock } }, deadline)
  if i == nil then
    return nil, "qga: interrupted while waiting for " .. what .. ": " .. tostring(why), "interrupted", why
  end
  if i == false then return nil, "timeout", "timeout" end
  local data, err = self.sock:recv(65536, 0)
  if not data then
    if err == "timeout" then return true end
    self:_fail(err == "eof" and "the peer closed the connection" or tostring(err), "disconnected")
    return nil, self:_gone(), "disconnected"
  end
  local ok, ferr = self.reader:feed(data)
  if not ok then
    self:_fail(ferr, "protocol")
    self.sock:close()
    return nil, string.format("qga: %s: %s (the connection is dropped)", self:_where(), ferr), "protocol"
  end
  return true
end

--- The next reply (a decoded JSON object) until `deadline`, or nil,
-- message, class. Lines that are not JSON objects make the stream
-- untrustworthy: the client is done.
function Client:_reply(deadline, what)
  while true do
    local line = self.reader:next()
    if line then
      local msg, jerr = json.decode(line)
      if type(msg) ~= "table" or getmetatable(msg) == ARRAY_MT then
        self:_fail("malformed reply", "protocol")
        self.sock:close()
        return nil, string.format("qga: malformed reply from %s to %s: %s: '%s'", self:_where(), what,
                                  jerr or "not a JSON object", excerpt(line)), "protocol"
      end
      return msg
    end
    local ok, err, class, why = self:_fill(deadline, what)
    if not ok then return nil, err, class, why end
  end
end

local function send(self, data, deadline, what)
  local ok, err = self.sock:send(data, remaining(deadline))
  if not ok then
    -- part of a request may have gone: the stream cannot be trusted
    self:_fail("send: " .. tostring(err), "disconnected")
    return nil, string.format("qga: cannot send %s to %s: %s", what, self:_where(), tostring(err)), "disconnected"
  end
  return true
end

local function timeout_message(self, what, seconds)
  return string.format("qga: no answer to %s from %s within %g s%s", what, self:_where(), seconds, self.hint or "")
end

--- guest-sync-delimited: bring the stream into a known state. Returns
-- true, or nil, message, class.
function Client:_sync(deadline, seconds)
  local id = math.random(1, 1 << 52)
  self.reader:hunt()
  local req = "\255" .. json.encode({ execute = "guest-sync-delimited", arguments = { id = id } }) .. "\n"
  local ok, err, class = send(self, req, deadline, "guest-sync-delimited")
  if not ok then return nil, err, class end
  while true do
    local msg, rerr, rclass, why = self:_reply(deadline, "guest-sync-delimited")
    if not msg then
      if rclass == "timeout" then return nil, timeout_message(self, "guest-sync-delimited", seconds), "timeout" end
      return nil, rerr, rclass, why
    end
    if msg["return"] == id then
      self.need_sync = false
      return true
    end
    -- an answer to an earlier sync or call: keep waiting for ours
  end
end

local error_text = require("vmlua.qapi").error

local function usable(self)
  if self.state ~= "open" then
    return nil, self.state == "protocol" and string.format("qga: %s: %s", self:_where(), self.reason)
                or self:_gone(), self.state
  end
  return true
end

--- Send one command and wait for its reply. `opts`: timeout (seconds,
-- default the client's), no_reply (commands that answer nothing on
-- success, such as guest-shutdown: return true once sent). Returns the
-- command's "return" value, or nil, message, class.
function Client:call(cmd, args, opts)
  check_open(self, "call")
  if type(cmd) ~= "string" then error("bad argument #1 to 'call' (command name expected)", 2) end
  if args ~= nil and type(args) ~= "table" then error("bad argument #2 to 'call' (table expected)", 2) end
  opts = opts or {}
  check_timeout(opts.timeout, "call")
  local seconds = opts.timeout or self.timeout
  local deadline = deadline_mod.after(seconds)
  local ok, err, class = usable(self)
  if not ok then return nil, err, class end
  local why
  if self.need_sync then
    ok, err, class, why = self:_sync(deadline, seconds)
    if not ok then return nil, err, class, why end
  end
  local id = self.next_id
  self.next_id = id + 1
  local req = { execute = cmd, id = id }
  if args ~= nil then req.arguments = args end
  ok, err, class = send(self, json.encode(req) .. "\n", deadline, cmd)
  if not ok then return nil, err, class end
  if opts.no_reply then
    self.need_sync = true -- an error reply may still come
    return true
  end
  while true do
    local msg, rerr, rclass
    msg, rerr, rclass, why = self:_reply(deadline, cmd)
    if not msg then
      if rclass == "timeout" then
        self.need_sync = true
        return nil, timeout_message(self, cmd, seconds), "timeout"
      end
      return nil, rerr, rclass, why
    end
    if msg.id == id then
      if msg.error ~= nil then
        local text, eclass = error_text(msg.error)
        return nil, string.format("qga: %s: %s", cmd, text), eclass
      end
      if msg["return"] == nil then
        return nil, string.format("qga: %s: a reply with neither return nor error", cmd), "protocol"
      end
      return msg["return"]
    end
    -- a reply to an earlier call that timed out, or an id-less error: drop it
  end
end

--- guest-sync-delimited now (connect does one): true, or nil, message, class.
function Client:sync(timeout)
  check_open(self, "sync")
  check_timeout(timeout, "sync")
  local ok, err, class = usable(self)
  if not ok then return nil, err, class end
  local seconds = timeout or self.timeout
  return self:_sync(deadline_mod.after(seconds), seconds)
end

--- guest-ping: true, or nil, message, class.
function Client:ping(timeout)
  local r, err, class = self:call("guest-ping", nil, { timeout = timeout })
  if r == nil then return nil, err, class end
  return true
end

--- guest-info: `{ version =, supported_commands = { { name =, enabled =, ... } } }`.
function Client:info(timeout)
  return self:call("guest-info", nil, { timeout = timeout })
end

--- guest-shutdown (mode "powerdown" (default), "halt" or "reboot"). The agent
-- answers nothing when it starts the shutdown: true once sent.
function Client:shutdown(mode, timeout)
  if mode ~= nil and mode ~= "powerdown" and mode ~= "halt" and mode ~= "reboot" then
    error("bad argument #1 to 'shutdown' (mode must be powerdown, halt or reboot)", 2)
  end
  return self:call("guest-shutdown", mode and { mode = mode } or nil, { timeout = timeout, no_reply = true })
end

--- The core Socket (for core.wait { { readable = c:socket() } }).
function Client:socket()
  check_open(self, "socket")
  return self.sock
end

function Client:close()
  if self.state ~= "closed" then
    self.state = "closed"
    if not self.borrowed then self.sock:close() end
  end
  return true
end

Client_mt.__close = function(self) self:close() end
Client_mt.__gc = Client_mt.__close
Client_mt.__tostring = function(self)
  return string.format("vmlua.QGA (%s, %s)", self:_where(), self.state)
end

local exec, files = require "vmlua.qga.exec", require "vmlua.qga.files"
for _, mod in ipairs { exec, files } do
  for name, fn in pairs(mod) do
    if type(fn) == "function" then Client[name] = fn end
  end
end
M.OUTPUT_CAP, M.INPUT_MAX, M.CHUNK = exec.OUTPUT_CAP, exec.INPUT_MAX, files.CHUNK

-- ------------------------------------------------------------ connecting

local function new_client(sock, opts, seconds)
  return setmetatable({
    sock = sock, path = opts.socket, port = opts.port, timeout = seconds, state = "open",
    reader = reader.new(M.MAX_REPLY), next_id = 1, need_sync = true,
    wait = opts.wait or default_wait, hint = opts.hint and ("\nhint: " .. opts.hint) or nil,
  }, Client_mt)
end

-- Sleep until `until_t` (or the deadline), still noticing whatever the
-- wait function watches: a wait on a socket pair nobody writes to.
local function pause(wait, until_t, deadline)
  if deadline and deadline < until_t then until_t = deadline end
  local a, b = core.socket.pair()
  local i, why = wait({ { readable = a } }, until_t)
  a:close()
  b:close()
  if i == nil then return nil, "qga: interrupted: " .. tostring(why), "interrupted", why end
  return true
end

local RETRY_CONNECT = { [core.errno.ENOENT] = true, [core.errno.ECONNREFUSED] = true }

-- A connected socket at `path`, waiting (until the deadline) for a socket
-- that is not there yet or refuses.
local function connect_socket(path, deadline, wait)
  while true do
    local sock, err, errno = core.socket.connect(path, remaining(deadline))
    if sock then return sock end
    if not RETRY_CONNECT[errno] then return nil, "qga: " .. tostring(err), "disconnected" end
    local i, why = wait({ { socket = path } }, deadline)
    if i == false then return nil, string.format("qga: %s (waited for it to accept)", err), "timeout" end
    if i == nil then return nil, "qga: interrupted: " .. tostring(why), "interrupted", why end
  end
end

-- The hybrid vsock handshake on a fresh connection: the host port, or nil
-- and "closed" (the guest does not listen yet: try again), or nil,
-- message, class.
local function vsock_handshake(c, port, deadline)
  local ok, err, class
  if not send(c, string.format("CONNECT %d\n", port), deadline, "CONNECT") then return nil, "closed" end
  local r = reader.new(M.MAX_CONNECT_ANSWER)
  c.reader = r
  while true do
    local line = r:next()
    if line then
      local hostport = line:match("^OK (%d+)$")
      if not hostport then
        return nil, string.format("qga: %s answered CONNECT %d with '%s', not OK <port>", c.path, port,
                                  excerpt(line)), "protocol"
      end
      -- bytes after OK (none from a real peer: the agent speaks when spoken to)
      local rest = {}
      while true do local l = r:next(); if not l then break end; rest[#rest + 1] = l .. "\n" end
      c.reader = reader.new(M.MAX_REPLY)
      c.reader:feed(table.concat(rest) .. table.concat(r.parts))
      return tonumber(hostport)
    end
    ok, err, class = c:_fill(deadline, "the answer to CONNECT")
    if not ok then
      if class == "disconnected" then return nil, "closed" end
      if class == "timeout" then return nil, "unanswered" end
      if class == "protocol" then
        return nil, string.format("qga: %s answered CONNECT %d with no line of at most %d bytes", c.path, port,
                                  M.MAX_CONNECT_ANSWER), "protocol"
      end
      return nil, err, class
    end
  end
end

-- Connect through cloud-hypervisor's hybrid vsock, retrying while the
-- guest does not listen on `port`.
local function connect_vsock(opts, seconds, deadline, wait)
  local delay, attempts = M.RETRY_FIRST, 0
  while true do
    local sock, err, class, why = connect_socket(opts.socket, deadline, wait)
    if not sock then return nil, err, class, why end
    attempts = attempts + 1
    local c = new_client(sock, opts, seconds)
    local hostport, herr, hclass, hwhy = vsock_handshake(c, opts.port, deadline)
    if hostport then
      c.hostport = hostport
      return c
    end
    c:close()
    if herr ~= "closed" and herr ~= "unanswered" then return nil, herr, hclass, hwhy end
    if herr == "unanswered" or deadline_mod.expired(deadline) then
      -- the first CONNECT neither answered nor refused: the VMM is stuck;
      -- else the guest never listened (a last attempt cut by the deadline)
      return nil, string.format("qga: %s vsock port %d behind %s (%d attempts in %g s)%s",
                                (herr == "unanswered" and attempts == 1) and "no answer to CONNECT for"
                                or "nothing listens on",
                                opts.port, opts.socket, attempts, seconds,
                                opts.hint and ("\nhint: " .. opts.hint) or ""), "timeout"
    end
    local ok, perr, pclass, pwhy = pause(wait, core.monotonic() + delay, deadline)
    if not ok then return nil, perr, pclass, pwhy end
    delay = math.min(delay * M.RETRY_FACTOR, M.RETRY_MAX)
  end
end

local CONNECT_OPTS = { socket = true, port = true, timeout = true, wait = true, hint = true }

local function check_connect_opts(opts, fname, known)
  if type(opts) ~= "table" then error(string.format("bad argument #1 to '%s' (table expected)", fname), 3) end
  for k in pairs(opts) do
    if not known[k] then error(string.format("bad argument #1 to '%s' (unknown option '%s')", fname, k), 3) end
  end
  if type(opts.socket) ~= "string" then error(string.format("bad argument #1 to '%s' (socket: a path expected)",
                                                            fname), 3) end
  check_timeout(opts.timeout, fname)
  if opts.wait ~= nil and type(opts.wait) ~= "function" then
    error(string.format("bad argument #1 to '%s' (wait: a function expected)", fname), 3)
  end
end

--- Connect to the agent and sync. opts:
--   socket   the unix socket (required)
--   port     the guest's vsock port: talk through cloud-hypervisor's hybrid
--            vsock socket (CONNECT/OK); absent: the socket speaks QGA itself
--   timeout  seconds for the connect and its sync, and the default of every
--            later call (DEFAULT_TIMEOUT)
--   wait     function(conditions, deadline) -> index | false (deadline) |
--            nil, reason: how the client waits (default: core.wait). A
--            supervisor passes one that also watches its processes and
--            signals; its nil, reason ends the call ("interrupted", reason
--            as the fourth result)
--   hint     a line added to timeout messages ("is qemu-ga in the guest?")
-- Returns the client, or nil, message, class.
function M.connect(opts)
  check_connect_opts(opts, "connect", CONNECT_OPTS)
  if opts.port ~= nil and (math.type(opts.port) ~= "integer" or opts.port < 0 or opts.port > 0xffffffff) then
    error("bad argument #1 to 'connect' (port: an integer 0..4294967295 expected)", 2)
  end
  local seconds = opts.timeout or M.DEFAULT_TIMEOUT
  local deadline = deadline_mod.after(seconds)
  local wait = opts.wait or default_wait
  local c, err, class, why
  if opts.port then
    c, err, class, why = connect_vsock(opts, seconds, deadline, wait)
  else
    local sock
    sock, err, class, why = connect_socket(opts.socket, deadline, wait)
    c = sock and new_client(sock, opts, seconds)
  end
  if not c then return nil, err, class, why end
  local ok, serr, sclass, swhy = c:_sync(deadline, seconds)
  if not ok then
    c:close()
    return nil, serr, sclass, swhy
  end
  return c
end

local OVER_OPTS = { socket = true, timeout = true, wait = true, hint = true, borrowed = true }

--- A client on `sock`, a core Socket already connected to something that
-- speaks QGA (a relay, or a connection held open), synced. opts: socket
-- (the path, for messages), timeout, wait, hint as for connect; borrowed
-- (true: close() leaves the socket open; else the client owns it). Returns
-- the client, or nil, message, class (the socket is then closed unless
-- borrowed).
function M.over(sock, opts)
  if type(sock) ~= "userdata" then error("bad argument #1 to 'over' (a socket expected)", 2) end
  check_connect_opts(opts, "over", OVER_OPTS)
  local seconds = opts.timeout or M.DEFAULT_TIMEOUT
  local c = new_client(sock, opts, seconds)
  c.borrowed = opts.borrowed and true or false
  local ok, err, class, why = c:_sync(deadline_mod.after(seconds), seconds)
  if not ok then
    c:close()
    return nil, err, class, why
  end
  return c
end

return M
