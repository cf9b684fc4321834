--- Fuzz target: core.json.decode (jsontext.c's strict parser on json-c,
-- then ljson.c's conversion to Lua) on any text, and encode back. What
-- decodes must encode (unless it holds 1e400, decoded as infinity, which
-- JSON cannot hold) to text that decodes again and encodes the same.
local json = require("vmlua.core").json

return function(text)
  local v, err = json.decode(text)
  if v == nil and err ~= nil then
    assert(type(err) == "string" and err:find("^json: .* at offset %d+$"), "an error with its offset: " .. err)
    return
  end
  local ok, s = pcall(json.encode, v)
  if not ok then
    assert(s:find("json: cannot encode an infinite number", 1, true), s)
    return
  end
  local again = json.decode(s)
  assert(again ~= nil or s == "null", "encoded text decodes: " .. s:sub(1, 200))
  assert(json.encode(again) == s, "and encodes the same")
end
