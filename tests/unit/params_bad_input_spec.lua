-- vmlua.params: every kind of bad input raises an error naming the key,
-- at the caller's line.
local params = require "vmlua.params"

-- Call fn and return its error message; the call sits on the line the
-- caller names, so messages can be checked with their file:line prefix.
local function err_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return err
end

local function here() return "params_bad_input_spec.lua:" .. debug.getinfo(2, "l").currentline .. ": " end

describe("vmlua.params bad input", function()
  it("rejects a double quote in a value, naming the key, at the caller's line", function()
    local where
    local err = err_of(function()
      local p = params.new() where = here() p:set("foo", 'a"b')
    end)
    assert.are.equal(where .. 'kernel parameter "foo": value must not contain \'"\' (the kernel has no escape for it)',
                     err:match("[^/]*$"))
  end)

  it("rejects a newline in a value", function()
    local err = err_of(function() local x = params { { "init", "/bin/sh\nrm" } } return x end)
    assert.truthy(err:find('kernel parameter "init": value must not contain a newline', 1, true), err)
  end)

  it("rejects a NUL byte in a key or a value (found by fuzzing: it ends the kernel's command line)", function()
    local err = err_of(function() local x = params "\0" return x end)
    assert.truthy(err:find('kernel parameter "\\0": key must not contain a NUL byte (it ends the command line)', 1, true),
                  err)
    err = err_of(function() local x = params { { "console", "tty\0S0" } } return x end)
    assert.truthy(err:find('kernel parameter "console": value must not contain a NUL byte', 1, true), err)
  end)

  it("rejects an empty key", function()
    local err = err_of(function() local x = params { { "", "1" } } return x end)
    assert.truthy(err:find("kernel parameter key: must not be empty", 1, true), err)
    err = err_of(function() local x = params "=1" return x end)
    assert.truthy(err:find("kernel parameter key: must not be empty", 1, true), err)
  end)

  it("rejects a key with '=' or white space", function()
    local err = err_of(function() local x = params { { "a=b", "1" } } return x end)
    assert.truthy(err:find([[kernel parameter "a=b": key must not contain '=', '"' or white space]], 1, true), err)
    err = err_of(function() local p = params.new() p:set("a b") end)
    assert.truthy(err:find([[kernel parameter "a b": key must not contain]], 1, true), err)
  end)

  it("rejects non-string keys and values of the wrong type", function()
    local err = err_of(function() local p = params.new() p:set(42) end)
    assert.truthy(err:find("kernel parameter key: expected a string, got number", 1, true), err)
    err = err_of(function() local p = params.new() p:set("x", { 1 }) end)
    assert.truthy(err:find('kernel parameter "x": value must be a string, an integer or nil, got table', 1, true), err)
    err = err_of(function() local p = params.new() p:set("x", 1.5) end)
    assert.truthy(err:find('kernel parameter "x": value must be a string, an integer or nil, got float', 1, true), err)
  end)

  it("rejects an unbalanced quote in a string", function()
    local err = err_of(function() local x = params.new('a="b c') return x end)
    assert.truthy(err:find([[kernel command line: unbalanced '"' in "a=\"b c"]], 1, true), err)
  end)

  it("rejects malformed list entries", function()
    local err = err_of(function() local x = params { { "a", "b", "c" } } return x end)
    assert.truthy(err:find("kernel parameters[1]: expected {key, value} or {key =, value =}", 1, true), err)
    err = err_of(function() local x = params { "ok", { key = "a", val = "b" } } return x end)
    assert.truthy(err:find("kernel parameters[2]: unknown field val", 1, true), err)
    err = err_of(function() local x = params { "ok", true } return x end)
    assert.truthy(err:find("kernel parameters[2]: expected a string or a {key, value} pair, got boolean", 1, true), err)
    err = err_of(function() local x = params { a = "b" } return x end)
    assert.truthy(err:find("kernel parameters: expected a list, found key a", 1, true), err)
    err = err_of(function() local x = params(42) return x end)
    assert.truthy(err:find("kernel parameters: expected a string, a list or a params object, got number", 1, true), err)
  end)

  it("rejects a command line over the limit, giving both numbers", function()
    local p = params.new():set("x", string.rep("a", 2046)) -- 2048 bytes rendered
    local where
    local err = err_of(function() where = here() p:render() end)
    assert.are.equal(where .. "kernel command line is 2048 bytes; the limit is 2047 (a 2048-byte buffer with its NUL)",
                     err:match("[^/]*$"))
    err = err_of(function() p:render { limit = 100 } end)
    assert.truthy(err:find("kernel command line is 2048 bytes; the limit is 99 (a 100-byte buffer with its NUL)",
                           1, true), err)
  end)

  it("rejects bad render options", function()
    local p = params "a"
    assert.truthy(err_of(function() p:render { limt = 5 } end):find("render: unknown option limt", 1, true))
    assert.truthy(err_of(function() p:render { limit = 0 } end)
      :find("render: limit must be a positive integer or false", 1, true))
    assert.truthy(err_of(function() p:render(5) end):find("render: expected an options table", 1, true))
  end)

  it("rejects a bad merge argument", function()
    local err = err_of(function() local p = params "a" p:merge(42) end)
    assert.truthy(err:find("kernel parameters: expected a string, a list or a params object, got number", 1, true), err)
  end)

  describe("load", function()
    local H = require "support.h"
    local dir
    before_each(function()
      dir = H.tmpdir()
      params.getenv = function(name) if name == "VMLUA_PATH" then return dir end return os.getenv(name) end
    end)
    after_each(function()
      params.getenv = os.getenv
      H.cleanup_tmp()
    end)

    it("suggests the set a typo meant, from every directory it searches", function()
      local err = err_of(function() local x = params.load("qemu-seria") return x end)
      assert.truthy(err:find("params.load: no parameter set 'qemu-seria' (did you mean 'qemu-serial'?) (looked in: ",
                             1, true), err)
      H.write(dir .. "/my-params.lua", 'return { "quiet" }')
      err = err_of(function() local x = params.load("my-param") return x end)
      assert.truthy(err:find("(did you mean 'my-params'?)", 1, true), err)
      err = err_of(function() local x = params.load("zzzzzzzz") return x end)
      assert.falsy(err:find("did you mean", 1, true), err)
    end)

    it("names every place it looked for a missing set", function()
      local err = err_of(function() local x = params.load("no-such-set") return x end)
      local list = table.concat(params.search_paths("no-such-set"), ", ")
      assert.truthy(err:find("params.load: no parameter set 'no-such-set' (looked in: " .. list .. ")", 1, true), err)
      assert.truthy(list:find(dir .. "/params/no-such-set.lua, " .. dir .. "/no-such-set.lua", 1, true), list)
    end)

    it("rejects names that are paths", function()
      for _, name in ipairs { "../etc/passwd", "a/b", "", ".hidden" } do
        local err = err_of(function() local x = params.load(name) return x end)
        assert.truthy(err:find("params.load: invalid parameter set name", 1, true), err)
      end
      local err = err_of(function() local x = params.load(7) return x end)
      assert.truthy(err:find("params.load: invalid parameter set name number", 1, true), err)
    end)

    it("reports a syntax error in a set with its path", function()
      H.write(dir .. "/broken.lua", "return {")
      local err = err_of(function() local x = params.load("broken") return x end)
      assert.truthy(err:find("params.load: " .. dir .. "/broken.lua:1:", 1, true), err)
    end)

    it("reports a set that raises, or returns the wrong thing, or bad entries", function()
      H.write(dir .. "/raises.lua", "error('boom', 0)")
      H.write(dir .. "/number.lua", "return 42")
      H.write(dir .. "/badkey.lua", "return { { 'a b', '1' } }")
      local err = err_of(function() local x = params.load("raises") return x end)
      assert.truthy(err:find("params.load: " .. dir .. "/raises.lua: boom", 1, true), err)
      err = err_of(function() local x = params.load("number") return x end)
      assert.truthy(err:find("params.load: " .. dir .. "/number.lua must return a list of parameters, returned number",
                             1, true), err)
      err = err_of(function() local x = params.load("badkey") return x end)
      assert.truthy(err:find("params.load: " .. dir .. [[/badkey.lua: kernel parameter "a b": key must not contain]],
                             1, true), err)
    end)
  end)
end)
