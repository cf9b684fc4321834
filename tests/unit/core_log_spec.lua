-- core.log: one record per line on stderr, text or JSON. The output is
-- captured from a child lua5.4.
local core = require "vmlua.core"
local child = require "support.child"
local json = core.json

-- Run code in a child with VMLUA_LOG / VMLUA_LOG_FORMAT (nil: unset);
-- returns its stderr as an array of lines.
local function log_lines(code, level, format)
  local err, out, ok = child.run("local log = require 'vmlua.core'.log\n" .. code,
    { VMLUA_LOG = level or false, VMLUA_LOG_FORMAT = format or false })
  assert.is_true(ok, err)
  assert.equal("", out)
  local lines = {}
  for line in err:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

local ALL = [[
  log.debug("d") log.info("i") log.warn("w") log.error("e")
]]

describe("core.log levels", function()
  it("logs info and above by default", function()
    assert.same({ "vmlua: info: i", "vmlua: warn: w", "vmlua: error: e" }, log_lines(ALL))
  end)

  it("takes the level from VMLUA_LOG", function()
    assert.same({ "vmlua: debug: d", "vmlua: info: i", "vmlua: warn: w", "vmlua: error: e" }, log_lines(ALL, "debug"))
    assert.same({ "vmlua: warn: w", "vmlua: error: e" }, log_lines(ALL, "warn"))
    assert.same({ "vmlua: error: e" }, log_lines(ALL, "error"))
    assert.same({}, log_lines(ALL, "off"))
  end)

  it("warns once about a bad VMLUA_LOG and uses info", function()
    assert.same({ "vmlua: warn: VMLUA_LOG=loud is not valid; using info",
                  "vmlua: info: i", "vmlua: warn: w", "vmlua: error: e" }, log_lines(ALL, "loud"))
  end)

  it("set{} overrides the environment", function()
    assert.same({ "vmlua: debug: d", "vmlua: info: i", "vmlua: warn: w", "vmlua: error: e" },
      log_lines("log.set{ level = 'debug' }" .. ALL, "error"))
    assert.same({ "vmlua: error: e" }, log_lines("log.set{ level = 'error' }" .. ALL, "debug"))
  end)

  it("write takes the level as a name", function()
    assert.same({ "vmlua: warn: via write", "vmlua: error: x n=1" },
      log_lines("log.write('warn', 'via write') log.write('debug', 'hidden') log.write('error', 'x', { n = 1 })"))
  end)

  it("level() and enabled() report the current level", function()
    assert.same({ "info false true true debug true" }, log_lines([[
      local a = log.level()
      local b, c, d = log.enabled("debug"), log.enabled("info"), log.enabled("error")
      log.set{ level = "debug" }
      io.stderr:write(table.concat({ a, tostring(b), tostring(c), tostring(d), log.level(),
                                     tostring(log.enabled("debug")) }, " "), "\n")
    ]]))
    assert.same({ "off false" }, log_lines([[
      io.stderr:write(log.level(), " ", tostring(log.enabled("error")), "\n")
    ]], "off"))
  end)
end)

