-- The example recipes in scripts/recipes/: their hooks run long after the
-- recipe was loaded, when vmlua.args no longer holds this run's --set
-- values; they must read them from sb.args.
local vmlua = require "vmlua"
local H = require "support.h"

--- A stand-in for the runtime a hook receives.
local function fake_sb(sb)
  return { id = sb.id, args = sb.args, stop = function(self) self.stopped = true end,
           exec = function(self, spec)
             self.ran = spec
             return { status = 0, stdout = "Linux 6.1.0\n", stderr = "" }
           end }
end

describe("scripts/recipes on_ready", function()
  after_each(H.cleanup_tmp)

  for _, name in ipairs({ "qemu-demo", "qemu-microvm", "qemu-net" }) do
    describe(name, function()
      local path = H.root .. "/scripts/recipes/" .. name .. ".lua"

      local function on_ready(args)
        local share = H.tmpdir()
        args.share = share
        local sb = assert(vmlua.load_recipe(path, args))
        -- loading another recipe meanwhile must not matter either
        assert(vmlua.load_recipe(path, { share = share }))
        H.write(share .. "/hello-from-guest.txt", "hello from the vmlua guest\n")
        local rt = fake_sb(sb)
        rt.network = { forwards = { { host_port = 8080 } } }
        local out = io.stdout
        io.stdout = assert(io.open("/dev/null", "w")) -- luacheck: ignore
        local ok, err = pcall(sb.hooks.on_ready, rt)
        io.stdout:close()
        io.stdout = out -- luacheck: ignore
        assert(ok, err)
        return rt
      end

      it("stops once ready by default", function()
        assert.is_true(on_ready({}).stopped)
      end)

      it("--set keep=1 keeps it running", function()
        assert.is_nil(on_ready({ keep = "1" }).stopped)
      end)
    end)
  end
end)

describe("scripts/recipes/qemu-demo.lua shows the guest agent", function()
  after_each(H.cleanup_tmp)
  local path = H.root .. "/scripts/recipes/qemu-demo.lua"

  local function on_ready(fields)
    local share = H.tmpdir()
    local sb = assert(vmlua.load_recipe(path, { share = share }))
    H.write(share .. "/hello-from-guest.txt", "hello from the vmlua guest\n")
    local rt = fake_sb(sb)
    for k, v in pairs(fields) do rt[k] = v end
    local out = io.stdout
    local sink = H.tmpdir() .. "/out"
    io.stdout = assert(io.open(sink, "w")) -- luacheck: ignore
    local ok, err = pcall(sb.hooks.on_ready, rt)
    io.stdout:close()
    io.stdout = out -- luacheck: ignore
    assert(ok, err)
    return rt, H.read(sink)
  end

  it("runs uname in the guest with sb:exec and prints what came back", function()
    local rt, out = on_ready({})
    assert.are.same({ "uname", "-sr" }, rt.ran)
    assert.truthy(out:find("exit status 0) ---\nLinux 6.1.0\n", 1, true), out)
  end)

  it("leaves the command line to vmlua in a one-shot run and when detached", function()
    for _, fields in ipairs { { command = { "true" } }, { detached = true } } do
      local rt, out = on_ready(fields)
      assert.is_nil(rt.ran)
      assert.is_nil(rt.stopped)
      assert.are.equal("", out)
    end
  end)
end)

describe("scripts/recipes/qemu-template", function()
  local path = H.root .. "/scripts/recipes/qemu-template.lua"

  it("is a template with --set template=1, a plain sandbox without; no share either way", function()
    local t = assert(vmlua.load_recipe(path, { template = "1" }))
    assert.are.same({ mode = "template" }, t.snapshot)
    assert.are.same({}, t.shares)
    local plain = assert(vmlua.load_recipe(path, {}))
    assert.is_nil(plain.snapshot)
    assert.are.equal("serial", plain.ready[1].kind)
  end)

  it("gives microvm the host's TSC frequency under TCG", function()
    local sb = assert(vmlua.load_recipe(path, { machine = "microvm" }))
    assert.are.equal("microvm", sb.hypervisor.fields.machine.type)
    assert.truthy(tostring(sb.hypervisor.fields.kernel.params):find("tsc_early_khz=%d+"))
  end)
end)
