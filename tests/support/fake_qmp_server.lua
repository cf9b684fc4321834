--- A fake QMP server for tests/unit/qmp_spec.lua, run as a child:
--
--     lua5.4 tests/support/fake_qmp_server.lua SOCKET GREETING
--
-- It listens on SOCKET, prints "ready" on stdout, then serves one
-- connection after another. GREETING picks what a client sees first:
--   normal        the greeting QEMU 7.2 sends
--   events-first  two events, then the greeting
--   not-json      a line that is not JSON
--   no-qmp        a JSON object without "QMP"
--   bad-version   "major" is a string
--   no-caps       no "capabilities"
--   silent        nothing at all (the client must time out)
--   close         the connection is closed at once
--   caps-error    the greeting, then qmp_capabilities fails
--   stuck-incoming  query-status says "inmigrate" for ever, query-migrate
--                 "active", migrate-set-capabilities fails
--
-- Commands (after qmp_capabilities) do what their name says, so that one
-- server covers every case QEMU will not produce on demand:
--   echo {..}             returns its arguments
--   fail                  an error reply (GenericError "it failed")
--   fail-as {class}       an error reply of that class
--   noid                  a reply without "id"
--   garbage               three lines that are no replies, then the reply
--   big {size}            returns a string of `size` bytes (one line)
--   emit {events=[names], after=bool}  events before (or after) the reply
--   later {event, delay}  replies, then sends the event `delay` s later
--   slow {delay}          replies after `delay` seconds
--   hang                  never replies (keeps reading)
--   cut                   half a reply, then closes the connection
--   drop                  closes the connection without a reply
--   quit-close            (as "quit") closes without a reply
--   count-fds             returns { fds = number of fds received with it }
--   device_del {id}       DEVICE_DELETED (data.device = id) before the reply
--   query-status          an incoming migration that ends while it is asked:
--                         "inmigrate" twice, the second reply after the
--                         MIGRATION "completed" event, then "paused"
--                         (migrate-set-capabilities returns {})
--   system_powerdown      POWERDOWN before the reply
--   flood-events          events, never a reply, until the client leaves
--   flood-garbage         lines that are not JSON, never a reply
--   endless-line          one line that never ends
--   anything else         CommandNotFound
-- and GREETING flood-events sends events, and never a greeting.
local core = require "vmlua.core"
local json = core.json

local path, greeting = arg[1], arg[2] or "normal"

local GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, '
  .. '"package": "fake"}, "capabilities": ["oob"]}}'

local seconds = 1795454320
local function event(name, data)
  seconds = seconds + 1
  local e = { event = name, timestamp = { seconds = seconds, microseconds = 250000 } }
  if data then e.data = data end
  return json.encode(e)
end

local function reply(id, ret)
  local r = { ["return"] = ret }
  if id ~= nil then r.id = id end
  return json.encode(r)
end

local function error_reply(id, class, desc)
  return json.encode { id = id, error = { class = class, desc = desc } }
end

-- A deliberate delay in a fake (never in the code under test): a read
-- that nothing ever answers.
local idle = core.socket.pair()
local function pause(t)
  idle:recv(1, t)
end

--- Send chunk until the client leaves.
local function flood(s, chunk)
  while s:send(chunk) do end
end

local FLOODS = {
  ["flood-events"] = function()
    local lines = {}
    for i = 1, 500 do lines[i] = event("BLOCK_IO_ERROR", { device = "d" .. i, reason = "flood" }) end
    return table.concat(lines, "\r\n") .. "\r\n"
  end,
  ["flood-garbage"] = function() return string.rep("this is not JSON at all\r\n", 2500) end,
  ["endless-line"] = function() return string.rep('{"return": "', 5000) end,
}

