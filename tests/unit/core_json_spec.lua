-- core.json: json-c <-> Lua.
local core = require "vmlua.core"
local json = core.json
local child = require "support.child"

local function nested(n)
  local t = {}
  local c = t
  for _ = 2, n do
    c[1] = {}
    c = c[1]
  end
  return t
end

describe("core.json.encode", function()
  it("encodes scalars", function()
    assert.equal("true", json.encode(true))
    assert.equal("false", json.encode(false))
    assert.equal("null", json.encode(json.null))
    assert.equal("null", json.encode(nil))
    assert.equal('"x"', json.encode("x"))
    assert.equal("42", json.encode(42))
    assert.equal("-7", json.encode(-7))
  end)

  it("keeps integers and floats apart", function()
    assert.equal("1", json.encode(1))
    assert.equal("1.0", json.encode(1.0))
    assert.equal("0.1", json.encode(0.1))
    assert.equal("1.5", json.encode(1.5))
    assert.equal("-0.0", json.encode(-0.0))
    assert.equal("1e+300", json.encode(1e300))
    assert.equal("9007199254740992.0", json.encode(2 ^ 53))
    assert.equal("9223372036854775807", json.encode(math.maxinteger))
    assert.equal("-9223372036854775808", json.encode(math.mininteger))
    assert.equal("0.30000000000000004", json.encode(0.1 + 0.2))
  end)

  it("encodes arrays and objects with sorted keys", function()
    assert.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    assert.equal('{"a":1,"b":[true,false],"c":{"d":"e"}}',
      json.encode({ c = { d = "e" }, a = 1, b = { true, false } }))
    assert.equal('[1,null,3]', json.encode({ 1, json.null, 3 }))
  end)

  it("encodes an unmarked empty table as {} and marked ones as marked", function()
    assert.equal("{}", json.encode({}))
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode(json.object()))
    assert.equal('{"list":[],"map":{}}', json.encode({ list = json.array(), map = json.object() }))
  end)

  it("encodes an object-marked table with integer keys as an object", function()
    assert.equal('{"1":"a","2":"b"}', json.encode(json.object({ "a", "b" })))
  end)

  it("escapes what JSON needs and leaves / and UTF-8 alone", function()
    assert.equal([["a\"b\\c\nd\te\u0001"]], json.encode('a"b\\c\nd\te\1'))
    assert.equal('"/run/vmlua/x.sock"', json.encode("/run/vmlua/x.sock"))
    assert.equal('"caf\xc3\xa9 \xf0\x9f\x98\x80"', json.encode("café 😀"))
    assert.equal('"a\\u0000b"', json.encode("a\0b"))
  end)

  it("pretty-prints", function()
    assert.equal('{\n  "a": 1,\n  "b": [\n    2\n  ]\n}', json.encode({ a = 1, b = { 2 } }, { pretty = true }))
    assert.equal('{"a":1}', json.encode({ a = 1 }, { pretty = false }))
  end)

  it("raises for values JSON cannot hold", function()
    assert.has_error(function() json.encode(print) end, "json: cannot encode a function")
    assert.has_error(function() json.encode({ f = print }) end, "json: cannot encode a function")
    assert.has_error(function() json.encode(coroutine.create(print)) end, "json: cannot encode a thread")
    assert.has_error(function() json.encode(io.stdout) end, "json: cannot encode a userdata")
    assert.has_error(function() json.encode(0 / 0) end, "json: cannot encode NaN")
    assert.has_error(function() json.encode({ math.huge }) end, "json: cannot encode an infinite number")
    assert.has_error(function() json.encode(-math.huge) end, "json: cannot encode an infinite number")
    assert.has_error(function() json.encode("\255") end,
      "json: cannot encode a string that is not valid UTF-8")
    assert.has_error(function() json.encode("\xed\xa0\x80") end,
      "json: cannot encode a string that is not valid UTF-8")   -- a UTF-16 surrogate
    assert.has_error(function() json.encode({ [true] = 1 }) end,
      "json: cannot encode a table with mixed or non-string keys")
    assert.has_error(function() json.encode({ 1, a = 2 }) end,
      "json: cannot encode a table with mixed or non-string keys")
    assert.has_error(function() json.encode({ [1] = 1, [3] = 3 }) end,
      "json: cannot encode a sparse array (index 3 with 2 elements)")
    assert.has_error(function() json.encode({ [1.5] = 1 }) end,
      "json: cannot encode a table with mixed or non-string keys")
    assert.has_error(function() json.encode({ ["a\0b"] = 1 }) end,
      "json: cannot encode an object key that contains a NUL byte")
    assert.has_error(function() json.encode(json.object({ [true] = 1 })) end,
      "json: cannot encode a boolean as an object key")
  end)

  it("raises for cycles", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end,
      "json: cannot encode a table that contains itself (a cycle)")
    local a = { {} }
    a[1][1] = a
    assert.has_error(function() json.encode(a) end,
      "json: cannot encode a table that contains itself (a cycle)")
  end)

  it("encodes the same table twice when it is not a cycle", function()
    local shared = { 1 }
    assert.equal('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
  end)

  it("limits nesting to what decode accepts", function()
    local text = json.encode(nested(200))
    assert.truthy(json.decode(text))
    assert.has_error(function() json.encode(nested(201)) end,
      "json: cannot encode nesting deeper than 200")
  end)

  it("checks its options", function()
    assert.has_error(function() json.encode(1, { bogus = true }) end)
    assert.has_error(function() json.encode(1, "pretty") end)
    assert.has_error(function() json.encode() end)
  end)
end)

