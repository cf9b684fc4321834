-- The example recipes in scripts/recipes/: their hooks run long after the
-- recipe was loaded, when vmlua.args no longer holds this run's --set
-- values; they must read them from sb.args.
local vmlua = require "vmlua"
local H = require "support.h"

--- A stand-in for the runtime a hook receives.
local function fake_sb(sb)
  return { id = sb.id, args = sb.args, stop = function(self) self.stopped = true end }
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
