-- End to end on the fake cloud-hypervisor (tests/fakes/fake-cloud-hypervisor):
-- `vmlua snapshot` (vm.pause, vm.snapshot to file://DIR, vm.resume) and `run
-- --restore DIR` (cloud-hypervisor --restore source_url=file://<sandbox
-- dir>/restore, a copy of the snapshot's config.json naming this sandbox's
-- files, then vm.resume); templates refused, naming cloud-hypervisor.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/fixtures/recipes/fake-clh.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

local function run(w, id, extra)
  local a = { "run", RECIPE, "--set", "fake=" .. FAKE, "--set", "id=" .. id, "--set", "keep=1", "-d" }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return E.vmlua(w, a)
end

local function vm_state(w, id)
  local code, out, err = E.vmlua(w, { "api", id, "vm.info" })
  assert.are.equal(0, code, err)
  return core.json.decode(out).state
end

describe("snapshots (cloud-hypervisor, fake VMM)", function()
  local w
  setup(function()
    w = E.world()
    local code, _, err = run(w, "f1")
    assert.are.equal(0, code, err)
  end)
  teardown(function()
    if w then
      E.vmlua(w, { "stop", "f1" })
      local problems = E.leftovers(w)
      H.cleanup_tmp()
      assert.are.same({}, problems)
    end
  end)

  it("saves a running VM, resumes it, and restores it into a new sandbox with its own files", function()
    local dir = w.dir .. "/snap"
    local code, out, err = E.vmlua(w, { "snapshot", "f1", dir })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("f1 saved in " .. dir, 1, true), out)
    assert.are.equal("Running", vm_state(w, "f1"))
    assert.are.same({ "config.json", "memory-ranges", "state.json", "vmlua-snapshot.json" }, core.fs.list(dir))
    local m = core.json.decode(H.read(dir .. "/vmlua-snapshot.json"))
    assert.are.equal("clh", m.hypervisor)
    assert.are.equal(3, #m.files)

    code, out, err = run(w, "f2", { "--restore", dir })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("f2\n", 1, true), out)
    local st = E.state(w, "f2")
    assert.are.same({ FAKE, "--api-socket", "path=" .. w.run .. "/f2/api.sock", "-v", "--restore",
                      "source_url=file://" .. w.run .. "/f2/restore" }, st.processes.hypervisor.argv)
    assert.are.equal("Running", vm_state(w, "f2"))
    -- the restored VM writes this sandbox's serial log, not f1's
    local cfg = core.json.decode(H.read(w.run .. "/f2/restore/config.json"))
    assert.are.equal(w.run .. "/f2/serial.log", cfg.serial.file)
    assert.are.equal(dir .. "/state.json", core.fs.readlink(w.run .. "/f2/restore/state.json"))
    assert.truthy(core.fs.exists(w.run .. "/f2/serial.log"))
    code, out, err = E.vmlua(w, { "stop", "f2" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("f2 stopped: powerdown", 1, true), out)
  end)

  it("refuses templates and clones, naming cloud-hypervisor; and a snapshot of another config", function()
    local code, _, err = E.vmlua(w, { "check", RECIPE, "--set", "fake=" .. FAKE, "--set", "template=1" })
    assert.are.equal(2, code)
    assert.truthy(err:find("template: cloud-hypervisor cannot keep templates: it restores guest RAM", 1, true), err)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "fake=" .. FAKE, "--from", "base" })
    assert.are.equal(2, code)
    assert.truthy(err:find("from: cloud-hypervisor cannot start clones of templates", 1, true), err)
    code, _, err = run(w, "big", { "--restore", w.dir .. "/snap", "--set", "memory=256M" })
    assert.are.equal(2, code)
    assert.truthy(err:find('memory.size (saved: "128M", here: "256M")', 1, true), err)
    assert.is_nil(E.state(w, "big"))
  end)

  it("a snapshot whose config.json no longer matches its state: the VMM's refusal ends the start cleanly", function()
    local dir, bad = w.dir .. "/snap", w.dir .. "/edited"
    assert(core.fs.mkdir(bad, tonumber("700", 8)))
    for _, name in ipairs(core.fs.list(dir)) do H.write(bad .. "/" .. name, H.read(dir .. "/" .. name)) end
    local cfg = core.json.decode(H.read(bad .. "/config.json"))
    cfg.cpus.boot_vcpus, cfg.cpus.max_vcpus = 2, 2
    H.write(bad .. "/config.json", core.json.encode(cfg))
    -- the manifest records the file's size: keep it right
    local m = core.json.decode(H.read(bad .. "/vmlua-snapshot.json"))
    for _, f in ipairs(m.files) do f.size = core.fs.stat(bad .. "/" .. f.name).size end
    H.write(bad .. "/vmlua-snapshot.json", core.json.encode(m))
    local code, _, err = run(w, "f3", { "--restore", bad })
    assert.are.equal(1, code)
    assert.truthy(err:find("The snapshot's config.json does not match its state.json", 1, true), err)
    assert.are.equal("failed", E.state(w, "f3").status)
    assert.are.same({}, E.strays(w.run .. "/f3"))
  end)

  it("--stop ends the VMM once saved", function()
    local code, out, err = E.vmlua(w, { "snapshot", "f1", w.dir .. "/last", "--stop" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("; stopped\n", 1, true), out)
    local st = E.state(w, "f1")
    assert.are.equal("stopped", st.status)
    assert.are.same({ how = "exited", code = 0 }, st.exit)
  end)
end)