describe("core.json.decode", function()
  it("decodes scalars", function()
    assert.equal(true, json.decode("true"))
    assert.equal(false, json.decode("false"))
    assert.equal(json.null, json.decode("null"))
    assert.equal("x", json.decode('"x"'))
    assert.equal(12, json.decode("12"))
    assert.equal(12, json.decode("  12  "))
  end)

  it("keeps integers and floats apart", function()
    assert.equal("integer", math.type(json.decode("3")))
    assert.equal("float", math.type(json.decode("3.0")))
    assert.equal("float", math.type(json.decode("1e2")))
    assert.equal(math.maxinteger, json.decode("9223372036854775807"))
    assert.equal("integer", math.type(json.decode("-9223372036854775808")))
    assert.equal("float", math.type(json.decode("9223372036854775808")))
    assert.equal(math.huge, json.decode("1e400"))
  end)

  it("decodes unicode escapes and UTF-8", function()
    assert.equal("é", json.decode('"\\u00e9"'))
    assert.equal("😀", json.decode('"\\ud83d\\ude00"'))
    assert.equal("café", json.decode('"café"'))
    assert.equal("a\0b", json.decode('"a\\u0000b"'))
    assert.equal("/x/y", json.decode('"\\/x\\/y"'))
  end)

  it("marks arrays and objects so that they round-trip", function()
    local v = json.decode('{"a":[],"b":{},"c":[1,{"d":null}]}')
    assert.equal(getmetatable(json.array()), getmetatable(v.a))
    assert.equal(getmetatable(json.object()), getmetatable(v.b))
    assert.equal(getmetatable(json.object()), getmetatable(v))
    assert.equal(json.null, v.c[2].d)
    assert.equal('{"a":[],"b":{},"c":[1,{"d":null}]}', json.encode(v))
  end)

  it("round-trips values", function()
    local v = { n = 1, f = 2.5, s = "ü\n", t = true, list = { 1, 2.0, "3" }, e = json.array(),
                o = json.object(), z = json.null, big = math.maxinteger, neg = -0.5 }
    local back = json.decode(json.encode(v))
    assert.same(v, back)
    assert.equal("float", math.type(back.list[2]))
    assert.equal(json.encode(v), json.encode(back))
    local pretty = json.encode(v, { pretty = true })
    assert.equal(pretty, json.encode(json.decode(pretty), { pretty = true }))
  end)

  it("reports errors with the offset", function()
    local cases = {
      { "", "json: unexpected end of data at offset 0" },
      { "   ", "json: unexpected end of data at offset 3" },
      { "[1,2", "json: unexpected end of data at offset 4" },
      { '{"a":1} x', "json: unexpected character at offset 8" },
      { "[1,]", "json: unexpected character at offset 3" },
      { "{'a':1}", "json: unexpected character at offset 1" },
      { "[1]]", "json: unexpected character at offset 3" },
      { "true false", "json: unexpected character at offset 5" },
      { "NaN", "json: NaN and Infinity are not JSON at offset 0" },
      { '{"a":"N","b":[Infinity]}', "json: NaN and Infinity are not JSON at offset 14" },
      { '"\255"', "json: invalid utf-8 string at offset 1" },
      { "{}\0{}", "json: unexpected character at offset 2" },
      { "tru", "json: unexpected end of data at offset 3" },
      { "1.", "json: invalid number (digit expected after '.') at offset 2" },
      { "[1.e5]", "json: invalid number (digit expected after '.') at offset 3" },
      { "-01", "json: invalid number (leading zero) at offset 2" },
      { '["a\tb"]', "json: control character in string at offset 3" },
      { "['a']", "json: unexpected character at offset 1" },
      { "/* c */ 1", "json: unexpected character at offset 0" },
      { string.rep("[", 201) .. string.rep("]", 201), "json: nesting too deep at offset 200" },
    }
    for _, c in ipairs(cases) do
      local v, err, code = json.decode(c[1])
      assert.is_nil(v, c[1])
      assert.equal(c[2], err)
      assert.is_nil(code)
    end
  end)

  it("refuses an object key with \\u0000 rather than cutting it there", function()
    -- issue 12 finding 12: json-c keeps keys as C strings, so "status\u0000x"
    -- became a second "status" that overwrote the first
    local cases = {
      { '{"status":"running","status\\u0000x":"stopped"}', 27 },
      { '{"\\u0000":1}', 2 },
      { '[{"a":{"b\\u0000" \n : 1}}]', 9 },
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v, c[1])
      assert.equal("json: object key with a NUL character (\\u0000) at offset " .. c[2], err)
    end
    -- in a value, or as an escaped backslash before "u0000", it is fine
    assert.same({ a = "x\0y" }, json.decode('{"a":"x\\u0000y"}'))
    assert.same({ ["x\\u0000"] = 1 }, json.decode('{"x\\\\u0000":1}'))
    assert.same({ "\0" }, json.decode('["\\u0000"]'))
  end)

  it("refuses what is not UTF-8 as encode does, which json-c lets through (found by fuzzing)", function()
    -- decode accepted, and encode then refused, the same text
    for _, bad in ipairs {
      '"\xC1\xA9"',          -- an overlong 'i'
      '"\xE0\x80\xAF"',      -- an overlong '/'
      '"\xED\xA0\x80"',      -- a surrogate as bytes
      '"\xF4\x90\x80\x80"',  -- past U+10FFFF
      '"ab\xC0\x80"',         -- an overlong NUL
    } do
      local v, err = json.decode(bad)
      assert.is_nil(v, bad)
      assert.matches("^json: invalid utf%-8 string at offset %d+$", err)
    end
    assert.equal("\u{10FFFF}\u{FFFD}", json.decode('"\u{10FFFF}\\ud800"'))
  end)

  it("raises for a non-string argument", function()
    assert.has_error(function() json.decode({}) end)
    assert.has_error(function() json.decode() end)
  end)
end)

