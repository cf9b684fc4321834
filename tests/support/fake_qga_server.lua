--- A fake QEMU guest agent for tests/unit/qga_spec.lua, run as a child:
--
--     lua5.4 tests/support/fake_qga_server.lua SOCKET MODE
--
-- It listens on SOCKET, prints "ready" on stdout, then serves one
-- connection after another. The agent part behaves as qemu-ga 7.2 does on
-- the wire (a 0xFF byte gets the "stray" parse error, guest-sync-delimited's
-- answer starts with 0xFF, replies echo the request's id); what it runs is
-- scripted:
--   guest-exec path "true"/"echo"/"sh": exits with arg[1] as status
--     ("sh": arg[2] is the exit status; stdout "out:" .. input, stderr
--     "err"), after two polls that say it runs; "missing" / "noexec": the
--     GLib errors of a program not found / not executable; "cut": stdout
--     over the cap; "signal": killed by 9; "sleep": never exits (until
--     "kill" runs); "stale": status 0, with a reply to an earlier request
--     and an id-less error before each reply
--   guest-file-*: an in-memory file system ("/nope" does not exist)
-- MODE:
--   normal      as above
--   vsock       the hybrid vsock first: "CONNECT N\n" -> "OK 1073741824\n"
--   vsock-late  closes the first 3 connections without OK, then as vsock
--   vsock-closed  closes every connection without OK (nothing listens)
--   vsock-bad   answers CONNECT with "NOPE"
--   vsock-long  answers CONNECT with 100 bytes and no newline
--   silent      never answers anything
--   garbage     answers everything with bytes that hold no 0xFF, forever
--   huge        after the 0xFF, one line that never ends
--   wrongid     answers every sync with another id, forever
--   flood       after the sync, id-less error replies, forever
--   notjson     after the sync, answers calls with a line that is not JSON
--   cut         after the sync, half a reply, then closes
--   die         after the sync, closes when guest-exec-status comes
local core = require "vmlua.core"
local json = core.json

local path, mode = arg[1], arg[2] or "normal"
local listener = assert(core.socket.listen(path))
io.stdout:write("ready\n")
io.stdout:flush()

local CAP = 16 * 1024 * 1024
local files = { ["/etc/hostname"] = "fakeguest\n" }
local handles, next_handle = {}, 1000
local procs, polls = {}, {}
local connections = 0

local function reply(sock, id, ret, delimit)
  local r = { ["return"] = ret }
  if id ~= nil then r.id = id end
  return sock:send((delimit and "\255" or "") .. json.encode(r) .. "\n")
end

local function error_reply(sock, id, class, desc)
  local r = { error = { class = class, desc = desc } }
  if id ~= nil then r.id = id end
  return sock:send(json.encode(r) .. "\n")
end

local function forever(fn)
  while true do
    if not fn() then return end
  end
end

local exec = {}

function exec.start(args)
  local p = args.path
  if p == "forged-class" then return nil, "forged", "timeout" end -- an agent claiming vmlua's own class
  if p == "missing" or p == "noexec" then
    return nil, string.format("Guest agent command failed, error was 'Failed to execute child process \u{201C}%s"
                              .. "\u{201D} (%s)'", p, p == "missing" and "No such file or directory"
                              or "Permission denied")
  end
  local pid = 4000 + #procs + 1
  local a = args.arg or {}
  procs[pid] = { path = p, arg = a, input = args["input-data"] and core.base64.decode(args["input-data"]) or "" }
  polls[pid] = 0
  if p == "kill" then procs[tonumber(a[2])].killed = true end
  return { pid = pid }
end

function exec.status(pid)
  local p = procs[pid]
  if not p then return nil, "Invalid parameter 'pid'" end
  polls[pid] = polls[pid] + 1
  if p.path == "sleep" and not p.killed then return { exited = false } end
  if polls[pid] < 3 and p.path ~= "kill" and not p.killed then return { exited = false } end
  procs[pid] = nil
  local st = { exited = true, ["out-truncated"] = false, ["err-truncated"] = false }
  if p.path == "nostatus" then -- exited, but neither an exit code nor a signal
    return st
  elseif p.killed or p.path == "signal" then
    st.signal = 9
  elseif p.path == "cut" then
    st.exitcode = 0
    st["out-data"] = core.base64.encode(string.rep("x", 1000))
    st["out-truncated"] = CAP > 0
  elseif p.path == "sh" then
    st.exitcode = tonumber(p.arg[2]) or 0
    st["out-data"] = core.base64.encode("out:" .. p.input)
    st["err-data"] = core.base64.encode("err")
  else
    st.exitcode = tonumber(p.arg[1]) or 0
  end
  return st
end

local function file_cmd(cmd, a)
  if cmd == "guest-file-open" then
    local fmode = a.mode or "r"
    if fmode == "r" and files[a.path] == nil then
      return nil, string.format("failed to open file '%s' (mode: '%s'): No such file or directory", a.path, fmode)
    end
    if fmode == "w" then files[a.path] = "" end
    next_handle = next_handle + 1
    handles[next_handle] = { path = a.path, pos = 1 }
    return next_handle
  end
  local h = handles[a.handle]
  if not h then return nil, string.format("handle '%s' has not been found", tostring(a.handle)) end
  if cmd == "guest-file-read" then
    local data = files[h.path]:sub(h.pos, h.pos + (a.count or 4096) - 1)
    h.pos = h.pos + #data
    return { count = #data, ["buf-b64"] = core.base64.encode(data), eof = h.pos > #files[h.path] }
  elseif cmd == "guest-file-write" then
    local data = core.base64.decode(a["buf-b64"])
    files[h.path] = files[h.path] .. data
    return { count = #data, eof = false }
  elseif cmd == "guest-file-close" then
    handles[a.handle] = nil
    return json.object()
  end
end

-- Answer one request; false ends the connection.
local function answer(sock, req, synced)
  local id, cmd, a = req.id, req.execute, req.arguments or {}
  if cmd == "guest-sync-delimited" then
    if mode == "wrongid" then
      return forever(function() return reply(sock, nil, a.id + 1, true) end)
    end
    return reply(sock, id, a.id, true)
  end
  if not synced then return true end
  if mode == "flood" then
    return forever(function() return error_reply(sock, nil, "GenericError", "JSON parse error, stray") end)
  elseif mode == "notjson" then
    return sock:send("this is not json\n")
  elseif mode == "cut" then
    sock:send('{"return": {"pid": 4')
    return false
  elseif mode == "die" and cmd == "guest-exec-status" then
    return false
  end
  if cmd == "guest-ping" then return reply(sock, id, json.object()) end
  if cmd == "guest-info" then return reply(sock, id, { version = "7.2.22", supported_commands = json.array() }) end
  if cmd == "guest-shutdown" then return true end
  local res, err, class
  if cmd == "guest-exec" then
    res, err, class = exec.start(a)
  elseif cmd == "guest-exec-status" then
    local p = procs[a.pid]
    if p and p.path == "stale" then
      reply(sock, id - 1, json.object())
      error_reply(sock, nil, "GenericError", "JSON parse error, stray")
    end
    res, err = exec.status(a.pid)
  elseif cmd:match("^guest%-file%-") then
    res, err = file_cmd(cmd, a)
  else
    return error_reply(sock, id, "CommandNotFound", "The command " .. tostring(cmd) .. " has not been found")
  end
  if res == nil then return error_reply(sock, id, class or "GenericError", err) end
  return reply(sock, id, res)
end

-- The hybrid vsock handshake; false when the connection is to be closed.
local function vsock_handshake(sock)
  local line = sock:read_line(10)
  if not line or not line:match("^CONNECT %d+$") then return false end
  if mode == "vsock-late" and connections <= 3 then return false end
  if mode == "vsock-closed" then return false end
  if mode == "vsock-bad" then sock:send("NOPE\n"); return true end
  if mode == "vsock-long" then sock:send(string.rep("O", 100)); return true end
  return sock:send("OK 1073741824\n")
end

local function serve(sock)
  if mode:match("^vsock") and not vsock_handshake(sock) then return end
  local buf, synced = "", false
  while true do
    local data = sock:recv(65536, 30)
    if not data then return end
    if mode == "silent" or mode == "vsock-bad" or mode == "vsock-long" then goto continue end
    if mode == "garbage" then
      forever(function() return sock:send(string.rep("garbage{\"x\":1}\n", 1000)) end)
      return
    end
    if mode == "huge" and data:find("\255", 1, true) then
      sock:send("\255{\"return\": \"")
      forever(function() return sock:send(string.rep("y", 65536)) end)
      return
    end
    buf = buf .. data
    while true do
      local ff = buf:find("\255", 1, true)
      if ff then
        -- the parser resets: what came before is dropped with an error
        buf = buf:sub(ff + 1)
        error_reply(sock, nil, "GenericError", "JSON parse error, stray '\\uFFFD'")
      end
      local nl = buf:find("\n", 1, true)
      if not nl then break end
      local line = buf:sub(1, nl - 1)
      buf = buf:sub(nl + 1)
      local req = json.decode(line)
      if type(req) == "table" then
        if not answer(sock, req, synced) then return end
        if req.execute == "guest-sync-delimited" then synced = true end
      end
    end
    ::continue::
  end
end

while true do
  local sock = listener:accept()
  if sock then
    connections = connections + 1
    serve(sock)
    sock:close()
  end
end