describe("core.log text format", function()
  it("renders fields as sorted key=value, quoting when needed", function()
    local lines = log_lines([[
      log.info("started", { pid = 42, ratio = 0.5, ok = true, path = "/run/x y", empty = "",
                            eq = "a=b", quote = 'say "hi"', list = { 1, 2 }, map = { k = "v" } })
    ]])
    assert.same({ 'vmlua: info: started empty="" eq="a=b" list=[1,2] map="{\\"k\\":\\"v\\"}" ok=true path="/run/x y" '
                  .. 'pid=42 quote="say \\"hi\\"" ratio=0.5' }, lines)
  end)

  it("keeps a record on one line", function()
    local lines = log_lines([[
      log.warn("two\nlines\tand\27[31mcolour", { out = "a\nb" })
    ]])
    assert.same({ 'vmlua: warn: two\\nlines\\tand\\x1b[31mcolour out="a\\nb"' }, lines)
  end)

  it("never raises for an odd field value", function()
    local lines = log_lines([[
      local t = {} t.self = t
      log.info("odd", { fn = print, cyc = t, nan = 0/0, bad = "\255", [1] = "positional" })
    ]])
    assert.equal(1, #lines)
    assert.matches('^vmlua: info: odd 1=positional bad=\xef\xbf\xbd cyc="{\\"self\\":\\"<cycle>\\"}" '
                   .. 'fn="function: [^"]+" nan=%-?nan$',
      lines[1])
  end)
end)

describe("core.log with many references to a cycle", function()
  -- issue 12 finding 2: every "<cycle>" left a value on the Lua stack; 25
  -- references aborted, 30 spun, 50 crashed
  for _, n in ipairs { 25, 30, 50, 1000 } do
    it(n .. " references in one table are each written as <cycle>", function()
      for _, format in ipairs { "text", "json" } do
        local lines = log_lines(string.format([[
          local t = {}
          for i = 1, %d do t[i] = t end
          log.info("x", { a = t })
          log.info("after")
        ]], n), nil, format)
        assert.equal(2, #lines)
        local cycles = select(2, lines[1]:gsub("<cycle>", ""))
        assert.equal(n, cycles)
        assert.matches("after", lines[2])
      end
    end)
  end

  it("json.encode raises for the same table and stays usable", function()
    local t = {}
    for i = 1, 50 do t[i] = t end
    for _ = 1, 3 do
      assert.has_error(function() json.encode { a = t } end,
        "json: cannot encode a table that contains itself (a cycle)")
    end
    assert.equal('{"a":[1]}', json.encode { a = { 1 } })
  end)
end)

describe("core.log JSON format", function()
  it("writes one JSON object per record", function()
    local lines = log_lines([[
      log.info("hello", { pid = 7, tags = { "a" }, nested = { x = 1.5 } })
      log.error("bad")
    ]], nil, "json")
    assert.equal(2, #lines)
    local r = assert(json.decode(lines[1]))
    assert.equal("info", r.level)
    assert.equal("hello", r.msg)
    assert.equal(7, r.pid)
    assert.same({ "a" }, r.tags)
    assert.same({ x = 1.5 }, r.nested)
    assert.equal("float", math.type(r.ts))
    assert.is_true(math.abs(r.ts - core.time()) < 60)
    assert.matches('^{"ts":%d+%.%d%d%d,"level":"info","msg":"hello",', lines[1])
    assert.same({ "bad", "error" }, { json.decode(lines[2]).msg, json.decode(lines[2]).level })
  end)

  it("writes every level, and only those enabled", function()
    local function levels(lines)
      local t = {}
      for i, l in ipairs(lines) do
        local r = assert(json.decode(l))
        t[i] = r.level .. "=" .. r.msg
      end
      return t
    end
    assert.same({ "debug=d", "info=i", "warn=w", "error=e" }, levels(log_lines(ALL, "debug", "json")))
    assert.same({ "info=i", "warn=w", "error=e" }, levels(log_lines(ALL, nil, "json")))
    assert.same({ "warn=w", "error=e" }, levels(log_lines(ALL, "warn", "json")))
    assert.same({ "error=e" }, levels(log_lines(ALL, "error", "json")))
    assert.same({}, levels(log_lines(ALL, "off", "json")))
  end)

  it("is chosen by set{} as well, and respects the level", function()
    local lines = log_lines("log.set{ format = 'json', level = 'warn' } log.info('no') log.warn('yes')")
    assert.equal(1, #lines)
    assert.equal("yes", json.decode(lines[1]).msg)
  end)

  it("keeps ts, level and msg when fields use those names", function()
    local lines = log_lines("log.info('real', { msg = 'field', level = 'x', ts = 1 })", nil, "json")
    local r = json.decode(lines[1])
    assert.same({ "real", "info", "field", "x", 1 }, { r.msg, r.level, r._msg, r._level, r._ts })
  end)

  it("renders what JSON cannot hold", function()
    local lines = log_lines("log.info('odd', { fn = print, bad = '\\255', inf = math.huge })", nil, "json")
    local r = assert(json.decode(lines[1]))
    assert.matches("^function: ", r.fn)
    assert.equal("\xef\xbf\xbd", r.bad)
    assert.equal("inf", r.inf)
  end)

  it("warns about a bad VMLUA_LOG_FORMAT and uses text", function()
    assert.same({ "vmlua: warn: VMLUA_LOG_FORMAT=xml is not valid; using text", "vmlua: info: i" },
      log_lines("log.info('i')", nil, "xml"))
  end)
end)

describe("core.log misuse", function()
  local log = core.log
  local level
  before_each(function() level = log.level() end)
  after_each(function() log.set { level = level, format = "text" } end)

  it("raises for bad arguments", function()
    assert.has_error(function() log.write("loud", "x") end)
    assert.has_error(function() log.write("off", "x") end)
    assert.has_error(function() log.info() end)
    assert.has_error(function() log.info({}) end)
    assert.has_error(function() log.info("x", "fields") end)
    assert.has_error(function() log.set() end)
    assert.has_error(function() log.set { level = "loud" } end)
    assert.has_error(function() log.set { format = "xml" } end)
    assert.has_error(function() log.set { colour = true } end)
    assert.has_error(function() log.enabled("loud") end)
  end)

  it("set{} returns true and changes what level() reports", function()
    assert.is_true(log.set { level = "error" })
    assert.equal("error", log.level())
    assert.is_false(log.enabled("warn"))
    assert.is_true(log.set {})
    assert.equal("error", log.level())
  end)
end)
