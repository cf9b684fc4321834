-- vmlua.params: kernel parameter lists.
local params = require "vmlua.params"
local H = require "support.h"

describe("vmlua.params", function()
  describe("building", function()
    it("takes key=value strings, bare keys and pairs in order", function()
      local p = params { "root=/dev/vda1", "quiet", { "console", "ttyS0" }, { key = "panic", value = "1" } }
      assert.are.equal("root=/dev/vda1 quiet console=ttyS0 panic=1", p:render())
      assert.are.same({
        { key = "root", value = "/dev/vda1" }, { key = "quiet" },
        { key = "console", value = "ttyS0" }, { key = "panic", value = "1" },
      }, p:list())
    end)

    it("splits one space-separated string, honouring double quotes", function()
      local p = params.new('root=/dev/vda1   quiet dm-mod.create="vroot,,,ro,0 8 linear"  rw')
      assert.are.equal(4, p:len())
      assert.are.equal("vroot,,,ro,0 8 linear", p:get("dm-mod.create"))
      assert.are.equal('root=/dev/vda1 quiet dm-mod.create="vroot,,,ro,0 8 linear" rw', p:render())
    end)

    it("splits strings inside a list too", function()
      local p = params { "a=1 b", "c=3" }
      assert.are.same({ "a", "b", "c" }, { p:list()[1].key, p:list()[2].key, p:list()[3].key })
    end)

    it("treats an empty value as a bare key, as the 2019 Kata builder did", function()
      local p = params { { "no_timer_check", "" }, { "panic", 1 } }
      assert.are.equal("no_timer_check panic=1", p:render())
      assert.is_true(p:get("no_timer_check"))
    end)

    it("keeps repeated keys from the input (two consoles)", function()
      local p = params "console=tty0 console=ttyS0"
      assert.are.equal("console=tty0 console=ttyS0", tostring(p))
      assert.are.equal("ttyS0", p:get("console"))
      assert.are.same({ "tty0", "ttyS0" }, p:get_all("console"))
    end)

    it("builds empty lists from nil and from an empty string", function()
      assert.are.equal("", params.new():render())
      assert.are.equal("", params.new(""):render())
      assert.are.equal(0, #params {})
    end)

    it("copies another params object", function()
      local a = params "a=1"
      local b = params.new(a)
      b:set("a", "2")
      assert.are.equal("a=1", a:render())
      assert.are.equal("a=2", b:render())
      assert.is_true(params.is_params(b))
      assert.is_false(params.is_params({}))
    end)
  end)

  describe("editing", function()
    it("set replaces in place, keeping the position, and chains", function()
      local p = params "root=/dev/vda1 panic=1 quiet"
      assert.are.equal(p, p:set("panic", "-1"))
      assert.are.equal("root=/dev/vda1 panic=-1 quiet", p:render())
      p:set("console", "ttyS0"):set("quiet")
      assert.are.equal("root=/dev/vda1 panic=-1 quiet console=ttyS0", p:render())
    end)

    it("set turns a valued key into a bare one and back", function()
      local p = params "debug=1"
      p:set("debug")
      assert.are.equal("debug", p:render())
      p:set("debug", "2")
      assert.are.equal("debug=2", p:render())
    end)

    it("set collapses duplicates onto the first position", function()
      local p = params "console=tty0 quiet console=ttyS0"
      p:set("console", "hvc0")
      assert.are.equal("console=hvc0 quiet", p:render())
    end)

    it("add appends even when the key exists", function()
      local p = params "console=tty0"
      p:add("console", "ttyS0")
      assert.are.equal("console=tty0 console=ttyS0", p:render())
    end)

    it("remove drops every occurrence and chains", function()
      local p = params "a=1 b c=3 a=4"
      assert.are.equal("b c=3", p:remove("a"):render())
      assert.are.equal("b c=3", p:remove("missing"):render())
    end)

    it("merge: the later wins, earlier keys keep their positions, new keys are appended", function()
      local base = params "root=/dev/vda1 panic=1 quiet"
      local debug = params "console=ttyS0 panic=0 initcall_debug"
      base:merge(debug)
      assert.are.equal("root=/dev/vda1 panic=0 quiet console=ttyS0 initcall_debug", base:render())
    end)

    it("merge accepts strings and lists and keeps the other's repeats", function()
      local p = params "console=tty0 a=1"
      p:merge { "console=hvc0", "console=ttyS0" }
      assert.are.equal("console=hvc0 a=1 console=ttyS0", p:render())
      p:merge "a=2"
      assert.are.equal("console=hvc0 a=2 console=ttyS0", p:render())
    end)

    it("get, has and list report what is there", function()
      local p = params "root=/dev/vda1 quiet"
      assert.are.equal("/dev/vda1", p:get("root"))
      assert.is_true(p:get("quiet"))
      assert.is_nil(p:get("nope"))
      assert.is_true(p:has("quiet"))
      assert.is_false(p:has("nope"))
      local l = p:list()
      l[1].value = "changed"
      assert.are.equal("/dev/vda1", p:get("root")) -- list() is a copy
    end)

    it("copy is independent and compares equal until changed", function()
      local p = params "a=1 b"
      local c = p:copy()
      assert.is_true(p == c)
      assert.is_false(p == { "a=1", "b" }) -- only params objects compare equal
      c:set("b", "2")
      assert.is_false(p == c)
      assert.are.equal("a=1 b", tostring(p))
    end)
  end)

  describe("rendering", function()
    it("quotes values with white space", function()
      local p = params.new():set("dm-mod.create", "vroot,,,ro,0 2048 verity 1"):set("x", "tab\there")
      assert.are.equal('dm-mod.create="vroot,,,ro,0 2048 verity 1" x="tab\there"', p:render())
    end)

    it("renders the seed's TestClhCliKernelParameters list", function()
      assert.are.equal("foo=foo bar=bar", params({ { "foo", "foo" }, { "bar", "bar" } }):render())
    end)

    it("accepts a line of 2047 bytes under the default 2048-byte limit", function()
      local p = params.new():set("x", string.rep("a", 2045))
      assert.are.equal(2047, #p:render())
    end)

    it("takes a custom limit and limit = false", function()
      local p = params.new():set("x", string.rep("a", 98))
      assert.are.equal(100, #p:render { limit = 101 })
      assert.are.equal(100, #p:render { limit = false })
      assert.are.equal(100, #tostring(params.new():set("x", string.rep("a", 98))))
    end)
  end)

  describe("load", function()
    local vmlua_path
    before_each(function()
      vmlua_path = nil
      params.getenv = function(name)
        if name == "VMLUA_PATH" then return vmlua_path end
        return os.getenv(name)
      end
    end)
    after_each(function()
      H.cleanup_tmp()
      params.getenv = os.getenv
    end)

    it("ships kata-clh: the 2019 seed's clhKernelParams", function()
      assert.are.equal("root=/dev/vda1 panic=1 no_timer_check noreplace-smp agent.log_vport=1025",
                       params.load("kata-clh"):render())
    end)

    it("ships kata-clh-debug: the seed's debug set, to merge", function()
      local p = params.load("kata-clh"):merge(params.load("kata-clh-debug"))
      assert.are.equal("root=/dev/vda1 panic=1 no_timer_check noreplace-smp agent.log_vport=1025 " ..
                       "console=ttyS0,115200n8 systemd.log_level=debug systemd.log_target=console initcall_debug=1",
                       p:render())
    end)

    it("ships kata: the newest Kata default x86 command line", function()
      assert.are.equal("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 " ..
                       "panic=1 no_timer_check noreplace-smp quiet", params.load("kata"):render())
    end)

    it("ships qemu-serial, chainable as in the recipe example", function()
      local p = params.load("qemu-serial"):set("quiet")
      assert.are.equal("ttyS0", p:get("console"))
      assert.are.equal("-1", p:get("panic"))
      assert.are.equal("t", p:get("reboot"))
      assert.are.equal("quiet", p:list()[#p:list()].key)
    end)

    it("returns a fresh object each time", function()
      params.load("kata"):set("quiet", "x")
      assert.is_true(params.load("kata"):get("quiet"))
    end)

    it("looks in VMLUA_PATH first: <dir>/params/<name>.lua, then <dir>/<name>.lua", function()
      local a, b = H.tmpdir(), H.tmpdir()
      os.execute("mkdir -p " .. a .. "/params")
      H.write(a .. "/params/kata.lua", 'return { "from=a-params" }')
      H.write(b .. "/mine.lua", 'return "from=b quiet"')
      vmlua_path = a .. ":" .. b
      assert.are.equal("from=a-params", params.load("kata"):render())
      assert.are.equal("from=b quiet", params.load("mine"):render())
      assert.are.same({ a .. "/params/mine.lua", a .. "/mine.lua", b .. "/params/mine.lua", b .. "/mine.lua" },
                      { table.unpack(params.search_paths("mine"), 1, 4) })
    end)

    it("accepts a file that returns a params object built with require", function()
      local d = H.tmpdir()
      H.write(d .. "/built.lua", 'local params = require "vmlua.params"\n' ..
                                 'return params.load("kata-clh"):remove("agent.log_vport")')
      vmlua_path = d
      assert.are.equal("root=/dev/vda1 panic=1 no_timer_check noreplace-smp", params.load("built"):render())
    end)

    it("searches the installed location and the source tree after VMLUA_PATH, as normalised paths", function()
      local paths = params.search_paths("kata")
      local installed = paths[#paths - 1]
      local source = paths[#paths]
      assert.truthy(installed:match("/lua/vmlua/scripts/params/kata%.lua$"), installed)
      assert.are.equal(H.root .. "/scripts/params/kata.lua", source)
    end)

    it("lists VMLUA_PATH's directories normalised: no //, . or dir/.. steps", function()
      local a = H.tmpdir()
      vmlua_path = a .. "//x/../missing/./"
      assert.are.same({ a .. "/missing/params/kata.lua", a .. "/missing/kata.lua" },
                      { table.unpack(params.search_paths("kata"), 1, 2) })
    end)
  end)
end)

describe("vmlua.params installed layout", function()
  after_each(function() H.cleanup_tmp() end)

  it("finds scripts/params/ next to the installed module ($(LUADIR)/vmlua/scripts/params)", function()
    -- mirror `make install`: lua/vmlua -> $(LUADIR)/vmlua, scripts -> $(LUADIR)/vmlua/scripts
    local luadir = H.tmpdir()
    os.execute(string.format("mkdir -p %s/vmlua/scripts/params && cp %s/lua/vmlua/params.lua %s/vmlua/ && " ..
                             "cp %s/scripts/params/kata.lua %s/vmlua/scripts/params/",
                             luadir, H.root, luadir, H.root, luadir))
    local cmd = string.format("cd / && env -u VMLUA_PATH -u LD_PRELOAD LUA_PATH='%s/?.lua' lua5.4 -e " ..
                              "'io.write(require(\"vmlua.params\").load(\"kata\"):render())' 2>&1",
                              luadir)
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    assert.are.equal("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 " ..
                     "panic=1 no_timer_check noreplace-smp quiet", out)
  end)
end)
