--- Launch overhead: `vmlua run --detach` on a fake VMM that binds its QMP
-- socket T ms after it starts (T = 0 and 100), against (a) a shell launcher
-- that polls for the socket with `sleep 0.05` and (b) the seed's strategy
-- (dial every 50 ms, then a fixed 1 s sleep; bench/seed-launcher.c).
--
--   lua5.4 bench/launch.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
--
-- Each iteration runs the three launchers back to back (rotating which goes
-- first); ratios are taken within an iteration, then their median.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 10 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vbl")
local run = tmp .. "/run"
local venv = B.vmlua_env(run)
local recipe = B.recipes .. "/fake-vmm.lua"
-- T = 0 and 100 as asked, and 100 plus a random 0-49 ms: with a fixed T a
-- 50 ms poll loop starts in the same phase every time and can be lucky
-- (or unlucky) on every run; the random part shows its typical cost.
local delays = { { name = "0", base = 0, jitter = 0 }, { name = "100", base = 100, jitter = 0 },
                 { name = "100 + random 0–49", base = 100, jitter = 50 } }
if o.quick then delays = { delays[1] } end
math.randomseed(os.time())

local serial = 0
local function next_id(prefix)
  serial = serial + 1
  return prefix .. serial
end

local function vmlua_launch(T, disk)
  local id = next_id("l")
  local rf = tmp .. "/bound-" .. id
  local argv = { B.vmlua, "run", "--detach", recipe, "--set", "id=" .. id, "--set", "delay=" .. T,
                 "--set", "ready_file=" .. rf, "--set", "vmm=" .. B.fake_vmm }
  if disk then
    argv[#argv + 1] = "--set"
    argv[#argv + 1] = "disk=" .. disk
  end
  local r = B.check(argv, { env = venv })
  local store = assert(core.state.open(run))
  local st = assert(store:load(id))
  store:close()
  local bind = assert(B.read_time(rf), "no bind time")
  local res = {
    total = r.seconds,
    to_bind = bind - r.t0,            -- invocation → the VMM's bind
    gap = st.ready_mono - bind,       -- bind → vmlua decides "ready"
    after = r.t1 - st.ready_mono,     -- ready → the command has returned
    return_gap = r.t1 - bind,
    overlay = st.disks and st.disks[1].create_seconds, -- qemu-img create, in the provision step
  }
  B.check({ B.vmlua, "stop", id }, { env = venv })
  return res
end

local function shell_launch(T)
  local id = next_id("sh")
  local sock, rf = tmp .. "/" .. id .. ".sock", tmp .. "/bound-" .. id
  local r = B.check({ B.baselines .. "/shell-launch.sh", sock, B.fake_vmm, "--socket", sock, "--delay-ms", tostring(T),
                      "--ready-file", rf })
  local pid = assert(tonumber(r.out:match("pid (%d+)")))
  local bind = assert(B.read_time(rf), "no bind time")
  B.kill_orphan(pid)
  return { total = r.seconds, return_gap = r.t1 - bind }
end

local function seed_launch(T)
  local id = next_id("sd")
  local sock, rf = tmp .. "/" .. id .. ".sock", tmp .. "/bound-" .. id
  local r = B.check({ B.seed, "--socket", sock, "--then", "detach", "--",
                      B.fake_vmm, "--socket", sock, "--delay-ms", tostring(T), "--ready-file", rf })
  local pid = assert(tonumber(r.out:match("pid (%d+)")))
  local bind = assert(B.read_time(rf), "no bind time")
  B.kill_orphan(pid)
  return { total = r.seconds, return_gap = r.t1 - bind }
end

local m = core.monotonic()
for _, d in ipairs(delays) do
  local v, sh, sd = {}, {}, {}
  local order = { { vmlua_launch, v }, { shell_launch, sh }, { seed_launch, sd } }
  for i = 1, o.runs do
    local T = d.base + (d.jitter > 0 and math.random(0, d.jitter - 1) or 0)
    for k = 0, 2 do
      local e = order[(i + k - 1) % 3 + 1]
      e[2][i] = e[1](T)
    end
  end
  local T = d.name
  local function col(list, f) local t = {} for i, x in ipairs(list) do t[i] = x[f] end return t end
  B.section(string.format("Launch, VMM socket bound %s ms after start (%d runs)", T, o.runs),
            "Median (min–max) in ms. *total*: from the launcher's invocation to its return; " ..
            "*bind → return*: from the fake VMM's bind() to the launcher's return.")
  B.table({ "launcher", "total", "bind → return", "ratio vmlua / this (total)" }, {
    { "vmlua run --detach", { col(v, "total"), "ms", name = "vmlua total T=" .. T },
      { col(v, "return_gap"), "ms", name = "vmlua bind->return T=" .. T }, "1" },
    { "shell, `sleep 0.05` poll", { col(sh, "total"), "ms", name = "shell total T=" .. T },
      { col(sh, "return_gap"), "ms", name = "shell bind->return T=" .. T },
      { B.ratios(col(v, "total"), col(sh, "total")), "x", name = "ratio vmlua/shell T=" .. T } },
    { "seed (dial every 50 ms + 1 s)", { col(sd, "total"), "ms", name = "seed total T=" .. T },
      { col(sd, "return_gap"), "ms", name = "seed bind->return T=" .. T },
      { B.ratios(col(v, "total"), col(sd, "total")), "x", name = "ratio vmlua/seed T=" .. T } },
  })
  io.stdout:write("\n")
  B.table({ "vmlua run --detach, where the time goes", "ms" }, {
    { "invocation → VMM bind (start-up, recipe, plan, state, fork, spawn" .. (d.base > 0 and ", T" or "") .. ")",
      { col(v, "to_bind"), "ms", name = "vmlua invocation->bind T=" .. T } },
    { "**bind → ready_mono (detection gap)**", { col(v, "gap"), "ms", name = "vmlua detection gap T=" .. T } },
    { "ready_mono → return (state saved, parent told, exit)",
      { col(v, "after"), "ms", name = "vmlua ready->return T=" .. T } },
  })
end

-- An overlay disk: the same launch (T = 0) with a disk through a qcow2
-- overlay on a 1 GiB sparse raw image, which vmlua creates with qemu-img
-- before the start; plain and overlay launches alternate.
do
  local base = tmp .. "/base.img"
  local f = assert(io.open(base, "wb"))
  f:seek("set", (1 << 30) - 1)
  f:write("\0")
  f:close()
  local plain, ov = {}, {}
  for i = 1, o.runs do
    if i % 2 == 1 then plain[i] = vmlua_launch(0); ov[i] = vmlua_launch(0, base)
    else ov[i] = vmlua_launch(0, base); plain[i] = vmlua_launch(0) end
  end
  local function col(list, f2) local t = {} for i, x in ipairs(list) do t[i] = x[f2] end return t end
  B.section(string.format("Launch with an overlay disk, T = 0 (%d runs each, alternating)", o.runs),
            "Median (min–max) in ms. The overlay: `qemu-img create -f qcow2 -b base.img -F raw` on a " ..
            "1 GiB sparse raw image, run by the provision step before anything starts (as state.json records it).")
  B.table({ "vmlua run --detach", "total", "invocation → VMM bind" }, {
    { "no disk", { col(plain, "total"), "ms", name = "vmlua total, no disk" },
      { col(plain, "to_bind"), "ms", name = "vmlua invocation->bind, no disk" } },
    { "an overlay disk", { col(ov, "total"), "ms", name = "vmlua total, overlay disk" },
      { col(ov, "to_bind"), "ms", name = "vmlua invocation->bind, overlay disk" } },
  })
  io.stdout:write("\n")
  B.table({ "with an overlay disk, where the time goes", "ms" }, {
    { "**creating the overlay (qemu-img create)**", { col(ov, "overlay"), "ms", name = "overlay creation" } },
    { "total with an overlay / without (median of the paired ratios)",
      { B.ratios(col(ov, "total"), col(plain, "total")), "x", name = "ratio total overlay/no disk" } },
  })
end

-- Start-up alone, with hyperfine (no shell between it and the command).
local hf = tmp .. "/hf.json"
local runs = o.quick and 2 or 30
local cmds = { "lua5.4 -e ''", B.vmlua .. " version", B.vmlua .. " check " .. recipe,
               B.vmlua .. " plan " .. recipe }
local argv = { "hyperfine", "-N", "--warmup", o.quick and "1" or "5", "--runs", tostring(runs), "--export-json", hf }
for _, c in ipairs(cmds) do argv[#argv + 1] = c end
B.check(argv, { env = venv })
local data = core.json.decode(assert(B.read(hf)))
local rows = {}
local labels = { "`lua5.4 -e ''` (the bare interpreter)", "`vmlua version` (start-up)",
                 "`vmlua check` (start-up + recipe + plan + checks)",
                 "`vmlua plan` (start-up + recipe + plan, printed)" }
for i, r in ipairs(data.results) do
  rows[#rows + 1] = { labels[i], { r.times, "ms", name = "startup " .. cmds[i]:gsub("^.*/", "") } }
end
B.section(string.format("Start-up, for comparison (hyperfine, %d runs)", runs))
B.table({ "command", "ms" }, rows)

B.assert_no_strays(tmp)
B.note(string.format("launch benchmark: %.1f s", core.monotonic() - m))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("launch")
