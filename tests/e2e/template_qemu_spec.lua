-- End to end, real QEMU (TCG), the guest kit without a share: templates.
-- One template sandbox boots once (setup) and is saved as template "base";
-- every test clones it. A clone maps the template's RAM file privately and
-- loads its device state: it does not boot, and answers at once.
--
-- "Answers on its own": without the guest agent, a clone proves it runs its
-- own guest by handling the ACPI power button: its init writes
-- "powering off (ACPI power button)" on its own serial console and QEMU
-- exits 0.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"
local templates = require "vmlua.sandbox.templates"

local RECIPE = H.root .. "/tests/e2e/recipes/noshare.lua"
local GUEST = H.root .. "/tests/e2e/recipes/guest.lua"

local function sha256(path)
  local p = assert(core.spawn { argv = { "sha256sum", path }, stdout = "pipe" })
  local line = p.stdout:read_line(120)
  p:wait(120)
  p:close()
  return line and line:match("^(%x+)")
end

local function rss_kib(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local kib = tonumber(f:read("a"):match("VmRSS:%s*(%d+) kB"))
  f:close()
  return kib
end

describe("templates (QEMU, real guest)", function()
  local w, ram
  setup(function()
    w = E.world()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=t0", "--set", "template=1", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    local out
    code, out, err = E.vmlua(w, { "template", "save", "t0", "base" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("t0 saved as template base", 1, true), out)
    ram = assert(templates.load(w.run, "base")).ram.path
  end)
  teardown(function()
    if w then
      for _, name in ipairs { "base", "copy", "busy", "trunc", "short" } do E.vmlua(w, { "template", "rm", name }) end
      local problems = E.leftovers(w)
      H.cleanup_tmp()
      assert.are.same({}, problems)
    end
  end)

  it("saved the template: the template sandbox stopped, its RAM in /dev/shm, the device state small", function()
    local st = E.state(w, "t0")
    assert.are.equal("stopped", st.status)
    assert.are.same({ how = "exited", code = 0 }, st.exit)
    -- the world's run dir is on disk: the RAM went to a memory-backed fs
    assert.truthy(ram:find("^/dev/shm/vmlua%.%d+%.%x+/base%.ram$"), ram)
    assert.are.equal(256 * 1048576, core.fs.stat(ram).size)
    local m = assert(templates.load(w.run, "base"))
    assert.are.equal("ready", m.status)
    assert.are.equal("qemu", m.hypervisor)
    assert.are.equal("t0", m.source.id)
    assert.truthy(m.files[1].size > 10000 and m.files[1].size < 2 * 1048576, m.files[1].size)
    local code, out = E.vmlua(w, { "template", "ls" })
    assert.are.equal(0, code)
    assert.truthy(out:find("base%s+ready%s+qemu%s+t0%s+256.0 MiB%s+/dev/shm/"), out)
    local jcode, json = E.vmlua(w, { "template", "ls", "--json" })
    assert.are.equal(0, jcode)
    assert.are.equal("ready", core.json.decode(json)[1].status)
  end)

  it("three clones at once: each ready and answering on its own, the template file unchanged", function()
    local before = sha256(ram)
    local runs = {}
    for i = 1, 3 do
      runs[i] = E.start(w, { "run", RECIPE, "--from", "base", "--set", "id=c" .. i, "--set", "keep=1", "-d" })
    end
    for i = 1, 3 do
      local code, out, err = runs[i]:finish(120)
      assert.are.equal(0, code, err)
      assert.are.equal("c" .. i .. "\n", out)
    end
    for i = 1, 3 do
      local st = E.state(w, "c" .. i)
      assert.are.equal("running", st.status)
      assert.are.same({ mode = "clone", name = "base", dir = w.run .. "/.templates/base", ram = ram }, st.snapshot)
      assert.truthy(rss_kib(st.pid) < 120 * 1024, rss_kib(st.pid)) -- a private mapping: only what it touched
      assert.is_false(E.booted(w.run .. "/c" .. i .. "/serial.log"))
    end
    for i = 1, 3 do
      local code, out, err = E.vmlua(w, { "stop", "c" .. i })
      assert.are.equal(0, code, err)
      assert.truthy(out:find("c" .. i .. " stopped: powerdown", 1, true), out)
      assert.truthy(E.read(w.run .. "/c" .. i .. "/serial.log"):find("powering off (ACPI power button)", 1, true))
    end
    assert.are.equal(before, sha256(ram))
  end)

  it("a clone's snapshot restores into a sandbox of the plain recipe (QEMU's own RAM)", function()
    assert.are.equal(0, (E.vmlua(w, { "run", RECIPE, "--from", "base", "--set", "id=cs", "--set", "keep=1", "-d" })))
    local dir = w.dir .. "/clone-snap"
    local code, out, err = E.vmlua(w, { "snapshot", "cs", dir, "--stop" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("cs saved in " .. dir, 1, true), out)
    assert.are.equal("stopped", E.state(w, "cs").status)
    code, out, err = E.vmlua(w, { "run", RECIPE, "--restore", dir, "--set", "id=plain", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    assert.are.equal("plain\n", out)
    code, out, err = E.vmlua(w, { "stop", "plain" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("plain stopped: powerdown", 1, true), out)
  end)

  it("check refuses: no such template, another config, shares, a template of a template sandbox's id", function()
    local code, _, err = E.vmlua(w, { "check", RECIPE, "--from", "nosuch" })
    assert.are.equal(2, code)
    assert.truthy(err:find("from: no template 'nosuch' in " .. w.run .. "/.templates", 1, true), err)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--from", "base", "--set", "id=big", "--set", "memory=512M" })
    assert.are.equal(2, code)
    assert.truthy(err:find("from: cannot start from template 'base': its hypervisor config differs in " ..
                           'memory.size (saved: "256M", here: "512M")', 1, true), err)
    assert.truthy(err:find("only ids and socket paths may differ", 1, true), err)
    code, _, err = E.vmlua(w, { "check", GUEST, "--set", "share=" .. w.share, "--set", "template=1" })
    assert.are.equal(2, code)
    assert.truthy(err:find("template: a sandbox with shares cannot be a template: virtio-fs", 1, true), err)
    code, _, err = E.vmlua(w, { "run", GUEST, "--set", "share=" .. w.share, "--from", "base" })
    assert.are.equal(2, code)
    assert.truthy(err:find("from: a sandbox with shares cannot be saved or restored: virtio-fs", 1, true), err)
    code, _, err = E.vmlua(w, { "check", RECIPE, "--from", "../x" })
    assert.are.equal(2, code)
    assert.truthy(err:find("--from: invalid template name", 1, true), err)
    code, _, err = E.vmlua(w, { "template", "save", "t0", "again" })
    assert.are.equal(2, code)
    assert.truthy(err:find("sandbox 't0' is not running (status stopped)", 1, true), err)
    assert.is_nil(E.state(w, "big"))
  end)

  -- A template made by hand from base's files: `ram` (a copy) and the
  -- manifest, with `change` applied.
  local function copy_template(name, change)
    local store = assert(templates.open(w.run))
    local m = assert(templates.load(w.run, "base"))
    local tdir = assert(store:dir_of(name))
    H.write(tdir .. "/state", assert(H.read(m.dir .. "/state")))
    local path = templates.saved_ram(w.run, name)
    local p = assert(core.spawn { argv = { "cp", m.ram.path, path } })
    assert.are.same({ "exited", 0 }, { p:wait(60) })
    p:close()
    m.dir = nil
    m.ram.path = path
    change(m, tdir)
    assert(store:save(name, m))
    store:close()
  end

  it("a template being saved, or whose save never finished, is refused; its lock keeps saves and removals out", function()
    local store = assert(templates.open(w.run))
    local lock = assert(store:lock("busy"))
    copy_template("busy", function(m)
      m.status, m.saver = "saving", { pid = core.getpid(), start_time = core.proc.start_time(core.getpid()) }
    end)
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--from", "busy", "--set", "id=early" })
    assert.are.equal(2, code)
    assert.truthy(err:find(string.format("from: template 'busy' is being saved (by pid %d)", core.getpid()), 1, true),
                  err)
    code, _, err = E.vmlua(w, { "template", "rm", "busy" })
    assert.are.equal(1, code)
    assert.truthy(err:find("template 'busy' is being saved or removed", 1, true), err)
    lock:close()
    store:close()
    -- the saver is gone: the template is incomplete
    copy_template("busy", function(m) m.status, m.saver = "saving", { pid = 999999999, start_time = 1 } end)
    code, _, err = E.vmlua(w, { "check", RECIPE, "--from", "busy" })
    assert.are.equal(2, code)
    assert.truthy(err:find("template 'busy' is incomplete (its save did not finish)", 1, true), err)
    local _, out = E.vmlua(w, { "template", "ls" })
    assert.truthy(out:find("busy%s+incomplete"), out)
    assert.are.equal(0, (E.vmlua(w, { "template", "rm", "busy" })))
    assert.is_nil(E.state(w, "early"))
    assert.are.same({}, E.strays(w.dir))
  end)

  it("a truncated state file: refused at check by its size, or by QEMU when the size was recorded so", function()
    copy_template("trunc", function(_, tdir)
      local s = assert(H.read(tdir .. "/state"))
      H.write(tdir .. "/state", s:sub(1, 4096))
    end)
    local code, _, err = E.vmlua(w, { "check", RECIPE, "--from", "trunc" })
    assert.are.equal(2, code)
    assert.truthy(err:find("/state is 4096 bytes, the save recorded %d+ %(truncated%?%)"), err)
    -- recorded truncated: QEMU cannot load it and exits; nothing is left
    copy_template("short", function(m, tdir)
      local s = assert(H.read(tdir .. "/state"))
      H.write(tdir .. "/state", s:sub(1, 4096))
      m.files[1].size = 4096
    end)
    local rcode, _, rerr = E.vmlua(w, { "run", RECIPE, "--from", "short", "--set", "id=short" })
    assert.are.equal(1, rcode)
    assert.truthy(rerr:find("hypervisor exited with status 1", 1, true), rerr)
    assert.truthy(rerr:find("load of migration failed", 1, true), rerr)
    assert.are.equal("failed", E.state(w, "short").status)
    assert.are.same({}, E.strays(w.dir))
  end)

  it("the template's RAM file deleted under a running clone: the clone runs on, a new clone is refused", function()
    copy_template("copy", function() end)
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--from", "copy", "--set", "id=cc", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    assert(os.remove(templates.saved_ram(w.run, "copy")))
    -- the clone keeps its private mapping of the deleted file
    local out
    code, out, err = E.vmlua(w, { "stop", "cc" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("cc stopped: powerdown", 1, true), out)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--from", "copy", "--set", "id=cc2" })
    assert.are.equal(2, code)
    assert.truthy(err:find("template 'copy' is incomplete: its RAM file: stat", 1, true), err)
    assert.is_nil(E.state(w, "cc2"))
    assert.are.equal(0, (E.vmlua(w, { "template", "rm", "copy" })))
  end)

  it("a template with user-mode networking clones; the clone's card has the template's MAC", function()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=n0", "--set", "net=user", "--set", "template=1",
                                      "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    local function mac(id)
      local qcode, out, qerr = E.vmlua(w, { "qmp", id, "query-rx-filter" })
      assert.are.equal(0, qcode, qerr)
      return core.json.decode(out)[1]["main-mac"]
    end
    local template_mac = mac("n0")
    assert.are.equal(0, (E.vmlua(w, { "template", "save", "n0", "net" })))
    code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "net=user", "--from", "net", "--set", "id=n1", "--set", "keep=1",
                                "-d" })
    assert.are.equal(0, code, err)
    -- vmlua gave n1 a MAC of its own on the command line; the device state brought the template's
    assert.are_not.equal(template_mac, E.state(w, "n1").network.mac)
    assert.are.equal(template_mac, mac("n1"))
    local out
    code, out, err = E.vmlua(w, { "stop", "n1" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("n1 stopped: powerdown", 1, true), out)
    assert.are.equal(0, (E.vmlua(w, { "template", "rm", "net" })))
  end)

  it("a microvm template clones too; an existing name and a sandbox that is no template are refused", function()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=m0", "--set", "machine=microvm",
                                      "--set", "template=1", "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    code, _, err = E.vmlua(w, { "template", "save", "m0", "base" })
    assert.are.equal(2, code)
    assert.truthy(err:find("template 'base' exists: remove it first", 1, true), err)
    code, _, err = E.vmlua(w, { "template", "save", "m0", "micro" })
    assert.are.equal(0, code, err)
    code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "machine=microvm", "--from", "micro", "--set", "id=mc",
                                "--set", "keep=1", "-d" })
    assert.are.equal(0, code, err)
    code, _, err = E.vmlua(w, { "template", "save", "mc", "x" })
    assert.are.equal(2, code)
    assert.truthy(err:find("sandbox 'mc' is not a template sandbox: its recipe needs template = true", 1, true), err)
    local out
    code, out, err = E.vmlua(w, { "stop", "mc" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("mc stopped: powerdown", 1, true), out)
    -- a q35 recipe cannot clone a microvm template
    code, _, err = E.vmlua(w, { "check", RECIPE, "--from", "micro" })
    assert.are.equal(2, code)
    assert.truthy(err:find('machine.type (saved: "microvm", here: "q35")', 1, true), err)
    assert.are.equal(0, (E.vmlua(w, { "template", "rm", "micro" })))
  end)
end)
