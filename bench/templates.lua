--- Templates and snapshots on the real guest (scripts/recipes/qemu-template.lua:
-- the guest kit without a share, QEMU/TCG, 256 MiB):
--   * a template clone (`vmlua run --detach --from NAME`) to ready, against a
--     cold boot of the same recipe (`vmlua run --detach`, ready at the
--     guest's marker), in pairs, on q35 and microvm; the clone's QEMU memory;
--   * 10 clones of one template at once: all ready, each answering on its own
--     (its guest handles the ACPI power button and writes its poweroff line
--     on its own serial console; QEMU exits 0), the template's RAM file
--     unchanged (sha256), nothing left after they stop;
--   * saving a template (`vmlua template save`), saving a full snapshot
--     (`vmlua snapshot`, resumed) and restoring it (`vmlua run --detach
--     --restore DIR` to ready).
--
--   lua5.4 bench/templates.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
--
-- The run dir is on tmpfs (/dev/shm), as vmlua's default /run/vmlua (or
-- $XDG_RUNTIME_DIR) is on most systems: the templates' RAM files are there
-- too. Every time is from starting the command to its exit (`run --detach`
-- exits once the sandbox is ready).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 7 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = assert(core.fs.mkdtemp("/dev/shm/vbt"))
B.dirs[#B.dirs + 1] = tmp
local run = tmp .. "/run"
local venv = B.vmlua_env(run)
local recipe = B.root .. "/scripts/recipes/qemu-template.lua"
local store = assert(core.state.open(run))
local m0 = core.monotonic()
local CLONES = o.quick and 2 or 10

local function vmlua_argv(args)
  local argv = { B.vmlua }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return argv
end

local function vmlua(args, timeout)
  return B.check(vmlua_argv(args), { env = venv, timeout = timeout or 180 })
end

local function recipe_args(machine, id, extra)
  local a = { "run", "--detach", recipe, "--set", "machine=" .. machine, "--set", "guest=" .. B.guest,
              "--set", "id=" .. id }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

-- Stop sandbox `id`; it must end by the power button, its guest saying so.
local function stop_answering(id)
  vmlua({ "stop", id }, 60)
  local st = assert(store:load(id))
  assert(st.stop.step == "powerdown" and st.exit.how == "exited" and st.exit.code == 0,
         id .. " did not stop by its power button")
  local serial = B.read(run .. "/" .. id .. "/serial.log") or ""
  assert(serial:find("powering off (ACPI power button)", 1, true), id .. ": no poweroff line from its guest")
end

local function sha256(path)
  return B.check({ "sha256sum", path }).out:match("^(%x+)")
end

-- A template of `machine`: boot a template sandbox, save it. Returns the
-- boot and save times and the template's RAM file.
local function make_template(machine, name)
  local id = name .. "-t"
  local boot = vmlua(recipe_args(machine, id, { "--set", "template=1" }))
  local save = vmlua({ "template", "save", id, name })
  local m = assert(assert(core.state.open(run .. "/.templates")):load(name))
  return boot.seconds, save.seconds, m.ram.path, m
end

local results = {}
local saves = {}
for _, machine in ipairs { "q35", "microvm" } do
  local name = machine .. "-tmpl"
  local _, save = make_template(machine, name)
  saves[#saves + 1] = save
  local cold, clone, ratio, rss, pss = {}, {}, {}, {}, {}
  for i = 1, o.runs do
    local function do_cold()
      cold[i] = vmlua(recipe_args(machine, machine .. "-cold" .. i)).seconds
      stop_answering(machine .. "-cold" .. i)
    end
    local function do_clone()
      local id = machine .. "-clone" .. i
      clone[i] = vmlua(recipe_args(machine, id, { "--from", name })).seconds
      local mem = B.memory(assert(store:load(id)).pid)
      rss[i], pss[i] = mem.vmrss, mem.pss
      stop_answering(id)
    end
    if i % 2 == 1 then do_cold(); do_clone() else do_clone(); do_cold() end
    ratio[i] = cold[i] / clone[i]
  end
  results[machine] = { cold = cold, clone = clone, ratio = ratio, rss = rss, pss = pss, name = name }
end

B.section(string.format("Template clones against cold boots (%d pairs per machine)", o.runs),
          "Median (min–max). *cold boot*: `vmlua run --detach` of scripts/recipes/qemu-template.lua, ready " ..
          "at the guest's marker; *clone*: `vmlua run --detach --from NAME` of the same recipe, ready when " ..
          "QEMU runs the VM again; both from the command's start to its exit. *ratio*: cold / clone within " ..
          "each pair. Memory: the clone's QEMU, VmRSS and Pss, right after it is ready.")
local rows = {}
for _, machine in ipairs { "q35", "microvm" } do
  local r = results[machine]
  rows[#rows + 1] = { machine, { r.cold, "s", name = machine .. " cold boot" },
                      { r.clone, "ms", name = machine .. " clone to ready" },
                      { r.ratio, "x", name = machine .. " ratio cold/clone" },
                      { r.rss, "MiB", name = machine .. " clone VmRSS" },
                      { r.pss, "MiB", name = machine .. " clone Pss" } }
end
B.table({ "machine", "cold boot → ready (s)", "clone → ready (ms)", "cold / clone", "clone VmRSS (MiB)",
          "clone Pss (MiB)" }, rows)

-- 10 clones of one template at once
local tmpl = results.q35.name
local m = assert(assert(core.state.open(run .. "/.templates")):load(tmpl))
local ram = m.ram.path
local before = sha256(ram)
local handles = {}
local t0 = core.monotonic()
for i = 1, CLONES do
  handles[i] = B.start(vmlua_argv(recipe_args("q35", "many" .. i, { "--from", tmpl })), { env = venv })
end
local each, last = {}, 0
for i = 1, CLONES do
  local r = handles[i]:finish(180)
  assert(r.how == "exited" and r.code == 0, "clone " .. i .. " failed: " .. r.err)
  each[i] = r.seconds
  last = math.max(last, r.t1)
end
local all = last - t0
local pss_each = {}
for i = 1, CLONES do pss_each[i] = B.memory(assert(store:load("many" .. i)).pid).pss end
for i = 1, CLONES do stop_answering("many" .. i) end
local after = sha256(ram)
assert(before == after, "the template's RAM file changed")

B.section(string.format("%d clones of one template at once (q35)", CLONES),
          "All started together; *each*: one clone's `run --detach` from its start to its exit; *all*: " ..
          "from the first start to the last clone ready. Each clone then answered on its own: its guest " ..
          "handled the ACPI power button and wrote its poweroff line on its own serial console, and QEMU " ..
          "exited 0. The template's RAM file had the same sha256 before and after.")
B.table({ "clones", "each → ready (ms)", "all ready (ms)", "Pss each (MiB)", "RAM file sha256" }, {
  { tostring(CLONES), { each, "ms", name = "concurrent clone to ready" }, { { all }, "ms", name = "all clones ready" },
    { pss_each, "MiB", name = "concurrent clone Pss" }, "unchanged" },
})

-- saving a template, saving and restoring a full snapshot
local extra_saves = o.quick and 0 or 2
for i = 1, extra_saves do
  local _, save = make_template("q35", "extra" .. i)
  saves[#saves + 1] = save
  vmlua({ "template", "rm", "extra" .. i })
end
local snap_save, snap_restore, snap_size = {}, {}, {}
vmlua(recipe_args("q35", "snapsrc"))
for i = 1, o.runs do
  local dir = tmp .. "/snap" .. i
  snap_save[i] = vmlua({ "snapshot", "snapsrc", dir }).seconds
  snap_size[i] = core.fs.stat(dir .. "/state").size
  snap_restore[i] = vmlua(recipe_args("q35", "restored" .. i, { "--restore", dir })).seconds
  stop_answering("restored" .. i)
  core.fs.remove_tree(dir)
end
stop_answering("snapsrc")

B.section("Saving and restoring (q35)",
          "*template save*: `vmlua template save ID NAME` (the device state with x-ignore-shared, the RAM " ..
          "file moved into the store, the template VM stopped); *snapshot*: `vmlua snapshot ID DIR` of a " ..
          "running sandbox (paused, the whole VM saved to a file, resumed); *restore*: `vmlua run --detach " ..
          "--restore DIR` to ready.")
B.table({ "operation", "time", "size" }, {
  { "template save", { saves, "ms", name = "template save", with_unit = true },
    string.format("%.0f KiB device state + %d MiB RAM file", m.files[1].size / 1024, m.ram.size // 1048576) },
  { "snapshot (full)", { snap_save, "s", name = "snapshot save", with_unit = true },
    { snap_size, "MiB", name = "snapshot size", with_unit = true } },
  { "restore from the snapshot", { snap_restore, "s", name = "snapshot restore", with_unit = true }, "" },
})

for _, machine in ipairs { "q35", "microvm" } do vmlua({ "template", "rm", results[machine].name }) end
vmlua({ "gc" })
local left = core.fs.list(run) or {}
assert(#left == 0, "left in the run dir: " .. table.concat(left, ", "))
B.assert_no_strays(tmp)
B.note(string.format("templates benchmark: %.1f s", core.monotonic() - m0))
store:close()
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("templates")
