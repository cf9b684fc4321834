--- Shared by the benchmark scripts: options, the build under test, timed
-- runs of commands, statistics, paired ratios, and the output (Markdown
-- tables on stdout, and the same numbers as JSON with --json FILE).
--
-- Every script takes:
--   --quick        one iteration, small N: the smoke test's mode (numbers
--                  from it mean nothing)
--   --runs N       iterations (pairs) per measurement (default: the script's)
--   --json FILE    also write the results as JSON
--
-- Times come from CLOCK_MONOTONIC (core.monotonic), which is the same clock
-- in every process: the fake VMM's bind and exit times, vmlua's ready_mono
-- and exit_noticed_mono and this process's own clock can be compared.
local core = require "vmlua.core"

local B = {}

-- Under the test suite's asan flavour, lua5.4 runs with the sanitizer
-- runtime preloaded; the programs we start must not inherit it.
if os.getenv("VMLUA_ASAN_PRELOAD") then core.setenv("LD_PRELOAD", nil) end

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local here = debug.getinfo(1, "S").source:match("^@(.*)/bench/lib/benchlib%.lua$") or "."
B.root = core.fs.realpath(here) or here
B.build = env("VMLUA_BUILD", B.root .. "/build")
B.vmlua = env("VMLUA_BIN", B.build .. "/vmlua")
B.fakes = env("VMLUA_FAKES", B.build .. "/fakes.d")
B.fake_vmm = B.fakes .. "/fake-vmm"
B.tools = B.build .. "/bench.d"
B.seed = B.tools .. "/seed-launcher"
B.guest = env("VMLUA_GUEST", B.root .. "/build/guest")
B.recipes = B.root .. "/bench/recipes"
B.baselines = B.root .. "/bench/baselines"

--- Parse the common options; `defaults` = { runs = N }.
function B.options(argv, defaults)
  local o = { runs = defaults.runs or 5, quick = false }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--quick" then
      o.quick = true
    elseif a == "--runs" then
      i = i + 1
      o.runs = math.tointeger(tonumber(argv[i] or "")) or error("--runs needs a number", 0)
    elseif a == "--json" then
      i = i + 1
      o.json = argv[i] or error("--json needs a file", 0)
    else
      error("unknown option " .. a .. " (--quick, --runs N, --json FILE)", 0)
    end
    i = i + 1
  end
  if o.quick then o.runs = 1 end
  if o.runs < 1 then error("--runs must be >= 1", 0) end
  B.opts = o
  B.scratch = B.tmpdir("vbo")
  return o
end

-- ------------------------------------------------------------ statistics

--- { n, median, min, max } of a list of numbers (the median of an even
-- count is the mean of the middle two).
function B.summary(list)
  local t = table.move(list, 1, #list, 1, {})
  table.sort(t)
  local n = #t
  assert(n > 0, "no samples")
  local med = n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
  return { n = n, median = med, min = t[1], max = t[n] }
end

--- "12.3 (11.9–14.0)" in `unit` ("ms", "us", "s", "MiB", "x"); values are
-- seconds for the time units, bytes for MiB, plain numbers otherwise.
local scale = { s = 1, ms = 1e3, us = 1e6, MiB = 1 / 1048576, KiB = 1 / 1024, x = 1, [""] = 1 }
function B.fmt(list, unit)
  local s = B.summary(list)
  local k = scale[unit] or 1
  local digits = function(v)
    local a = math.abs(v * k)
    if a >= 100 then return string.format("%.0f", v * k) end
    if a >= 10 then return string.format("%.1f", v * k) end
    if a >= 1 then return string.format("%.2f", v * k) end
    return string.format("%.3f", v * k)
  end
  return string.format("%s (%s–%s)", digits(s.median), digits(s.min), digits(s.max))
end

--- Ratios of two paired lists, element by element.
function B.ratios(a, b)
  assert(#a == #b, "paired lists differ in length")
  local r = {}
  for i = 1, #a do r[i] = a[i] / b[i] end
  return r
end

-- ----------------------------------------------------------------- output

local results = { metrics = {}, notes = {} }
B.results = results

--- Start a section (a Markdown heading and an optional paragraph).
function B.section(title, text)
  io.stdout:write("\n### ", title, "\n\n")
  if text then io.stdout:write(text, "\n\n") end
  results.sections = results.sections or {}
  results.sections[#results.sections + 1] = title
end

--- Record a metric (samples in seconds, bytes or plain numbers) for JSON.
function B.metric(name, samples, unit)
  local s = B.summary(samples)
  results.metrics[#results.metrics + 1] = {
    name = name, unit = unit, n = s.n, median = s.median, min = s.min, max = s.max,
    samples = core.json.array(table.move(samples, 1, #samples, 1, {})),
  }
  return s
end

--- A Markdown table; `rows` are arrays of cells. Cells that are
-- { samples, unit, name =, with_unit = } are formatted (with the unit
-- appended when with_unit) and recorded as metrics.
function B.table(header, rows)
  local out = { "| " .. table.concat(header, " | ") .. " |",
                "|" .. string.rep("---|", #header) }
  for _, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(row) do
      if type(c) == "table" then
        B.metric(c.name or (tostring(row[1]) .. " / " .. header[i]), c[1], c[2])
        cells[i] = B.fmt(c[1], c[2]) .. (c.with_unit and (" " .. c[2]) or "")
      else
        cells[i] = tostring(c)
      end
    end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  io.stdout:flush()
end

function B.note(text)
  io.stdout:write("\n", text, "\n")
  results.notes[#results.notes + 1] = text
end

--- Write the JSON results if --json was given.
function B.finish(name)
  results.bench = name
  results.quick = B.opts and B.opts.quick or false
  results.runs = B.opts and B.opts.runs or 0
  if #results.notes == 0 then results.notes = core.json.array() end
  if B.opts and B.opts.json then
    local f = assert(io.open(B.opts.json, "w"))
    f:write(core.json.encode(results, { pretty = true }), "\n")
    f:close()
  end
end

-- --------------------------------------------------------------- processes

B.dirs = {}

--- A fresh short temp dir (unix socket paths must fit in 107 bytes).
function B.tmpdir(prefix)
  local dir = assert(core.fs.mkdtemp("/tmp/" .. (prefix or "vb")))
  B.dirs[#B.dirs + 1] = dir
  return dir
end

--- A to-be-closed guard for a script's main chunk
-- (`local guard <close> = B.guard()`): when the script fails half-way, it
-- kills what it left running (every process naming one of its temp dirs:
-- VMMs, QEMU, virtiofsd, most supervisors; the others exit once their VMM
-- is gone) and removes the dirs.
function B.guard()
  return setmetatable({}, { __close = function(_, err)
    if err == nil then return end
    for _, d in ipairs(B.dirs) do
      for _, p in ipairs(B.strays(d)) do core.kill(p.pid, "SIGKILL") end
    end
    for _, d in ipairs(B.dirs) do core.fs.remove_tree(d) end
  end })
end

function B.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- A CLOCK_MONOTONIC time written by fake-vmm (--ready-file/--exit-file).
-- The fake writes its ready file just after listen(), so a launcher can see
-- the socket first: wait (inotify) for the line if it is not there yet.
function B.read_time(path)
  local t = tonumber((B.read(path) or ""):match("^%s*([%d.]+)\n"))
  if t then return t end
  local s = assert(core.follow(path))
  local i, ev = core.wait({ { line = s } }, 5)
  s:close()
  return i and tonumber(ev.line)
end

local seq = 0

--- Start argv with stdout/stderr to files in `dir`. Returns a handle with
-- :finish(timeout) → result table { seconds, t0, t1, how, code, out, err }.
function B.start(argv, opts)
  opts = opts or {}
  seq = seq + 1
  local dir = opts.dir or B.scratch
  local out, err = string.format("%s/out%d", dir, seq), string.format("%s/err%d", dir, seq)
  local t0 = core.monotonic()
  local p, perr = core.spawn {
    argv = argv, env = opts.env, stdin = opts.stdin or "null",
    stdout = { file = out, append = false }, stderr = { file = err, append = false },
  }
  if not p then error("cannot start " .. argv[1] .. ": " .. tostring(perr)) end
  local h = { proc = p, t0 = t0, outf = out, errf = err, argv = argv }
  function h.finish(self, timeout)
    local how, code = self.proc:wait(timeout or 120)
    local t1 = core.monotonic()
    if not how then
      self.proc:close()
      error(string.format("%s did not finish within %s s", table.concat(self.argv, " "), timeout or 120))
    end
    self.proc:close()
    local r = { seconds = t1 - self.t0, t0 = self.t0, t1 = t1, how = how, code = code,
                out = B.read(self.outf) or "", err = B.read(self.errf) or "" }
    os.remove(self.outf)
    os.remove(self.errf)
    return r
  end
  return h
end

--- Run argv to completion (timed from just before the spawn to the reap).
function B.exec(argv, opts)
  return B.start(argv, opts):finish(opts and opts.timeout)
end

--- Like B.exec, but raise unless it exited 0.
function B.check(argv, opts)
  local r = B.exec(argv, opts)
  if r.how ~= "exited" or r.code ~= 0 then
    error(string.format("%s: %s %s\n%s%s", table.concat(argv, " "), r.how, tostring(r.code), r.out, r.err), 2)
  end
  return r
end

--- The environment for vmlua commands in run dir `run`.
function B.vmlua_env(run)
  return { VMLUA_RUN_DIR = run, VMLUA_LOG = "warn" }
end

--- Terminate a process that is not our child (a launcher's orphan) and
-- wait until it is gone.
function B.kill_orphan(pid, grace)
  local st = core.proc.start_time(pid)
  if not st then return true end
  local p = core.proc.attach(pid, st)
  if not p then return true end
  p:terminate { grace = grace or 5 }
  p:close()
  return true
end

--- Processes (not zombies) whose command line contains `needle`.
function B.strays(needle)
  local me = core.getpid()
  local out = {}
  for _, name in ipairs(core.fs.list("/proc") or {}) do
    local pid = tonumber(name)
    if pid and pid ~= me then
      local cmd = B.read("/proc/" .. name .. "/cmdline") or ""
      if cmd ~= "" and cmd:find(needle, 1, true) then
        local state = (B.read("/proc/" .. name .. "/stat") or ""):match("%) (%a)")
        if state and state ~= "Z" then out[#out + 1] = { pid = pid, cmd = cmd:gsub("%z", " ") } end
      end
    end
  end
  return out
end

--- Raise if anything whose command line holds `needle` still runs.
function B.assert_no_strays(needle)
  local s = B.strays(needle)
  if #s > 0 then
    local lines = {}
    for _, p in ipairs(s) do
      lines[#lines + 1] = p.pid .. " " .. p.cmd
      core.kill(p.pid, "SIGKILL")
    end
    error("stray processes:\n" .. table.concat(lines, "\n"), 2)
  end
end

--- VmRSS (from /proc/PID/status) and Rss, Pss, Private (smaps_rollup), in bytes.
function B.memory(pid)
  local m = {}
  for line in (B.read("/proc/" .. pid .. "/status") or ""):gmatch("[^\n]+") do
    local k, v = line:match("^(VmRSS):%s*(%d+) kB")
    if k then m.vmrss = tonumber(v) * 1024 end
  end
  local priv = 0
  for line in (B.read("/proc/" .. pid .. "/smaps_rollup") or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+):%s*(%d+) kB")
    if k == "Rss" then m.rss = tonumber(v) * 1024
    elseif k == "Pss" then m.pss = tonumber(v) * 1024
    elseif k == "Private_Clean" or k == "Private_Dirty" then priv = priv + tonumber(v) * 1024 end
  end
  m.private = priv
  return m
end

--- The machine, for the report's header.
function B.machine()
  local cpu = (B.read("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
  local ncpu = 0
  for _ in (B.read("/proc/cpuinfo") or ""):gmatch("\nprocessor%s*:") do ncpu = ncpu + 1 end
  if (B.read("/proc/cpuinfo") or ""):match("^processor") then ncpu = ncpu + 1 end
  local kernel = (B.read("/proc/sys/kernel/osrelease") or "?"):gsub("%s+$", "")
  local load = (B.read("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)")
  local mem = tonumber((B.read("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")) or 0
  return { cpu = cpu, cores = ncpu, kernel = kernel, load = load, mem_gib = mem / 1048576 }
end

--- Remove the scratch dir (command output) that B.options made.
function B.cleanup()
  if B.scratch then core.fs.remove_tree(B.scratch) end
  B.scratch = nil
end

return B
