--- Scale: N sandboxes on the fake VMM started at once (N `vmlua run
-- --detach`, each with its own id), all ready, then all stopped at once (N
-- `vmlua stop`); nothing may fail and nothing may be left running. Then
-- `vmlua ps` over 10, 100 and 1000 state entries (hyperfine).
--
--   lua5.4 bench/scale.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 5 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vbc")
local recipe = B.recipes .. "/fake-vmm.lua"
local m0 = core.monotonic()
local sizes = o.quick and { 1, 3 } or { 1, 10, 100 }

--- Start every argv at once; wait for all. Returns the wall time from the
-- first start to the last exit and every command's own time.
local function all_at_once(argvs, env)
  local t0 = core.monotonic()
  local hs = {}
  for i, argv in ipairs(argvs) do hs[i] = B.start(argv, { env = env }) end
  local each = {}
  for i, h in ipairs(hs) do
    local r = h:finish(300)
    if r.how ~= "exited" or r.code ~= 0 then
      error(string.format("%s: %s %s\n%s%s", table.concat(argvs[i], " "), r.how, tostring(r.code), r.out, r.err))
    end
    each[i] = r.seconds
  end
  return core.monotonic() - t0, B.summary(each).median
end

local function one_round(n, round)
  local run = string.format("%s/run-%d-%d", tmp, n, round)
  local env = B.vmlua_env(run)
  local starts, stops = {}, {}
  for i = 1, n do
    local id = "s" .. i
    starts[i] = { B.vmlua, "run", "--detach", recipe, "--set", "id=" .. id, "--set", "vmm=" .. B.fake_vmm }
    stops[i] = { B.vmlua, "stop", id }
  end
  local up, up_each = all_at_once(starts, env)
  local store = assert(core.state.open(run))
  local procs = {}
  for i = 1, n do
    local st = assert(store:load("s" .. i))
    assert(st.status == "running", "s" .. i .. " is " .. tostring(st.status))
    procs[#procs + 1] = st.supervisor
    procs[#procs + 1] = st.processes.hypervisor
  end
  local down, down_each = all_at_once(stops, env)
  for i = 1, n do
    local st = assert(store:load("s" .. i))
    assert(st.status == "stopped", "s" .. i .. " is " .. tostring(st.status) .. " after stop")
  end
  store:close()
  -- nothing left: not the recorded processes, nor anything naming the run dir
  for _, p in ipairs(procs) do
    assert(not core.proc.alive(p.pid, p.start_time), "process " .. p.pid .. " still runs")
  end
  B.assert_no_strays(run)
  B.check({ B.vmlua, "gc" }, { env = env })
  core.fs.remove_tree(run)
  return { up = up, down = down, up_each = up_each, down_each = down_each }
end

local rows = {}
for _, n in ipairs(sizes) do
  local res = {}
  for r = 1, o.runs do res[r] = one_round(n, r) end
  local function col(f, div) local t = {} for i, x in ipairs(res) do t[i] = x[f] / (div or 1) end return t end
  rows[#rows + 1] = { tostring(n),
    { col("up"), "ms", name = n .. " up: all ready" }, { col("up", n), "ms", name = n .. " up per sandbox" },
    { col("up_each"), "ms", name = n .. " up: one run --detach" },
    { col("down"), "ms", name = n .. " down: all stopped" }, { col("down", n), "ms", name = n .. " down per sandbox" },
    { col("down_each"), "ms", name = n .. " down: one stop" } }
end
B.section(string.format("N sandboxes at once on the fake VMM (%d runs each)", o.runs),
          "Median (min–max) in ms. *all ready*: from the first `vmlua run --detach` started to the " ..
          "last one returned, all N started at once; *one*: the median of the N commands' own " ..
          "times. Then the same for N `vmlua stop`. Every sandbox was running, then stopped; " ..
          "no process was left (checked in /proc).")
B.table({ "N", "all ready", "per sandbox", "one run --detach", "all stopped", "per sandbox", "one stop" }, rows)

-- vmlua ps over many state entries: copies of one live sandbox's state
local live_run = tmp .. "/live"
local lenv = B.vmlua_env(live_run)
B.check({ B.vmlua, "run", "--detach", recipe, "--set", "id=live", "--set", "vmm=" .. B.fake_vmm }, { env = lenv })
local live = assert(core.state.open(live_run))
local template = assert(live:load("live"))
live:close()
local counts = o.quick and { 10 } or { 10, 100, 1000 }
local ps_rows = {}
local hf_runs = o.quick and 2 or 20
for _, n in ipairs(counts) do
  local dir = string.format("%s/ps-%d", tmp, n)
  local store = assert(core.state.open(dir))
  for i = 1, n do
    local id = string.format("sb%04d", i)
    template.id = id
    assert(store:save(id, template))
  end
  store:close()
  local hf = tmp .. "/hf.json"
  B.check({ "hyperfine", "-N", "--warmup", "2", "--runs", tostring(hf_runs), "--export-json", hf,
            B.vmlua .. " ps", B.vmlua .. " ps --json" }, { env = B.vmlua_env(dir), timeout = 600 })
  local data = core.json.decode(assert(B.read(hf)))
  ps_rows[#ps_rows + 1] = { tostring(n), { data.results[1].times, "ms", name = "ps " .. n },
                            { data.results[2].times, "ms", name = "ps --json " .. n } }
  core.fs.remove_tree(dir)
end
B.check({ B.vmlua, "stop", "live" }, { env = lenv })
B.section(string.format("`vmlua ps` over many state entries (hyperfine, %d runs)", hf_runs),
          "Median (min–max) in ms. Each entry is a copy of a running sandbox's state (status " ..
          "running, its supervisor alive, so `ps` checks it in /proc), written with core.state.")
B.table({ "entries", "vmlua ps", "vmlua ps --json" }, ps_rows)

B.assert_no_strays(tmp)
B.note(string.format("scale benchmark: %.1f s", core.monotonic() - m0))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("scale")
