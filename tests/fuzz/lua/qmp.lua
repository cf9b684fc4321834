--- Fuzz target: vmlua.qmp reading what a QMP server sends (the greeting,
-- replies, events, garbage), through the core Socket's line reader. The
-- input is the whole byte stream from the server; the client connects,
-- runs a command, takes the events and waits for one.
-- QMP messages are short but for a few replies:
-- fuzz-options: -max_len=4096
local qmp = require "vmlua.qmp"
local peer = require "support.peer"

local CLASSES = { timeout = true, disconnected = true }

local function check_failure(res, err, class)
  assert(res == nil and type(err) == "string" and type(class) == "string", "a failure is nil, message, class")
  assert(CLASSES[class] or class:match("^%u%w*$"), "a QEMU-like class or the transport's: " .. class)
end

local function check_event(ev)
  assert(type(ev) == "table" and ev.event ~= nil, "an event is a table with an event member")
  assert(ev.time == nil or math.type(ev.time) == "float", "time is a float")
end

return function(data)
  local server = peer.serve(data)
  local c, err = qmp.connect("@fuzz", { timeout = 5 })
  if not c then
    assert(type(err) == "string", "connect fails with a message")
    server:close()
    return
  end
  local v = c:version()
  assert(math.type(v.major) == "integer" and type(v.package) == "string")
  for _, cap in ipairs(c:capabilities()) do assert(type(cap) == "string") end
  local res, eerr, class = c:execute("query-status", nil, { timeout = 5 })
  if res == nil then check_failure(res, eerr, class) end
  for _, ev in ipairs(c:events()) do check_event(ev) end
  local ev, werr, wclass = c:wait_event(nil, 0)
  if ev then check_event(ev) else check_failure(ev, werr, wclass) end
  assert(c.skipped_lines >= 0 and c.dropped_events >= 0)
  c:close()
  server:close()
end
