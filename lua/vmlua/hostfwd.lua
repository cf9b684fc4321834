--- Port forwards from the host into a guest, written as QEMU's user-mode
-- network writes them (`hostfwd=`): "tcp:127.0.0.1:2222-:22",
-- "udp::5353-:53" — protocol (tcp when empty), host address (every address
-- when empty), host port, guest address (the guest's DHCP address when
-- empty), guest port.
local ipv4 = require "vmlua.ipv4"
local S = require "vmlua.schema"

local M = {}

local function port(s)
  local n = tonumber(s)
  if not n or n < 1 or n > 65535 or s:sub(1, 1) == "0" then return nil end
  return math.tointeger(n)
end

--- A rule to `{ rule =, proto =, host_addr =, host_port =, guest_addr =,
-- guest_port = }`, or nil and what is wrong.
function M.parse(rule)
  if type(rule) ~= "string" then return nil, "expected a string such as \"tcp:127.0.0.1:2222-:22\"" end
  local proto, haddr, hport, gaddr, gport = rule:match("^(%a*):([^:%-]*):(%d+)%-([^:%-]*):(%d+)$")
  if not proto then
    return nil, string.format("%q is not a forward: write [tcp|udp]:[host address]:host port-[guest address]:guest"
                              .. " port, as in \"tcp:127.0.0.1:2222-:22\"", rule)
  end
  if proto ~= "" and proto ~= "tcp" and proto ~= "udp" then
    return nil, string.format("%q: the protocol must be tcp or udp, got %q", rule, proto)
  end
  for _, a in ipairs { haddr, gaddr } do
    if a ~= "" and not ipv4.parse(a) then
      return nil, string.format("%q: %q is not an IPv4 address", rule, a)
    end
  end
  local hp, gp = port(hport), port(gport)
  if not hp or not gp then
    return nil, string.format("%q: ports must be 1-65535, got %s and %s", rule, hport, gport)
  end
  return { rule = rule, proto = proto ~= "" and proto or "tcp", host_addr = haddr, host_port = hp,
           guest_addr = gaddr, guest_port = gp }
end

--- The schema of one rule (for builders and recipes).
M.schema = S.custom(function(v, path)
  local ok, err = M.parse(v)
  if not ok then return S.fail(path, "%s", err) end
  return true
end)

--- How `vmlua ps` shows a forward: "127.0.0.1:2222->22/tcp".
function M.describe(f)
  local host = f.host_addr ~= "" and f.host_addr or "0.0.0.0"
  local guest = f.guest_addr ~= "" and (f.guest_addr .. ":") or ""
  return string.format("%s:%d->%s%d/%s", host, f.host_port, guest, f.guest_port, f.proto)
end

--- Two forwards on the same host port and protocol clash (an empty host
-- address is every address).
function M.clash(a, b)
  return a.proto == b.proto and a.host_port == b.host_port
         and (a.host_addr == b.host_addr or a.host_addr == "" or b.host_addr == "")
end

return M
