--- Memory of the detached supervisor (`vmlua run --detach`) while one VM
-- runs: VmRSS (/proc/PID/status), and Pss and private memory
-- (/proc/PID/smaps_rollup), on the fake VMM and on the real guest (QEMU +
-- virtiofsd, scripts/recipes/qemu-demo.lua). Other processes that could
-- supervise a VM are measured the same way for scale.
--
--   lua5.4 bench/memory.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 5 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vbm")
local run = tmp .. "/run"
local venv = B.vmlua_env(run)
local store = assert(core.state.open(run))
local m0 = core.monotonic()

local function collect(into, m)
  for k, v in pairs(m) do
    into[k] = into[k] or {}
    table.insert(into[k], v)
  end
end

local function cells(name, s)
  return { name, { s.vmrss, "MiB", name = name .. " VmRSS" }, { s.pss, "MiB", name = name .. " Pss" },
           { s.private, "MiB", name = name .. " private" } }
end

-- the supervisor on the fake VMM
local sup_fake, fake = {}, {}
for i = 1, o.runs do
  local id = "m" .. i
  B.check({ B.vmlua, "run", "--detach", B.recipes .. "/fake-vmm.lua", "--set", "id=" .. id,
            "--set", "vmm=" .. B.fake_vmm }, { env = venv })
  local st = assert(store:load(id))
  collect(sup_fake, B.memory(st.supervisor.pid))
  collect(fake, B.memory(st.pid))
  B.check({ B.vmlua, "stop", id }, { env = venv })
end

-- the supervisor of the real guest (QEMU + virtiofsd), while it runs
local sup_guest, qemu, vfs = {}, {}, {}
local share = tmp .. "/share"
for i = 1, o.runs do
  local id = "g" .. i
  B.check({ B.vmlua, "run", "--detach", B.root .. "/scripts/recipes/qemu-demo.lua", "--set", "id=" .. id,
            "--set", "keep=1", "--set", "share=" .. share, "--set", "guest=" .. B.guest },
          { env = venv, timeout = 180 })
  local st = assert(store:load(id))
  collect(sup_guest, B.memory(st.supervisor.pid))
  collect(qemu, B.memory(st.pid))
  for name, p in pairs(st.processes) do
    if name:match("^virtiofsd") then collect(vfs, B.memory(p.pid)) end
  end
  B.check({ B.vmlua, "stop", id }, { env = venv, timeout = 60 })
end

-- other programs that could sit there supervising, idle the same way
local function idle(argv, with_stdin)
  local p = assert(core.spawn { argv = argv, stdin = with_stdin and "pipe" or "null", stdout = "null" })
  -- let it start and settle into its wait
  core.wait({ { exit = p } }, 0.2)
  local mem = B.memory(p.pid)
  p:close()
  return mem
end
local refs = { sleep = {}, lua = {}, bash = {}, seed = {} }
for _ = 1, o.runs do
  collect(refs.sleep, idle({ "sleep", "60" }))
  collect(refs.lua, idle({ "lua5.4", "-e", "io.read()" }, true))
  collect(refs.bash, idle({ "bash", "-c", "sleep 60 & wait" }))
  local sock = tmp .. "/seed.sock"
  local sd = assert(core.spawn { argv = { B.seed, "--socket", sock, "--settle-ms", "0", "--then", "watch", "--",
                                          B.fake_vmm, "--socket", sock }, stdout = "pipe" })
  local vmm = assert(tonumber((sd.stdout:read_line(10) or ""):match("^pid (%d+)")), "seed-launcher: no pid")
  assert((sd.stdout:read_line(10) or ""):match("^ready"), "seed-launcher: not ready")
  collect(refs.seed, B.memory(sd.pid))
  core.kill(vmm, "SIGTERM")
  assert(sd:wait(10), "seed-launcher did not notice its VMM's exit")
  sd:close()
end

B.section(string.format("Memory while one VM runs (%d runs)", o.runs),
          "Median (min–max) in MiB. VmRSS counts every resident page the process maps, shared " ..
          "libraries included; Pss divides shared pages among the processes that map them; " ..
          "private is what the process alone holds (Private_Clean + Private_Dirty).")
B.table({ "process", "VmRSS", "Pss", "private" }, {
  cells("**vmlua supervisor, fake VMM**", sup_fake),
  cells("**vmlua supervisor, real guest (QEMU + virtiofsd)**", sup_guest),
  cells("fake VMM", fake),
  cells("QEMU (256 MiB guest, TCG)", qemu),
  cells("virtiofsd", vfs),
  cells("seed-launcher watching a VMM (C)", refs.seed),
  cells("bash waiting on a child", refs.bash),
  cells("lua5.4 idle", refs.lua),
  cells("sleep", refs.sleep),
})

store:close()
B.assert_no_strays(tmp)
B.note(string.format("memory benchmark: %.1f s", core.monotonic() - m0))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("memory")