describe("core.json with strings of 4 GiB or more", function()
  -- issue 12 finding 11: json-c measures strings in int, and (int)len
  -- turned 4 GiB + 1 bytes into 1 byte. Run in a child: the string takes
  -- 4 GiB (5 GiB while it is built).
  it("encode raises; log fields and messages say how long the string was", function()
    local err, out, ok = child.run([[
      local core = require "vmlua.core"
      local s = string.rep("x", 1 << 30)
      s = s .. s .. s .. s .. "x"
      local okk, e = pcall(core.json.encode, { big = s })
      io.write(tostring(okk), "|", tostring(e), "\n")
      core.log.info("text", { big = s })
      core.log.set { format = "json" }
      core.log.info(s, { big = s })
    ]])
    assert.is_true(ok, err)
    assert.equal("false|json: cannot encode a string of 4294967297 bytes (the limit is 2147483647)\n", out)
    local lines = {}
    for line in err:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.equal(2, #lines)
    assert.equal('vmlua: info: text big="<string of 4294967297 bytes>"', lines[1])
    local rec = assert(json.decode(lines[2]))
    assert.equal("<string of 4294967297 bytes>", rec.msg)
    assert.equal("<string of 4294967297 bytes>", rec.big)
  end)
end)

describe("core.json marks", function()
  it("array() and object() return a new marked table", function()
    local a, o = json.array(), json.object()
    assert.same({}, a)
    assert.not_equal(getmetatable(a), getmetatable(o))
  end)

  it("mark a given table in place and can switch marks", function()
    local t = { 1 }
    assert.equal(t, json.array(t))
    assert.equal("[1]", json.encode(t))
    json.object(t)
    assert.equal('{"1":1}', json.encode(t))
  end)

  it("refuse a table with another metatable", function()
    local t = setmetatable({}, {})
    assert.has_error(function() json.array(t) end)
    assert.has_error(function() json.object(t) end)
    assert.has_error(function() json.array("x") end)
  end)

  it("null is a unique lightuserdata", function()
    assert.equal("userdata", type(json.null))
    assert.equal(json.null, json.decode("[null]")[1])
  end)
end)
