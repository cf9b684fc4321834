--- Stop latency and exit detection, on the fake VMM, against the seed's
-- strategy (bench/seed-launcher.c: SIGTERM, then poll for the exit every
-- 50 ms; watch a running VMM by polling every 50 ms).
--
--   lua5.4 bench/stop.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
--
-- 1. stop: `vmlua stop ID` (policy: term) from its invocation to its
--    return, vs the seed's SIGTERM-and-poll from the request to the reap;
--    and from the VMM's exit (fake-vmm --exit-file: when it read SIGTERM)
--    to the supervisor noticing it (exit_noticed_mono).
-- 2. exit: the VMM exits by itself (--exit-after-ms); from its exit to
--    the supervisor noticing it.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 10 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vbs")
local run = tmp .. "/run"
local venv = B.vmlua_env(run)
local recipe = B.recipes .. "/fake-vmm.lua"
local store
math.randomseed(os.time())

local serial = 0
local function next_id(prefix)
  serial = serial + 1
  return prefix .. serial
end

local function state(id)
  store = store or assert(core.state.open(run))
  return assert(store:load(id))
end

local function vmlua_start(id, extra)
  local argv = { B.vmlua, "run", "--detach", recipe, "--set", "id=" .. id, "--set", "vmm=" .. B.fake_vmm,
                 "--set", "exit_file=" .. tmp .. "/exit-" .. id }
  for _, x in ipairs(extra or {}) do argv[#argv + 1] = x end
  B.check(argv, { env = venv })
end

--- 1. vmlua stop ID
local function vmlua_stop()
  local id = next_id("s")
  vmlua_start(id)
  local r = B.check({ B.vmlua, "stop", id }, { env = venv })
  local st = state(id)
  local exited = assert(B.read_time(tmp .. "/exit-" .. id))
  assert(st.status == "stopped" and st.stop.step == "term", "not stopped by term")
  return { total = r.seconds, to_exit = exited - r.t0, gap = st.exit_noticed_mono - exited,
           after = r.t1 - st.exit_noticed_mono }
end

--- The seed-launcher with stdin and stdout pipes, up to its "ready".
-- poll_ms 0: the same program waiting on a pidfd (the floor).
local function seed_start(id, mode, poll_ms, extra)
  local sock = tmp .. "/" .. id .. ".sock"
  local argv = { B.seed, "--socket", sock, "--then", mode, "--poll-ms", tostring(poll_ms), "--",
                 B.fake_vmm, "--socket", sock, "--exit-file", tmp .. "/exit-" .. id }
  for _, x in ipairs(extra or {}) do argv[#argv + 1] = x end
  local p = assert(core.spawn { argv = argv, stdin = "pipe", stdout = "pipe" })
  local lines = {}
  repeat
    local line = assert(p.stdout:read_line(30), "seed-launcher: no output")
    local k, v = line:match("^(%a+) (.*)$")
    lines[k] = v
  until k == "ready"
  return p, lines
end

local function seed_finish(p, lines)
  repeat
    local line = assert(p.stdout:read_line(30), "seed-launcher: no final line")
    local k, v = line:match("^(%a+) (.*)$")
    lines[k] = v
  until k == "stopped" or k == "exited"
  local how, code = p:wait(10)
  local t1 = core.monotonic()
  assert(how == "exited" and code == 0, "seed-launcher failed")
  p:close()
  return t1
end

local function seed_stop(poll_ms)
  local id = next_id("d")
  local p, lines = seed_start(id, "stop", poll_ms)
  local t0 = core.monotonic()
  assert(p.stdin:write("stop\n"))
  local t1 = seed_finish(p, lines)
  local exited = assert(B.read_time(tmp .. "/exit-" .. id))
  local noticed = tonumber(lines.stopped:match("^(%S+)"))
  return { total = t1 - t0, to_exit = exited - t0, gap = noticed - exited, after = t1 - noticed }
end

--- 2. the VMM exits by itself `ms` after it starts
local function vmlua_exit(ms)
  local id = next_id("e")
  vmlua_start(id, { "--set", "exit=" .. ms })
  local st = state(id)
  local sup = assert(core.proc.attach(st.supervisor.pid, st.supervisor.start_time))
  assert(sup:wait(30), "the supervisor did not finish")
  sup:close()
  st = state(id)
  local exited = assert(B.read_time(tmp .. "/exit-" .. id))
  return { gap = st.exit_noticed_mono - exited }
end

local function seed_exit(ms, poll_ms)
  local id = next_id("x")
  local p, lines = seed_start(id, "watch", poll_ms, { "--exit-after-ms", tostring(ms) })
  seed_finish(p, lines)
  local exited = assert(B.read_time(tmp .. "/exit-" .. id))
  return { gap = tonumber(lines.exited:match("^(%S+)")) - exited }
end

local function col(list, f) local t = {} for i, x in ipairs(list) do t[i] = x[f] end return t end
local m = core.monotonic()

-- 1. stop
local v, sd, fl = {}, {}, {}
for i = 1, o.runs do
  if i % 2 == 1 then v[i] = vmlua_stop(); sd[i] = seed_stop(50)
  else sd[i] = seed_stop(50); v[i] = vmlua_stop() end
  fl[i] = seed_stop(0)
end
B.section(string.format("Stop: SIGTERM policy, until reaped and returned (%d runs)", o.runs),
          "Median (min–max) in ms. vmlua: `vmlua stop ID` from its invocation to its return " ..
          "(the supervisor runs the policy `term`, then cleans up and records the state). " ..
          "Seed: from the stop request to the reap (SIGTERM, then a 50 ms poll).")
B.table({ "", "total", "request → VMM exits", "**VMM exit → noticed**", "noticed → returned" }, {
  { "vmlua stop", { col(v, "total"), "ms", name = "vmlua stop total" },
    { col(v, "to_exit"), "ms", name = "vmlua stop request->exit" },
    { col(v, "gap"), "ms", name = "vmlua stop exit->noticed" },
    { col(v, "after"), "ms", name = "vmlua stop noticed->returned" } },
  { "seed (SIGTERM + 50 ms poll)", { col(sd, "total"), "ms", name = "seed stop total" },
    { col(sd, "to_exit"), "ms", name = "seed stop request->exit" },
    { col(sd, "gap"), "ms", name = "seed stop exit->noticed" },
    { col(sd, "after"), "ms", name = "seed stop noticed->returned" } },
  { "floor: C, SIGTERM + poll() on a pidfd", { col(fl, "total"), "ms", name = "floor stop total" },
    { col(fl, "to_exit"), "ms", name = "floor stop request->exit" },
    { col(fl, "gap"), "ms", name = "floor stop exit->noticed" },
    { col(fl, "after"), "ms", name = "floor stop noticed->returned" } },
  { "ratio vmlua / seed", { B.ratios(col(v, "total"), col(sd, "total")), "x", name = "ratio stop total vmlua/seed" },
    "", { B.ratios(col(v, "gap"), col(sd, "gap")), "x", name = "ratio stop exit->noticed vmlua/seed" }, "" },
})

-- 2. exit by itself, past the seed's 1 s settle sleep
local ve, se, fe = {}, {}, {}
for i = 1, o.runs do
  local ms = 1200 + math.random(0, 49)
  if i % 2 == 1 then ve[i] = vmlua_exit(ms); se[i] = seed_exit(ms, 50)
  else se[i] = seed_exit(ms, 50); ve[i] = vmlua_exit(ms) end
  fe[i] = seed_exit(ms, 0)
end
B.section(string.format("The VMM exits by itself: exit → noticed (%d runs)", o.runs),
          "Median (min–max) in ms, from the fake VMM's exit (its own clock, just before exit(2)) to " ..
          "vmlua's `exit_noticed_mono` / the seed's poll that reaps it. The VMM exits 1200–1249 ms " ..
          "after its start (random, the same for both in a pair).")
B.table({ "", "exit → noticed" }, {
  { "vmlua supervisor (pidfd in one poll)", { col(ve, "gap"), "ms", name = "vmlua exit->noticed" } },
  { "seed (waitpid every 50 ms)", { col(se, "gap"), "ms", name = "seed exit->noticed" } },
  { "floor: C, poll() on a pidfd", { col(fe, "gap"), "ms", name = "floor exit->noticed" } },
  { "ratio vmlua / seed", { B.ratios(col(ve, "gap"), col(se, "gap")), "x", name = "ratio exit->noticed vmlua/seed" } },
})

if store then store:close() end
B.assert_no_strays(tmp)
B.note(string.format("stop benchmark: %.1f s", core.monotonic() - m))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("stop")
