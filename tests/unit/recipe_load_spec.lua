-- vmlua.load_recipe hands an explicit load context ({ path, dir, arg, args,
-- id }) to vmlua.sandbox{}: no globals are read back, and errors name the
-- recipe's line of the vmlua.sandbox{} call, a tail call included.
local vmlua = require "vmlua"
local plan_mod = require "vmlua.sandbox.plan"
local H = require "support.h"

local function recipe(dir, name, text)
  local path = dir .. "/" .. name
  H.write(path, text)
  return path
end

local HEAD = 'local vmlua = require "vmlua"\nlocal qemu = require "vmlua.qemu"\n'

describe("vmlua.load_recipe", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup_tmp() end)

  it("names the line of `return vmlua.sandbox{...}` (a tail call)", function()
    local path = recipe(dir, "tail.lua", HEAD .. "\n\nreturn vmlua.sandbox {\n  id = 'x', hypervisor = qemu.config {},\n" ..
                        "  shares = { { tagg = 'a', source = '.' } },\n}\n")
    local sb, err = vmlua.load_recipe(path)
    assert.is_nil(sb)
    assert.are.equal(path .. ":5: shares[1].tagg: unknown field (did you mean 'tag'?)", err)
  end)

  it("names the line of a call that is not a tail call, and of a call in a helper function", function()
    local path = recipe(dir, "local.lua", HEAD .. "local sb = vmlua.sandbox { id = 'x', hypervisor = qemu.config {},\n" ..
                        "  stop = { 'nap' } }\nreturn sb\n")
    local _, err = vmlua.load_recipe(path)
    assert.are.equal(path .. ":3: stop[1]: unknown stop step \"nap\" (QEMU stop steps: powerdown, quit, term, kill)", err)
    path = recipe(dir, "helper.lua", HEAD .. "local function make(id)\n  return vmlua.sandbox { id = id, hypervisor = 1 }\n" ..
                  "end\nreturn make('x')\n")
    _, err = vmlua.load_recipe(path)
    assert.truthy(err:find(path .. ":4: hypervisor: expected a hypervisor builder", 1, true), err)
  end)

  it("keeps the path as given in messages (a relative recipe path)", function()
    recipe(dir, "rel.lua", HEAD .. "return vmlua.sandbox { id = 'x', hypervisor = qemu.config {}, ready = {} }\n")
    local cwd = os.getenv("PWD")
    local rel = dir:sub(#cwd + 2)
    if dir:sub(1, #cwd + 1) ~= cwd .. "/" then rel = dir end
    local _, err = vmlua.load_recipe(rel .. "/rel.lua")
    assert.truthy(err:find("^" .. (rel .. "/rel.lua:3: ready"):gsub("%p", "%%%0")), err)
  end)

  it("gives the sandbox its context: path, dir, args and the --id that wins", function()
    local path = recipe(dir, "ctx.lua", HEAD .. [[
return vmlua.sandbox { id = vmlua.args.name or "recipe-id", hypervisor = qemu.config {},
  description = vmlua.sandbox_dir("recipe-id") }
]])
    local sb = assert(vmlua.load_recipe(path, { name = "from-set" }, { id = "from-cli" }))
    assert.are.equal("from-set", sb.id)
    assert.are.equal(path, sb.recipe)
    assert.are.equal(dir, sb.base_dir)
    assert.are.same({ name = "from-set" }, sb.args)
    assert.are.equal("from-cli", sb.load.id)
    -- sandbox_dir during the load honours --id, and so does the plan
    assert.truthy(sb.description:match("/from%-cli$"), sb.description)
    local plan = plan_mod.plan(sb, { run_dir = "/run/t" })
    assert.are.equal("from-cli", plan.id)
    assert.are.equal("/run/t/from-cli", plan.dir)
    -- without --id, the recipe's id
    sb = assert(vmlua.load_recipe(path, {}))
    assert.are.equal("recipe-id", plan_mod.plan(sb, { run_dir = "/run/t" }).id)
  end)

  it("a recipe that loads another keeps each context", function()
    local inner = recipe(dir, "inner.lua", HEAD .. "return vmlua.sandbox { id = 'inner', hypervisor = qemu.config {} }\n")
    local outer = recipe(dir, "outer.lua", HEAD .. string.format([[
local other = assert(vmlua.load_recipe(%q, { which = "inner" }))
return vmlua.sandbox { id = "outer", hypervisor = qemu.config {}, description = other.args.which }
]], inner))
    local sb = assert(vmlua.load_recipe(outer, { which = "outer" }))
    assert.are.equal("inner", sb.description)
    assert.are.same({ which = "outer" }, sb.args)
    assert.are.equal(outer, sb.recipe)
  end)

  it("a sandbox built outside any load has an empty context", function()
    local sb = vmlua.sandbox { id = "bare", hypervisor = require("vmlua.qemu").config {} }
    assert.are.same({}, sb.args)
    assert.is_nil(sb.recipe)
    assert.are.equal(os.getenv("PWD"), sb.base_dir)
  end)

  it("errors from vmlua.sandbox{} outside a load name this file's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() return vmlua.sandbox { id = "bad id" } end)
    assert.is_false(ok)
    assert.truthy(err:find("recipe_load_spec.lua:" .. line .. ": hypervisor: missing", 1, true), err)
  end)
end)
