-- core.paths: sandbox ids, socket paths, the default run dir.
local core = require "vmlua.core"
local P = core.paths

local BAD_ID = "invalid sandbox id '%s': use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"

describe("core.paths.check_id", function()
  it("accepts 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit", function()
    for _, id in ipairs { "a", "demo", "vm-1", "VM_2.test", "0abc", string.rep("z", 64) } do
      assert.is_true(P.check_id(id), id)
    end
  end)

  it("refuses everything else, naming the id", function()
    local cases = {
      { "", "" },
      { string.rep("a", 65), string.rep("a", 65) },
      { ".hidden", ".hidden" },
      { "..", ".." },
      { "-x", "-x" },
      { "_x", "_x" },
      { "a/b", "a/b" },
      { "../etc", "../etc" },
      { "a b", "a b" },
      { "a\0b", "a\\x00b" },
      { "tab\t", "tab\\x09" },
      { "caf\xc3\xa9", "caf\\xc3\\xa9" },
      { "x\\y", "x\\x5cy" },
    }
    for _, c in ipairs(cases) do
      assert.same({ nil, BAD_ID:format(c[2]), 22 }, { P.check_id(c[1]) })
    end
  end)

  it("cuts a very long id in the message", function()
    local _, msg = P.check_id(string.rep("q", 500))
    assert.equal(BAD_ID:format(string.rep("q", 80) .. "..."), msg)
  end)

  it("raises for a non-string", function()
    assert.has_error(function() P.check_id() end)
    assert.has_error(function() P.check_id({}) end)
  end)
end)

describe("core.paths.socket", function()
  it("joins dir and name when the result fits in sun_path", function()
    assert.equal("/run/vmlua/vm1/qmp.sock", P.socket("/run/vmlua/vm1", "qmp.sock"))
    assert.equal("/run/vmlua/vm1/qmp.sock", P.socket("/run/vmlua/vm1/", "qmp.sock"))
  end)

  it("allows 107 bytes and refuses 108, naming the path and its length", function()
    local dir = "/" .. string.rep("d", 95)
    assert.equal(107, #P.socket(dir, "abcdefghij"))
    local long = dir .. "/abcdefghijk"
    assert.same({ nil, "socket path " .. long .. " is 108 bytes, over the 107-byte sun_path limit", 36 },
      { P.socket(dir, "abcdefghijk") })
  end)

  it("raises for non-strings", function()
    assert.has_error(function() P.socket("/x") end)
    assert.has_error(function() P.socket(nil, "x") end)
  end)
end)

describe("core.paths.join", function()
  it("puts exactly one / between parts", function()
    assert.equal("a/b/c", P.join("a", "b", "c"))
    assert.equal("/run/vmlua/x", P.join("/run/vmlua/", "/x"))
    assert.equal("/x", P.join("/", "x"))
    assert.equal("/x", P.join("//", "x"))
    assert.equal("a/b", P.join("a//", "//b//"))
    assert.equal("a", P.join("a"))
    assert.equal("/", P.join("/"))
  end)

  it("skips empty parts", function()
    assert.equal("b", P.join("", "b"))
    assert.equal("a", P.join("a", ""))
    assert.equal("a/c", P.join("a", "", "c"))
  end)

  it("never lets a later absolute part replace the base", function()
    assert.equal("/run/vmlua/etc/passwd", P.join("/run/vmlua", "/etc/passwd"))
  end)

  it("raises for no or non-string parts", function()
    assert.has_error(function() P.join() end)
    assert.has_error(function() P.join("a", {}) end)
  end)
end)

describe("core.paths.default_run_dir", function()
  local saved = {}
  before_each(function()
    saved.run = os.getenv("VMLUA_RUN_DIR")
    saved.xdg = os.getenv("XDG_RUNTIME_DIR")
  end)
  after_each(function()
    core.setenv("VMLUA_RUN_DIR", saved.run)
    core.setenv("XDG_RUNTIME_DIR", saved.xdg)
  end)

  it("is $VMLUA_RUN_DIR when set", function()
    core.setenv("VMLUA_RUN_DIR", "/srv/vmlua")
    assert.equal("/srv/vmlua", P.default_run_dir())
  end)

  it("is /run/vmlua for root, whatever XDG_RUNTIME_DIR says", function()
    assert.equal(0, core.getuid(), "the tests run as root")
    core.setenv("VMLUA_RUN_DIR", "")
    core.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    assert.equal("/run/vmlua", P.default_run_dir())
    core.setenv("VMLUA_RUN_DIR", nil)
    assert.equal("/run/vmlua", P.default_run_dir())
  end)
end)
