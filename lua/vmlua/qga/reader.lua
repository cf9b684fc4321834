--- The QEMU guest agent's reply framer: bytes in, lines out.
--
-- qemu-ga ends every reply with "\n" and puts one 0xFF byte before the reply
-- to guest-sync-delimited; a 0xFF anywhere means "forget the partial line"
-- (the schema asks clients to reset their parser on it). The reader never
-- trusts the peer: a line longer
-- than `max` bytes is an error (the bytes are dropped, memory stays
-- bounded), and while it hunts for the 0xFF sentinel after a resync it
-- keeps nothing at all. It does no I/O, so a spec or a fuzz target can feed
-- it any bytes.
--
--     local r = reader.new(1024)
--     r:hunt()                      -- drop everything up to the next 0xFF
--     local ok, err = r:feed(bytes) -- false, "a reply line over 1024 bytes"
--     local line = r:next()         -- a complete line without "\n", or nil
local M = {}

local Reader = {}
Reader.__index = Reader

local SENTINEL = "\255"

--- A reader whose lines may be at most `max` bytes.
function M.new(max)
  if math.type(max) ~= "integer" or max < 1 then
    error("bad argument #1 to 'new' (max must be an integer >= 1)", 2)
  end
  return setmetatable({ max = max, parts = {}, size = 0, lines = {}, head = 1, hunting = false }, Reader)
end

--- Forget what is buffered and drop every byte up to and including the
-- next 0xFF (the agent's answer to guest-sync-delimited comes after one).
function Reader:hunt()
  self.parts, self.size, self.lines, self.head = {}, 0, {}, 1
  self.hunting = true
end

--- Is the reader still looking for the 0xFF sentinel?
function Reader:hunting_sentinel()
  return self.hunting
end

local function overflow(self)
  self.parts, self.size = {}, 0
  return false, string.format("a reply line over %d bytes", self.max)
end

local function push_line(self, last_piece)
  local parts = self.parts
  parts[#parts + 1] = last_piece
  local line = table.concat(parts)
  if line:sub(-1) == "\r" then line = line:sub(1, -2) end
  self.lines[#self.lines + 1] = line
  self.parts, self.size = {}, 0
end

--- Take in `chunk`. Returns true, or false and why (a line over the limit:
-- what was buffered of it is dropped, lines before it stay).
function Reader:feed(chunk)
  local pos, n = 1, #chunk
  if self.hunting then
    local at = chunk:find(SENTINEL, 1, true)
    if not at then return true end
    self.hunting = false
    pos = at + 1
  end
  while pos <= n do
    local nl = chunk:find("[\n\255]", pos)
    local stop = nl and nl - 1 or n
    local len = stop - pos + 1
    if nl and chunk:byte(nl) == 255 then
      -- a sentinel: whatever came before it on this line is stale
      self.parts, self.size = {}, 0
      pos = nl + 1
    elseif self.size + len > self.max then
      return overflow(self)
    elseif nl then
      push_line(self, chunk:sub(pos, stop))
      pos = nl + 1
    else
      if len > 0 then
        self.parts[#self.parts + 1] = pos == 1 and chunk or chunk:sub(pos)
        self.size = self.size + len
      end
      pos = n + 1
    end
  end
  return true
end

--- The next complete line, or nil.
function Reader:next()
  local line = self.lines[self.head]
  if line == nil then return nil end
  self.lines[self.head] = nil
  self.head = self.head + 1
  if self.lines[self.head] == nil then self.lines, self.head = {}, 1 end
  return line
end

--- Bytes of an unfinished line held now (for specs: memory stays bounded).
function Reader:pending()
  return self.size
end

return M
