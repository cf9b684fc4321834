-- How to test your own recipe with busted, without any hypervisor.
--
-- Loading a recipe starts nothing: vmlua.load_recipe() runs the file and
-- returns the sandbox description, and vmlua.sandbox.plan computes the full plan
-- (every command line with the sandbox's sockets wired in, as `vmlua plan`
-- prints it) without creating a file. So a recipe's logic -- its --set
-- arguments, kernel parameters, devices, readiness and stop policy -- can be
-- checked like any other Lua code. Copy this file next to your recipe, set
-- RECIPE below to the recipe's file name and run, in that directory:
--
--   vmlua test recipe_example_spec.lua
--
-- (`vmlua test` runs busted with vmlua's Lua 5.4 and modules; in vmlua's
-- source tree: build/vmlua test tests/unit/recipe_example_spec.lua.)
local vmlua = require "vmlua"
local sandbox_plan = require "vmlua.sandbox.plan"

-- The recipe under test, next to this file (in vmlua's source tree, the
-- original in scripts/recipes/).
local RECIPE = "qemu-demo.lua"

local function find_recipe(name)
  local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
  for _, dir in ipairs({ here, here .. "../../scripts/recipes/" }) do
    local f = io.open(dir .. name, "r")
    if f then
      f:close()
      return dir .. name
    end
  end
  error(string.format("%s not found next to this spec (%s)", name, here == "" and "." or here))
end
RECIPE = find_recipe(RECIPE)

local function argv_string(sb)
  local plan = sandbox_plan.plan(sb, { run_dir = "/run/vmlua-test" })
  return table.concat(plan.hypervisor.argv, " "), plan
end

describe("the qemu-demo recipe", function()
  it("loads and describes a QEMU sandbox", function()
    local sb = assert(vmlua.load_recipe(RECIPE, {}))
    assert.are.equal("demo", sb.id)
    assert.are.equal("qemu", sb.kind)
    assert.are.equal(1, #sb.shares)
    assert.are.equal("vmlua", sb.shares[1].tag)
  end)

  it("takes its id and accelerator from --set", function()
    local sb = assert(vmlua.load_recipe(RECIPE, { id = "web1", accel = "kvm" }))
    assert.are.equal("web1", sb.id)
    local argv = argv_string(sb)
    assert.truthy(argv:find("-machine q35,accel=kvm", 1, true))
  end)

  it("wires the share: virtiofsd first, then QEMU with shared memory and the device", function()
    local sb = assert(vmlua.load_recipe(RECIPE, { share = "/srv/share" }))
    local argv, plan = argv_string(sb)
    assert.are.equal("virtiofsd-vmlua", plan.processes[1].name)
    assert.truthy(table.concat(plan.processes[1].argv, " "):find("source=/srv/share", 1, true))
    assert.truthy(argv:find("memory-backend-memfd,id=vmlua-ram,size=256M,share=on", 1, true))
    assert.truthy(argv:find("vhost-user-fs-pci,chardev=vmlua-fs0,tag=vmlua", 1, true))
    assert.truthy(argv:find("-chardev socket,id=vmlua-fs0,path=/run/vmlua-test/demo/vfs1.sock", 1, true))
  end)

  it("boots the guest kit with the serial console and the share's tag on the command line", function()
    local sb = assert(vmlua.load_recipe(RECIPE, { guest = "/opt/guest" }))
    local argv = sb.hypervisor:argv() -- the builder alone, before vmlua wires anything in
    local kernel, append
    for i, a in ipairs(argv) do
      if a == "-kernel" then kernel = argv[i + 1] end
      if a == "-append" then append = argv[i + 1] end
    end
    assert.are.equal("/opt/guest/vmlinux", kernel)
    assert.truthy(append:find("console=ttyS0", 1, true))
    assert.truthy(append:find("vmlua.share=vmlua", 1, true))
  end)

  it("waits for the guest's marker on the serial console and stops by the power button", function()
    local sb = assert(vmlua.load_recipe(RECIPE, {}))
    assert.are.same({ kind = "serial", text = "VMLUA-GUEST-READY", timeout = 60 },
                    { kind = sb.ready[1].kind, text = sb.ready[1].text, timeout = sb.ready[1].timeout })
    local steps = {}
    for i, s in ipairs(sb.stop) do steps[i] = s.name end
    assert.are.same({ "powerdown", "quit", "term", "kill" }, steps)
  end)

  it("passes vmlua's own validation (the hypervisor config, socket paths)", function()
    local sb = assert(vmlua.load_recipe(RECIPE, {}))
    local plan = sandbox_plan.plan(sb, { run_dir = "/run/vmlua-test" })
    assert.are.same({}, plan.errors)
    assert.is_true(plan.config:validate())
  end)

  it("a typo in a --set value the recipe uses becomes an error naming the field", function()
    local sb, err = vmlua.load_recipe(RECIPE, { id = "bad id" })
    assert.is_nil(sb)
    assert.truthy(err:find('id: invalid sandbox id "bad id"', 1, true), err)
  end)
end)
