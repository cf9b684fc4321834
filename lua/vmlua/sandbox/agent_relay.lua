--- The guest agent's relay, for drivers whose agent channel must stay
-- connected (`driver.agent.relay`: QEMU). qemu-ga 7.2 sleeps 100 ms each
-- time it reads the end of a virtio-serial port that no host client holds,
-- so a client that connects just after another left waits up to 100 ms for
-- its first answer; and QEMU's chardev serves one client at a time, the
-- next waiting unseen in its backlog. So while a sandbox is supervised, its
-- supervisor holds the agent's socket open and serves `agent.sock` in the
-- sandbox dir: one client at a time, in the order they came, every byte
-- passed through as it is (each client syncs first, which clears whatever a
-- previous one left). The supervisor's own calls (hooks, the "agent" stop
-- step) borrow the held connection, ending the current client's turn.
-- When the supervisor is gone, clients talk to the agent's socket directly
-- (vmlua.sandbox.agent falls back to it).
local core = require "vmlua.core"

local M = {}

--- The relay's socket in the sandbox dir.
M.FILE = "agent.sock"
--- Seconds a write to a slow peer may take before the relay gives up on it.
M.SEND_TIMEOUT = 5

local Relay = {}
Relay.__index = Relay

--- Start relaying for runtime `rt` (after it is ready). Returns the relay,
-- or nil and why not (the driver needs none, the agent's socket cannot be
-- held): clients then go to the agent's socket themselves.
function M.open(rt)
  local ch = rt.plan.agent
  if not ch or not rt.driver.agent.relay then return nil, "no relay for this driver" end
  local path, perr = core.paths.socket(rt.dir, M.FILE)
  if not path then return nil, perr end
  local up, err = core.socket.connect(ch.socket, 2)
  if not up then return nil, err end
  local listener, lerr = core.socket.listen(path)
  if not listener then
    up:close()
    return nil, lerr
  end
  local r = setmetatable({ up = up, listener = listener, path = path, queue = {}, upstream = ch.socket }, Relay)
  rt.state.agent.relay = path
  rt:save(nil)
  return r
end

--- The conditions to watch (in a core.wait with the supervisor's own).
function Relay:conditions()
  local c = { { readable = self.listener }, { readable = self.up } }
  if self.client then c[3] = { readable = self.client } end
  return c
end

local function next_client(self)
  if self.client then self.client:close() end
  self.client = table.remove(self.queue, 1)
end

local function send(to, data)
  return to:send(data, M.SEND_TIMEOUT)
end

--- Handle condition `i` of conditions() that held. Returns true, or false
-- once the agent's socket is gone (the VM stopped): the relay is closed.
function Relay:handle(i)
  if i == 1 then
    local s = self.listener:accept(0)
    if s then
      if self.client then self.queue[#self.queue + 1] = s else self.client = s end
    end
  elseif i == 2 then
    local data = self.up:recv(65536, 0)
    if not data then
      self:close()
      return false
    end
    if self.client and not send(self.client, data) then next_client(self) end
  elseif i == 3 then
    local data = self.client:recv(65536, 0)
    if not data then
      next_client(self)
    elseif not send(self.up, data) then
      self:close()
      return false
    end
  end
  return true
end

--- The held connection for the supervisor's own use: a vmlua.qga client
-- over it (synced; closing it leaves the connection to the relay). The
-- current client's turn ends (it sees its connection close).
function Relay:borrow(opts)
  if not self.up then return nil, "the guest agent's relay is closed", "disconnected" end
  next_client(self)
  return require("vmlua.qga").over(self.up, {
    socket = self.upstream, timeout = opts.timeout, wait = opts.wait, hint = opts.hint, borrowed = true,
  })
end

--- Stop relaying: every client's connection closes, agent.sock goes.
function Relay:close()
  if self.client then self.client:close() end
  for _, s in ipairs(self.queue) do s:close() end
  self.client, self.queue = nil, {}
  if self.listener then self.listener:close() end
  if self.up then self.up:close() end
  self.listener, self.up = nil, nil
end

return M
