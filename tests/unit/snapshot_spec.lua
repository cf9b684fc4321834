-- Snapshots and templates without a VM: the config fingerprint, manifests
-- (read from disk: damaged or foreign ones are refused with a message), the
-- recipe fields, the plan, the template store and the CLI's usage errors.
local core = require "vmlua.core"
local H = require "support.h"
local qemu = require "vmlua.qemu"
local params = require "vmlua.params"
local sandbox = require "vmlua.sandbox"
local plan_mod = require "vmlua.sandbox.plan"
local fingerprint = require "vmlua.sandbox.fingerprint"
local saved = require "vmlua.sandbox.saved"
local templates = require "vmlua.sandbox.templates"
local snapshot = require "vmlua.sandbox.snapshot"
local qemu_driver = require "vmlua.driver.qemu"

local function config(extra)
  local t = { machine = { type = "q35", accel = "tcg" }, memory = { size = "256M" },
              kernel = { path = "/k/vmlinux", params = params.new("console=ttyS0 quiet") } }
  for k, v in pairs(extra or {}) do t[k] = v end
  return qemu.config(t)
end

describe("the config fingerprint", function()
  it("is the fields as plain data, the sandbox's own dir and id made placeholders", function()
    local cfg = config { name = "vm7", fds = { io.stdout } }
    assert(cfg:set_control_socket("/run/vmlua/vm7/qmp.sock"))
    assert(cfg:set_serial_file("/run/vmlua/vm7/serial.log"))
    local fp = fingerprint.of(cfg, { dir = "/run/vmlua/vm7", id = "vm7" })
    assert.are.equal("<sandbox dir>/qmp.sock", fp.qmp_sockets[1].name)
    assert.are.equal("<sandbox dir>/serial.log", fp.devices[1].file)
    assert.are.equal("<id>", fp.name)
    assert.are.equal("console=ttyS0 quiet", fp.kernel.params)
    assert.are.equal("<open file>", fp.fds[1])
    -- the same config in another sandbox has the same fingerprint
    local other = config { name = "vm8", fds = { io.stdout } }
    assert(other:set_control_socket("/srv/x/vm8/qmp.sock"))
    assert(other:set_serial_file("/srv/x/vm8/serial.log"))
    local fp2 = fingerprint.of(other, { dir = "/srv/x/vm8", id = "vm8" })
    assert.are.equal(fingerprint.hash(fp), fingerprint.hash(fp2))
    assert.are.same({}, fingerprint.diff(fp, fp2))
  end)

  it("hashes independently of key order and of 256 vs 256.0; 16 hex digits", function()
    local a = { x = 1, y = { 2, 3 }, z = "s" }
    local b = { z = "s", y = { 2, 3.0 }, x = 1.0 }
    assert.are.equal(fingerprint.hash(a), fingerprint.hash(b))
    assert.truthy(fingerprint.hash(a):match("^%x+$") and #fingerprint.hash(a) == 16)
    assert.are_not.equal(fingerprint.hash(a), fingerprint.hash { x = 2, y = { 2, 3 }, z = "s" })
    assert.are.equal("cbf29ce484222325", fingerprint.fnv1a(""))
    assert.are.equal("af63dc4c8601ec8c", fingerprint.fnv1a("a"))
  end)

  it("names the fields that differ, saved against here", function()
    local saved_fp = fingerprint.of(config(), { dir = "/d", id = "a" })
    local here = fingerprint.of(config { memory = { size = "512M" }, smp = { cpus = 2 } }, { dir = "/d", id = "b" })
    local diffs = fingerprint.diff(saved_fp, here)
    assert.are.same({ { field = "memory.size", saved = "256M", here = "512M" },
                      { field = "smp", saved = nil, here = { cpus = 2 } } }, diffs)
    assert.are.equal('memory.size (saved: "256M", here: "512M"), smp (saved: absent, here: a table)',
                     fingerprint.describe(diffs))
    assert.are.equal('memory.size (saved: "256M", here: "512M"), and 1 more', fingerprint.describe(diffs, 1))
  end)
end)

describe("manifests", function()
  local function good()
    return { format = 1, kind = "snapshot", hypervisor = "qemu", config = { hash = "00", fingerprint = {} },
             files = { { name = "state", size = 3 } } }
  end

  it("are checked field by field", function()
    assert.truthy(saved.check(good(), "m"))
    local cases = {
      { function(m) m.format = 2 end, "m: format 2 is not supported (expected 1)" },
      { function(m) m.kind = "x" end, 'm: kind is missing or not "snapshot" or "template"' },
      { function(m) m.hypervisor = 1 end, "m: hypervisor is missing or not a string" },
      { function(m) m.status = "done" end, 'm: status is missing or not "saving" or "ready"' },
      { function(m) m.config = { hash = 1 } end, "m: config is missing or not { hash, fingerprint }" },
      { function(m) m.files = "state" end, "m: files is missing or not a list" },
      { function(m) m.files[1].name = "../x" end, "m: files[1] is missing or not { name, size }" },
      { function(m) m.files[1].size = -1 end, "m: files[1] is missing or not { name, size }" },
      { function(m) m.ram = { path = "rel", size = 1 } end, "m: ram is missing or not { path (absolute), size }" },
      { function(m) m.saver = { pid = "1" } end, "m: saver is missing or not { pid, start_time }" },
    }
    for _, c in ipairs(cases) do
      local m = good()
      c[1](m)
      assert.are.same({ nil, c[2] }, { saved.check(m, "m") })
    end
    assert.are.same({ nil, "m: not a JSON object" }, { saved.check("x", "m") })
  end)

  describe("of a snapshot dir", function()
    local dir
    before_each(function() dir = H.tmpdir() end)
    after_each(H.cleanup_tmp)

    it("are written crash-safe and read back; a damaged or foreign one is refused", function()
      assert.is_true(saved.write_snapshot(dir, good()))
      assert.are.same({ saved.SNAPSHOT_FILE }, core.fs.list(dir))
      H.write(dir .. "/state", "abc")
      local m = assert(saved.read_snapshot(dir))
      assert.is_true(saved.check_files(m, dir))
      H.write(dir .. "/state", "ab")
      assert.are.same({ nil, dir .. "/state is 2 bytes, the save recorded 3 (truncated?)" },
                      { saved.check_files(m, dir) })
      os.remove(dir .. "/state")
      local ok, err = saved.check_files(m, dir)
      assert.is_nil(ok)
      assert.truthy(err:find("stat " .. dir .. "/state: No such file", 1, true), err)
      H.write(dir .. "/" .. saved.SNAPSHOT_FILE, "{not json")
      ok, err = saved.read_snapshot(dir)
      assert.is_nil(ok)
      assert.truthy(err:find("vmlua-snapshot.json: not JSON", 1, true), err)
      local t = good()
      t.kind = "template"
      H.write(dir .. "/" .. saved.SNAPSHOT_FILE, core.json.encode(t))
      assert.are.same({ nil, dir .. "/vmlua-snapshot.json: not a snapshot (kind template)" },
                      { saved.read_snapshot(dir) })
      H.write(dir .. "/" .. saved.SNAPSHOT_FILE, string.rep(" ", 1048577))
      assert.are.same({ nil, dir .. "/vmlua-snapshot.json: too large for a manifest" }, { saved.read_snapshot(dir) })
      assert.are.same({ nil, dir .. "/nope: no such directory" }, { saved.read_snapshot(dir .. "/nope") })
      H.write(dir .. "/file", "")
      assert.are.same({ nil, dir .. "/file: not a directory" }, { saved.read_snapshot(dir .. "/file") })
      os.remove(dir .. "/" .. saved.SNAPSHOT_FILE)
      assert.are.same({ nil, dir .. ": not a vmlua snapshot (no vmlua-snapshot.json)" }, { saved.read_snapshot(dir) })
    end)
  end)

  it("never raise on damaged input: 3000 random mutations of a manifest, as tables and as bytes", function()
    local dir = H.tmpdir()
    finally(H.cleanup_tmp)
    local values = { 1, -1, 2 ^ 63, 0.5, "", "x", "../../etc", true, false, {}, { 1, 2 }, { name = 1 },
                     core.json.null }
    local seed = os.time()
    math.randomseed(seed)
    local text = core.json.encode(good())
    for i = 1, 3000 do
      local m = good()
      local keys = { "format", "kind", "hypervisor", "status", "config", "files", "ram", "saver", "source" }
      for _ = 1, math.random(1, 3) do
        local target = math.random(2) == 1 and m or (type(m.files) == "table" and m.files[1] or m)
        if type(target) == "table" then target[keys[math.random(#keys)]] = values[math.random(#values)] end
      end
      local ok, res, err = pcall(saved.check, m, "m")
      assert(ok, string.format("seed %d, case %d: saved.check raised: %s", seed, i, tostring(res)))
      assert(res == m or (res == nil and type(err) == "string"), "seed " .. seed)
      -- as bytes: cut, with a byte changed
      local bytes = text:sub(1, math.random(0, #text))
      if #bytes > 0 then
        local at = math.random(#bytes)
        bytes = bytes:sub(1, at - 1) .. string.char(math.random(0, 255)) .. bytes:sub(at + 1)
      end
      H.write(dir .. "/" .. saved.SNAPSHOT_FILE, bytes)
      local rok, rres, rerr = pcall(saved.read_snapshot, dir)
      assert(rok, string.format("seed %d, case %d: read_snapshot raised: %s", seed, i, tostring(rres)))
      assert(rres ~= nil or type(rerr) == "string", "seed " .. seed)
    end
  end)

  it("say whether a sandbox can start from them", function()
    local fp = fingerprint.of(config(), { dir = "/d", id = "a" })
    local m = good()
    m.config = { hash = fingerprint.hash(fp), fingerprint = fp }
    assert.is_true(saved.compatible(m, qemu_driver, fp))
    local big = fingerprint.of(config { memory = { size = "1G" } }, { dir = "/d", id = "a" })
    assert.are.same({ nil, 'its hypervisor config differs in memory.size (saved: "256M", here: "1G") '
                      .. "(only ids and socket paths may differ)" }, { saved.compatible(m, qemu_driver, big) })
    m.hypervisor = "clh"
    assert.are.same({ nil, "it was saved from cloud-hypervisor, this sandbox runs QEMU" },
                    { saved.compatible(m, qemu_driver, fp) })
  end)
end)

describe("the recipe fields template, from, restore", function()
  local function err_of(spec)
    local ok, err = pcall(sandbox.new, spec, { dir = "/recipes" }, "r.lua:3")
    assert.is_false(ok)
    return err
  end

  it("take one mode; from is a template name; restore is relative to the recipe", function()
    assert.are.same({ mode = "template" }, sandbox.new({ id = "a", hypervisor = config(), template = true }, {}).snapshot)
    assert.are.same({ mode = "clone", name = "base" },
                    sandbox.new({ id = "a", hypervisor = config(), from = "base" }, {}).snapshot)
    assert.are.same({ mode = "restore", dir = "/recipes/snaps/one" },
                    sandbox.new({ id = "a", hypervisor = config(), restore = "snaps/one" }, { dir = "/recipes" }).snapshot)
    assert.is_nil(sandbox.new({ id = "a", hypervisor = config() }, {}).snapshot)
    assert.are.equal("r.lua:3: from: give one of template, from and restore, not both template and from",
                     err_of { id = "a", hypervisor = config(), template = true, from = "x" })
    assert.are.equal("r.lua:3: restore: give one of template, from and restore, not both from and restore",
                     err_of { id = "a", hypervisor = config(), from = "x", restore = "/d" })
    assert.truthy(err_of { id = "a", hypervisor = config(), from = "../x" }
                  :find("r.lua:3: from: invalid template name '../x'", 1, true))
    assert.are.equal("r.lua:3: template: expected true or false, got \"yes\"",
                     err_of { id = "a", hypervisor = config(), template = "yes" })
  end)

  it("run --from / --restore replace the recipe's; both at once is a usage error", function()
    local sb = sandbox.new({ id = "a", hypervisor = config(), template = true }, {})
    assert.is_true(snapshot.override(sb, { from = "base" }))
    assert.are.same({ mode = "clone", name = "base" }, sb.snapshot)
    assert.is_true(snapshot.override(sb, { restore = "/abs/dir" }))
    assert.are.same({ mode = "restore", dir = "/abs/dir" }, sb.snapshot)
    assert.is_true(snapshot.override(sb, { restore = "rel" }))
    assert.are.equal(core.fs.realpath(".") .. "/rel", sb.snapshot.dir)
    assert.are.same({ nil, "--from and --restore: give one of them" },
                    { snapshot.override(sb, { from = "a", restore = "b" }) })
    local ok, err = snapshot.override(sb, { from = "a b" })
    assert.is_nil(ok)
    assert.truthy(err:find("--from: invalid template name", 1, true), err)
  end)
end)

describe("the plan of a template, a clone and a restore", function()
  local run
  before_each(function() run = H.tmpdir() .. "/run" end)
  after_each(H.cleanup_tmp)

  it("a template keeps its RAM in a shared file of the RAM dir", function()
    local sb = sandbox.new({ id = "t", hypervisor = config(), template = true }, {})
    local plan = plan_mod.plan(sb, { run_dir = run })
    assert.are.same({}, plan.errors)
    local ram = templates.running_ram(run, "t")
    assert.are.same({ mode = "template", ram = ram }, plan.snapshot)
    local argv = table.concat(plan.hypervisor.argv, " ")
    assert.truthy(argv:find("-object memory-backend-file,id=pc.ram,mem-path=" .. ram .. ",size=256M,share=on", 1,
                            true), argv)
    assert.truthy(argv:find("-machine q35,accel=tcg,memory-backend=pc.ram", 1, true), argv)
    assert.are.equal("qmp", plan.ready[1].kind) -- its own readiness (here the default) stays
    assert.is_table(plan.fingerprint)
  end)

  it("a disk the guest writes and a tap are refused; a MAC made from the id is the sandbox's own", function()
    local img = H.tmpdir() .. "/disk.raw"
    H.write(img, "")
    local function errors(spec)
      spec.id, spec.hypervisor, spec.template = spec.id or "t", config(), true
      return plan_mod.plan(sandbox.new(spec, {}), { run_dir = run })
    end
    local plan = errors { disks = { { image = img } } }
    assert.are.same({ "disks[1]: a disk the guest writes cannot be in a snapshot or a template: its contents are "
                      .. "not saved with the VM; make it read_only (template)" }, plan.errors)
    assert.are.same({}, errors { disks = { { image = img, read_only = true } } }.errors)
    plan = errors { network = { mode = "tap" } }
    assert.truthy(plan.errors[1]:find("^network: a tap network cannot be in a snapshot or a template"), plan.errors[1])
    -- user-mode: the MAC vmlua makes from the id differs per sandbox, and is no difference
    local a = errors { id = "a", network = { mode = "user" } }
    local b = errors { id = "b", network = { mode = "user" } }
    assert.are.same({}, a.errors)
    assert.are_not.equal(a.network.mac, b.network.mac)
    assert.are.same({}, fingerprint.diff(a.fingerprint, b.fingerprint))
    local given = errors { id = "c", network = { mode = "user", mac = "52:54:00:12:34:56" } }
    assert.truthy(core.json.encode(given.fingerprint):find("52:54:00:12:34:56", 1, true)) -- the recipe's: config
  end)

  it("a missing template or snapshot is a problem of the plan; shares refuse every mode", function()
    local sb = sandbox.new({ id = "c", hypervisor = config(), from = "base" }, {})
    local plan = plan_mod.plan(sb, { run_dir = run })
    assert.are.same({ "from: no template 'base' in " .. run .. "/.templates ('vmlua template ls' lists them)" },
                    plan.errors)
    sb = sandbox.new({ id = "r", hypervisor = config(), restore = "/nonexistent/snap" }, {})
    plan = plan_mod.plan(sb, { run_dir = run })
    assert.are.same({ "restore: /nonexistent/snap: no such directory" }, plan.errors)
    assert.are.equal("qmp", plan.ready[1].kind) -- the recipe's default, as nothing is restored
    sb = sandbox.new({ id = "s", hypervisor = config(), template = true,
                       shares = { { tag = "t", source = "/tmp" } } }, {})
    plan = plan_mod.plan(sb, { run_dir = run })
    assert.truthy(plan.errors[1]:find("^template: a sandbox with shares cannot be a template: virtio%-fs"),
                  plan.errors[1])
    assert.is_nil(plan.fingerprint)
    assert.is_nil(plan.snapshot)
  end)
end)

describe("the template store", function()
  local run
  before_each(function() run = H.tmpdir() .. "/run" end)
  after_each(H.cleanup_tmp)

  it("keeps RAM in the run dir when it is memory-backed, else in a private dir in /dev/shm", function()
    local shm_run = assert(core.fs.mkdtemp("/dev/shm/vtr")) .. "/run"
    local dir, where = templates.ram_dir(run)
    finally(function() -- (one finally per test: busted keeps the last)
      core.fs.remove_tree(shm_run:match("^(.*)/run$"))
      core.fs.remove(dir)
    end)
    assert.are.same({ shm_run .. "/.templates", "memory" }, { templates.ram_dir(shm_run) })
    assert.are.equal("shm", where)
    assert.truthy(dir:find("^/dev/shm/vmlua%." .. core.getuid() .. "%.%x+$"), dir)
    assert.are.equal(dir, (templates.ram_dir(run .. "/")))
    assert.are_not.equal(dir, (templates.ram_dir(run .. "2")))
    assert.are.equal(dir .. "/a.running", templates.running_ram(run, "a"))
    assert.are.equal(dir .. "/b.ram", templates.saved_ram(run, "b"))
    assert.is_true(templates.make_ram_dir(run))
    assert.are.equal(tonumber("700", 8), core.fs.stat(dir).mode)
    templates.tidy_ram_dir(run)
    assert.is_false(core.fs.exists(dir))
    -- a RAM dir that is not ours, or open to others, is refused
    assert(core.fs.mkdir(dir, tonumber("755", 8)))
    local ok, err = templates.make_ram_dir(run)
    assert.is_nil(ok)
    assert.truthy(err:find("not a private directory of uid", 1, true), err)
  end)

  it("loads, lists and removes; a missing, corrupt or unfinished template is named", function()
    local store = assert(templates.open(run))
    local m = { format = 1, kind = "template", status = "saving", hypervisor = "qemu",
                config = { hash = "0", fingerprint = {} }, saver = { pid = 999999999, start_time = 1 } }
    assert(store:save("half", m))
    assert(store:save("junk", { format = 9 }))
    local list = assert(templates.list(run))
    assert.are.same({ "half", "junk" }, { list[1].name, list[2].name })
    assert.are.same({ "incomplete", "corrupt" }, { list[1].status, list[2].status })
    assert.truthy(list[2].error:find("format 9 is not supported", 1, true))
    assert.truthy(select(2, templates.load(run, "half")):find("template 'half' is incomplete", 1, true))
    assert.truthy(select(2, templates.load(run, "junk")):find("template 'junk': format 9", 1, true))
    assert.truthy(select(2, templates.load(run, "none")):find("no template 'none'", 1, true))
    assert.truthy(select(2, templates.load(run, ".x")):find("invalid template name", 1, true))
    local lock = assert(store:lock("half"))
    local ok, err, code = templates.remove(run, "half")
    assert.is_nil(ok)
    assert.truthy(err:find("template 'half' is being saved or removed", 1, true), err)
    assert.are.equal(1, code)
    lock:close()
    assert.is_true(templates.remove(run, "half"))
    assert.is_true(templates.remove(run, "junk"))
    assert.are.same({ nil, "no template 'half' in " .. run .. "/.templates", 2 }, { templates.remove(run, "half") })
    store:close()
    assert.is_false(core.fs.exists(run .. "/.templates"))
  end)
end)

describe("the CLI of snapshots and templates", function()
  local function vmlua(args, env)
    local out, err = os.tmpname(), os.tmpname()
    local argv = { H.bin }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local p = assert(core.spawn { argv = argv, env = env, stdout = { file = out }, stderr = { file = err } })
    local _, code = p:wait(30)
    p:close()
    local o, e = H.read(out), H.read(err)
    os.remove(out); os.remove(err)
    return code, o, e
  end

  it("usage errors exit 2", function()
    local run = H.tmpdir() .. "/run"
    finally(H.cleanup_tmp)
    local env = { VMLUA_RUN_DIR = run }
    local cases = {
      { { "template" }, "template: missing save|ls|rm" },
      { { "template", "keep" }, "template: unknown subcommand 'keep' (save, ls or rm)" },
      { { "template", "save", "x" }, "template save: needs ID and NAME" },
      { { "template", "rm" }, "template rm: needs NAME" },
      { { "template", "ls", "x" }, "template ls: unexpected argument 'x'" },
      { { "template", "rm", "nope" }, "no template 'nope' in " .. run .. "/.templates" },
      { { "template", "save", "nope", "t" }, "no sandbox 'nope'" },
      { { "template", "save", "nope", "../t" }, "invalid template name" },
      { { "snapshot", "x" }, "snapshot: missing DIR" },
      { { "run", "r.lua", "--from", "a", "--restore", "b" }, "cannot read recipe" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = vmlua(c[1], env)
      assert.are.equal(2, code, table.concat(c[1], " ") .. ": " .. err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    local code, out = vmlua({ "template", "ls" }, env)
    assert.are.equal(0, code)
    assert.truthy(out:find("^NAME%s+STATUS"), out)
    code, out = vmlua({ "template", "ls", "--json" }, env)
    assert.are.equal(0, code)
    assert.are.equal("[]\n", out)
  end)

  it("gc removes the RAM file of a template sandbox whose processes all died, and only that file", function()
    local run = H.tmpdir() .. "/run"
    finally(H.cleanup_tmp)
    local ram = templates.running_ram(run, "dead")
    assert.is_true(templates.make_ram_dir(run))
    H.write(ram, "ram")
    H.write(templates.running_ram(run, "other"), "ram")
    local store = assert(core.state.open(run))
    local gone = { pid = 999999999, start_time = 1 }
    assert(store:save("dead", { id = "dead", status = "running", hypervisor = "qemu", supervisor = gone,
                                processes = { hypervisor = gone }, snapshot = { mode = "template", ram = ram } }))
    local code, out = vmlua({ "gc" }, { VMLUA_RUN_DIR = run })
    assert.are.equal(0, code)
    assert.are.equal("removed dead\n", out)
    assert.is_false(core.fs.exists(ram))
    assert.is_true(core.fs.exists(templates.running_ram(run, "other")))
    templates.tidy_ram_dir(run) -- not empty: stays
    assert.is_true(core.fs.exists(templates.running_ram(run, "other")))
    os.remove(templates.running_ram(run, "other"))
    templates.tidy_ram_dir(run)
    assert.is_false(core.fs.exists((templates.ram_dir(run))))
  end)
end)
