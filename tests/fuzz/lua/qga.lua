--- Fuzz target: vmlua.qga reading what a QEMU guest agent (or
-- cloud-hypervisor's hybrid vsock in front of one) sends. Two parts on
-- every input:
--   * the reply framer (vmlua.qga.reader) fed the input in pieces whose
--     sizes come from its first bytes: no line over the limit, and only the
--     0xFF resync and "\n" are ever dropped;
--   * the client: connect (guest-sync-delimited), guest-exec of a command
--     with its status polled until it exits, a guest file read in chunks,
--     guest-info, over one stream of the agent's bytes. The sync id is made
--     deterministic (math.randomseed), so seeds can answer it.
-- fuzz-options: -max_len=4096
local qga = require "vmlua.qga"
local reader = require "vmlua.qga.reader"
local peer = require "support.peer"

--- The seed the client's sync id comes from (tests/fuzz/corpus/qga/ answer
-- the id it gives: 3062881144364558).
local SEED = 20261207
local MAX = 512

local CLASSES = { timeout = true, disconnected = true, protocol = true, notfound = true, noexec = true,
                  interrupted = true, truncated = true, GenericError = true }

local function check_failure(res, err, class)
  assert(res == nil and type(err) == "string", "a failure is nil and a message")
  assert(class == nil or type(class) == "string", "a class is a string")
  assert(class == nil or CLASSES[class] or class:match("^%u%w*$"), "a known class: " .. tostring(class))
end

local function frame(data)
  local r = reader.new(MAX)
  r:hunt()
  local pos, step = 1, 1
  while pos <= #data do
    step = (data:byte(step) or 7) % 97 + 1
    local ok, err = r:feed(data:sub(pos, pos + step - 1))
    if not ok then assert(err:find("over " .. MAX, 1, true)); r:hunt() end
    pos = pos + step
  end
  local line = r:next()
  while line do
    assert(#line <= MAX, "a line within the limit")
    assert(not line:find("[\n\255]"), "no framing byte in a line")
    line = r:next()
  end
end

local function client(data)
  local server = peer.serve(data)
  math.randomseed(SEED)
  local c, err, class = qga.connect { socket = "@fuzz", timeout = 1 }
  if not c then
    check_failure(c, err, class)
    server:close()
    return
  end
  local res, eerr, eclass = c:exec { "cat", input = "x", timeout = 1 }
  if res then
    assert(math.type(res.status) == "integer" or math.type(res.signal) == "integer", "an exit status or a signal")
    assert(type(res.stdout) == "string" and type(res.stderr) == "string")
  else
    check_failure(res, eerr, eclass)
  end
  local text, rerr, rclass = c:read_file("/etc/hostname")
  if text then assert(type(text) == "string") else check_failure(text, rerr, rclass) end
  local info, ierr, iclass = c:info(1)
  if info == nil then check_failure(info, ierr, iclass) end
  c:close()
  server:close()
end

return function(data)
  frame(data)
  client(data)
end
