--- A small JSON decoder for test data (the reference vectors): objects,
-- arrays, strings (with \u escapes, BMP and surrogate pairs), numbers,
-- true/false/null. `null` decodes to `json.null`. Raises on bad input with
-- the offset.
local json = { null = setmetatable({}, { __tostring = function() return "null" end }) }

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function fail(pos, what)
  error(string.format("json: %s at offset %d", what, pos), 0)
end

local function skip(s, pos)
  return s:find("[^ \t\r\n]", pos) or #s + 1
end

local decode_value

local function utf8_of(code)
  return utf8.char(code)
end

local function decode_string(s, pos)
  local out = {}
  local i = pos + 1
  while true do
    local c = s:sub(i, i)
    if c == "" then fail(i, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if e == "u" then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then fail(i, "bad \\u escape") end
        local code = tonumber(hex, 16)
        i = i + 6
        if code >= 0xD800 and code <= 0xDBFF and s:sub(i, i + 1) == "\\u" then
          local low = tonumber(s:sub(i + 2, i + 5), 16)
          if low and low >= 0xDC00 and low <= 0xDFFF then
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            i = i + 6
          end
        end
        out[#out + 1] = utf8_of(code)
      elseif escapes[e] then
        out[#out + 1] = escapes[e]
        i = i + 2
      else
        fail(i, "bad escape")
      end
    else
      local j = s:find('["\\]', i)
      if not j then fail(i, "unterminated string") end
      out[#out + 1] = s:sub(i, j - 1)
      i = j
    end
  end
end

local function decode_array(s, pos)
  local out = {}
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "]" then return out, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos)
    out[#out + 1] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "]" then return out, pos + 1 end
    if c ~= "," then fail(pos, "expected ',' or ']'") end
    pos = skip(s, pos + 1)
  end
end

local function decode_object(s, pos)
  local out = {}
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "}" then return out, pos + 1 end
  while true do
    if s:sub(pos, pos) ~= '"' then fail(pos, "expected a key") end
    local k
    k, pos = decode_string(s, pos)
    pos = skip(s, pos)
    if s:sub(pos, pos) ~= ":" then fail(pos, "expected ':'") end
    local v
    v, pos = decode_value(s, skip(s, pos + 1))
    out[k] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "}" then return out, pos + 1 end
    if c ~= "," then fail(pos, "expected ',' or '}'") end
    pos = skip(s, pos + 1)
  end
end

function decode_value(s, pos)
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if c == "{" then return decode_object(s, pos) end
  if c == "[" then return decode_array(s, pos) end
  if c == '"' then return decode_string(s, pos) end
  for word, v in pairs { ["true"] = true, ["false"] = false, null = json.null } do
    if s:sub(pos, pos + #word - 1) == word then return v, pos + #word end
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and num ~= "" and num ~= "-" then
    return math.tointeger(tonumber(num)) or tonumber(num), pos + #num
  end
  fail(pos, "unexpected character")
end

--- Decode a JSON text.
function json.decode(s)
  local v, pos = decode_value(s, 1)
  pos = skip(s, pos)
  if pos <= #s then fail(pos, "trailing data") end
  return v
end

return json
