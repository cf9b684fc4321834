-- Values that reach an option string and cannot go there are plan
-- problems named by the recipe's field (check and run report them with the
-- recipe's file:line and exit 2), never a Lua error out of the plan.
local H = require "support.h"
local vmlua = require "vmlua"
local control = require "vmlua.sandbox.control"
local virtiofsd = require "vmlua.virtiofsd"

local function load(body)
  local path = H.tmpdir() .. "/r.lua"
  H.write(path, 'local vmlua = require "vmlua"\nlocal qemu = require "vmlua.qemu"\n' .. body)
  return assert(vmlua.load_recipe(path, {}))
end

local QEMU = 'qemu.config { machine = { type = "q35" }, memory = { size = "128M" }, kernel = { path = "/dev/null" } }'

describe("plan problems", function()
  after_each(H.cleanup_tmp)

  it("a share source with a comma for the C virtiofsd: shares[i].source", function()
    local sb = load('return vmlua.sandbox { id = "x", hypervisor = ' .. QEMU .. ',\n' ..
                    '  shares = { { tag = "t", source = "/srv/a,b", virtiofsd = { flavor = "c" } } } }')
    local plan = control.plan(sb, { run_dir = "/run/vmlua-test" })
    assert.are.same({ "shares[1].source: must not contain ',' for the C virtiofsd (its -o options split at ',')" },
                    plan.errors)
    local problems = control.problems(sb, plan)
    assert.truthy(problems[1]:find("r.lua:3: shares[1].source: must not contain ','", 1, true), problems[1])
  end)

  it("an option of another flavour: shares[i].virtiofsd.<field>", function()
    local sb = load('return vmlua.sandbox { id = "x", hypervisor = ' .. QEMU .. ',\n' ..
                    '  shares = { { tag = "t", source = "/srv", virtiofsd = { flavor = "legacy", sandbox = "chroot" } } } }')
    local plan = control.plan(sb, { run_dir = "/run/vmlua-test" })
    assert.are.same({ "shares[1].virtiofsd.sandbox: the legacy virtiofsd always uses namespaces and has no other mode" },
                    plan.errors)
  end)

  it("a hypervisor config edited by hand into one it cannot launch: hypervisor", function()
    local sb = load('local cfg = ' .. QEMU .. '\ncfg.fields.machine.type = "q,35"\n' ..
                    'return vmlua.sandbox { id = "x", hypervisor = cfg }')
    local plan = control.plan(sb, { run_dir = "/run/vmlua-test" })
    local problems = control.problems(sb, plan)
    assert.truthy(table.concat(problems, "\n"):find("r.lua:5: hypervisor: machine.type: must not contain ','", 1, true),
                  table.concat(problems, "\n"))
  end)

  it("virtiofsd.new and cfg:command say what config{} and :argv() raise", function()
    assert.are.same({ nil, "source: missing (required)" }, { virtiofsd.new { socket = "/s" } })
    local cfg = assert(virtiofsd.new { flavor = "c", socket = "/s", source = "/a,b" })
    local argv, err = cfg:command()
    assert.is_nil(argv)
    assert.are.equal("source: must not contain ',' for the C virtiofsd (its -o options split at ',')", err)
    assert.are.same({ "virtiofsd", "--socket-path=/s", "-o", "source=/srv", "-o", "cache=auto" },
                    virtiofsd.new { flavor = "c", socket = "/s", source = "/srv", cache = "auto" }:command())
    assert.has_error(function() virtiofsd.new("x") end)
  end)
end)
