--- QEMU option strings (`driver,key=value,...`) and size arithmetic.
--
-- Values that QEMU parses with QemuOpts or keyval (`-device`, `-drive`,
-- `-chardev`, `-object`, ...) get their commas doubled, which is QEMU's
-- escape for a literal comma: a path such as `/srv/a,b.img` stays one value
-- instead of splitting the option (govmm wrote values verbatim). Raw option
-- strings that the user writes in QEMU's own syntax (`machine.options`) go
-- in unescaped through `:raw`.

local O = {}
O.__index = O

--- A new option string starting with `head` (the driver or backend name);
-- `head` may be nil for strings that start with a key (`id=...`).
function O.new(head)
  return setmetatable({ parts = head and { head } or {} }, O)
end

local function escape(v)
  return (v:gsub(",", ",,"))
end
O.escape = escape

local function text(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if math.type(v) == "float" then return string.format("%d", math.tointeger(v) or v) end
  if v == true then return "on" end
  if v == false then return "off" end
  return escape(tostring(v))
end

--- Append `key=value` (strings escaped, integers in decimal, booleans on/off).
function O:add(key, value)
  self.parts[#self.parts + 1] = key .. "=" .. text(value)
  return self
end

--- Append `key=value` only when value is not nil.
function O:opt(key, value)
  if value ~= nil then self:add(key, value) end
  return self
end

--- Append a literal piece (already in QEMU syntax).
function O:raw(piece)
  self.parts[#self.parts + 1] = piece
  return self
end

function O:str()
  return table.concat(self.parts, ",")
end

-- ------------------------------------------------------------------ sizes

local units = { [""] = 1, K = 1 << 10, M = 1 << 20, G = 1 << 30, T = 1 << 40 }
local MiB, GiB = 1 << 20, 1 << 30

--- The number of bytes in a size: an integer is bytes; a string is QEMU's
-- `<n>[KMGT]`, and a string without a suffix counts `bare` bytes per unit
-- (1 for `-object ...,size=`, 1 MiB for `-m`).
function O.bytes(v, bare)
  if math.type(v) == "integer" then return v end
  local n, unit = tostring(v):match("^(%d+)([KMGTkmgt]?)$")
  if not n then return nil end
  local mult = unit == "" and (bare or 1) or units[unit:upper()]
  return math.tointeger(n) * mult
end

--- A size as `-m` wants it: strings verbatim; an integer number of bytes
-- with the largest exact suffix (QEMU reads a bare `-m` number as MiB).
function O.mem_size(v)
  if math.type(v) ~= "integer" then return v end
  if v % GiB == 0 then return string.format("%dG", v // GiB) end
  return string.format("%dM", v // MiB)
end

--- memory.size as an object size (for a guest-RAM backend): a bare "256"
-- means MiB to -m but bytes to -object, so it gets its "M".
function O.ram_size(v)
  if type(v) == "string" and v:match("^%d+$") then return v .. "M" end
  return O.mem_size(v)
end

--- A size as `-object ...,size=` wants it (a bare number is bytes).
function O.obj_size(v)
  return text(v)
end

O.MiB = MiB

--- "ff" for 255: govmm writes PCI slot numbers of net and bridge devices in hex.
function O.hex(v)
  return string.format("%x", math.tointeger(tonumber(v)))
end

-- ---------------------------------------------------------- JSON, base64

local json_escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                       ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

--- A JSON string literal.
function O.json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return json_escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

--- A JSON object from an ordered list of {key, value} pairs; values are
-- strings, booleans, integers or nested pair lists. (QEMU's JSON `-object`
-- form; key order is kept so that the output is stable.)
function O.json_object(pairs_list)
  local out = {}
  for _, kv in ipairs(pairs_list) do
    local k, v = kv[1], kv[2]
    local enc
    if type(v) == "table" then enc = O.json_object(v)
    elseif type(v) == "boolean" then enc = tostring(v)
    elseif math.type(v) == "integer" then enc = string.format("%d", v)
    else enc = O.json_string(tostring(v)) end
    out[#out + 1] = O.json_string(k) .. ":" .. enc
  end
  return "{" .. table.concat(out, ",") .. "}"
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 with padding.
function O.base64(bytes)
  local out = {}
  for i = 1, #bytes, 3 do
    local a, b, c = bytes:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local idx = (n >> (6 * k)) & 63
      q[#q + 1] = b64chars:sub(idx + 1, idx + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

--- Bytes from a hex string, zero-padded (or cut) to `len` bytes.
function O.hex_bytes(hex, len)
  local bytes = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  if #bytes >= len then return bytes:sub(1, len) end
  return bytes .. string.rep("\0", len - #bytes)
end

return O