--- Serve one connection; returns when the client leaves (or we close).
local function serve(s)
  local function send(line) return s:send(line .. "\n") end
  if greeting == "close" then return end
  if greeting == "flood-events" then return flood(s, FLOODS[greeting]()) end
  if greeting == "silent" then
    while s:recv(65536) do end
    return
  end
  if greeting == "events-first" then
    send(event("RESUME"))
    send(event("STOP"))
  end
  if greeting == "not-json" then send("Welcome to the fake monitor")
  elseif greeting == "no-qmp" then send('{"hello": 1}')
  elseif greeting == "bad-version" then
    send('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": "7"}}, "capabilities": []}}')
  elseif greeting == "no-caps" then
    send('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}}}')
  else send(GREETING) end

  local buf, nfds = "", 0
  local negotiated = false
  local queried = 0
  while true do
    local nl = buf:find("\n", 1, true)
    if not nl then
      local data, fds = s:recv_fds(1 << 20)
      if not data then return end
      for _, fd in ipairs(fds) do core.fs.close(fd) end
      nfds = nfds + #fds
      buf = buf .. data
    else
      local line = buf:sub(1, nl - 1)
      buf = buf:sub(nl + 1)
      local msg = json.decode(line)
      local id = type(msg) == "table" and msg.id or nil
      local cmd = type(msg) == "table" and msg.execute or nil
      local args = type(msg) == "table" and msg.arguments or {}
      local got_fds = nfds
      nfds = 0
      if cmd == "qmp_capabilities" then
        if greeting == "caps-error" then
          send(error_reply(id, "GenericError", "capabilities refused"))
        elseif negotiated then
          send(error_reply(id, "CommandNotFound", "Capabilities negotiation is already complete, command ignored"))
        else
          negotiated = true
          send(reply(id, json.object()))
        end
      elseif cmd == "echo" then send(reply(id, args))
      elseif cmd == "fail" then send(error_reply(id, "GenericError", "it failed"))
      elseif cmd == "fail-as" then send(error_reply(id, args.class, "it failed"))
      elseif cmd == "noid" then send(reply(nil, { noid = true }))
      elseif cmd == "garbage" then
        send("this is not JSON")
        send("[1, 2, 3]")
        send('{"unrelated": true}')
        send(reply(id, { after_garbage = true }))
      elseif cmd == "big" then
        send(reply(id, string.rep("x", args.size)))
      elseif cmd == "emit" then
        if args.after then send(reply(id, json.object())) end
        for _, name in ipairs(args.events) do send(event(name, { n = _ })) end
        if not args.after then send(reply(id, json.object())) end
      elseif cmd == "later" then
        send(reply(id, json.object()))
        pause(args.delay)
        send(event(args.event))
      elseif cmd == "slow" then
        pause(args.delay)
        send(reply(id, { slow = true }))
      elseif cmd == "hang" then -- luacheck: ignore 542
      elseif cmd == "cut" then
        s:send('{"return": {"a": 1')
        return
      elseif cmd == "drop" or cmd == "quit-close" then
        return
      elseif cmd == "quit" then
        send(reply(id, json.object()))
        return
      elseif FLOODS[cmd] then
        return flood(s, FLOODS[cmd]())
      elseif cmd == "count-fds" then
        send(reply(id, { fds = got_fds }))
      elseif cmd == "device_del" then
        send(event("DEVICE_DELETED", { device = args.id, path = "/machine/peripheral/" .. args.id }))
        send(reply(id, json.object()))
      elseif greeting == "stuck-incoming" and cmd == "query-status" then
        send(reply(id, { status = "inmigrate", running = false }))
      elseif greeting == "stuck-incoming" and cmd == "query-migrate" then
        send(reply(id, { status = "active" }))
      elseif greeting == "stuck-incoming" and cmd == "migrate-set-capabilities" then
        send(error_reply(id, "GenericError", "not now"))
      elseif cmd == "query-status" then
        queried = queried + 1
        local state = queried <= 2 and "inmigrate" or "paused"
        -- QEMU 7.2 runs query-status in a bottom half and sends its reply
        -- when the QMP dispatcher resumes: the migration's end can run in
        -- between, so its event comes before a reply that says "inmigrate"
        local out = reply(id, { status = state, running = false }) .. "\n"
        if queried == 2 then out = event("MIGRATION", { status = "completed" }) .. "\n" .. out end
        s:send(out)
      elseif cmd == "migrate-set-capabilities" then
        send(reply(id, json.object()))
      elseif cmd == "system_powerdown" then
        send(event("POWERDOWN"))
        send(reply(id, json.object()))
      else
        send(error_reply(id, "CommandNotFound", string.format("The command %s has not been found", tostring(cmd))))
      end
    end
  end
end

local listener = assert(core.socket.listen(path))
io.stdout:write("ready\n")
io.stdout:flush()
while true do
  local s = listener:accept()
  if s then
    serve(s)
    s:close()
  end
end
