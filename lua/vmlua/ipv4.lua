--- IPv4 addresses as integers: parsing dotted quads and "a.b.c.d/n",
-- masks, and subnet arithmetic for sandbox networks.
local M = {}

--- "10.0.0.1" to an integer, or nil.
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local a, b, c, d = s:match("^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  if not a then return nil end
  local n = 0
  for _, part in ipairs { a, b, c, d } do
    local v = tonumber(part)
    -- "010" is octal to inet_aton: refuse leading zeros rather than guess
    if v > 255 or (#part > 1 and part:sub(1, 1) == "0") then return nil end
    n = (n << 8) | v
  end
  return n
end

--- An integer back to "a.b.c.d".
function M.format(n)
  return string.format("%d.%d.%d.%d", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
end

--- "10.0.0.1/24" to the address (integer) and the prefix length, or nil.
function M.parse_cidr(s)
  if type(s) ~= "string" then return nil end
  local addr, prefix = s:match("^([%d.]+)/(%d%d?)$")
  local n = M.parse(addr)
  prefix = tonumber(prefix)
  if not n or not prefix or prefix > 32 then return nil end
  return n, prefix
end

--- The mask of a prefix length, as an integer.
function M.mask(prefix)
  if prefix == 0 then return 0 end
  return (0xffffffff << (32 - prefix)) & 0xffffffff
end

--- Do the subnets a/pa and b/pb overlap?
function M.overlaps(a, pa, b, pb)
  local m = M.mask(math.min(pa, pb))
  return (a & m) == (b & m)
end

return M
