--- End-to-end helpers: run the vmlua executable under test (VMLUA_BIN) in a
-- private run dir, wait for text in its files, and find what a test left
-- running. Every process a sandbox starts carries the test's temp dir in its
-- command line (the run dir, the share), which is how strays are found.
local core = require "vmlua.core"
local H = require "support.h"

local E = {}

E.TIMEOUT = 180

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
E.read = read

--- A test world: a temp dir with run/ (VMLUA_RUN_DIR) and share/.
function E.world()
  local dir = H.tmpdir()
  local w = { dir = dir, run = dir .. "/run", share = dir .. "/share", n = 0 }
  assert(core.fs.mkdir(w.run, tonumber("700", 8)))
  assert(core.fs.mkdir(w.share, tonumber("755", 8)))
  w.env = { VMLUA_RUN_DIR = w.run, VMLUA_LOG = os.getenv("VMLUA_E2E_LOG") or false }
  return w
end

local Run = {}
Run.__index = Run

--- Start `vmlua ARGS...` in world `w`; stdout/stderr go to files. opts:
-- env (more variables), cwd, stdin (as core.spawn takes it; default "null").
function E.start(w, args, opts)
  opts = opts or {}
  w.n = w.n + 1
  local out, err = string.format("%s/out%d", w.dir, w.n), string.format("%s/err%d", w.dir, w.n)
  local env = {}
  for k, v in pairs(w.env) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  -- opts.wrap: a command that runs vmlua (setpriv ..., unshare ...)
  local argv = table.move(opts.wrap or {}, 1, #(opts.wrap or {}), 1, {})
  argv[#argv + 1] = H.bin
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local p = assert(core.spawn {
    argv = argv, env = env, cwd = opts.cwd, stdin = opts.stdin or "null",
    stdout = { file = out, append = false }, stderr = { file = err, append = false },
  })
  return setmetatable({ proc = p, out = out, err = err, pid = p.pid }, Run)
end

--- Wait for the run to end: returns code (or nil, "killed", signo), stdout, stderr.
function Run:finish(timeout)
  local how, code = self.proc:wait(timeout or E.TIMEOUT)
  if not how then
    self.proc:close()
    error("vmlua did not finish within " .. tostring(timeout or E.TIMEOUT) .. " s:\n" .. read(self.err))
  end
  self.code, self.how = code, how
  self.stdout, self.stderr = read(self.out), read(self.err)
  if how ~= "exited" then return nil, how, code end
  return code, self.stdout, self.stderr
end

function Run:signal(sig)
  return self.proc:signal(sig)
end

--- Run `vmlua ARGS...` to completion: code, stdout, stderr.
function E.vmlua(w, args, opts)
  local r = E.start(w, args, opts)
  return r:finish(opts and opts.timeout)
end

--- The lines of `s` that start with `prefix` (what a recipe's hooks printed).
function E.lines_of(s, prefix)
  local out = {}
  for l in s:gmatch("[^\n]+") do if l:sub(1, #prefix) == prefix then out[#out + 1] = l end end
  return out
end

--- Wait until `path` has a line containing `text` (inotify, no polling).
function E.wait_text(path, text, timeout)
  local s = assert(core.follow(path, { from = "start" }))
  local i = core.wait({ { line = s, find = text } }, timeout or 60)
  s:close()
  return i ~= nil
end

--- Wait for a file to appear and have a line (inotify through core.follow).
function E.wait_file(path, timeout)
  if core.fs.exists(path) then return true end
  local s = assert(core.follow(path, { from = "start" }))
  local i = core.wait({ { line = s } }, timeout or 30)
  s:close()
  return i ~= nil or core.fs.exists(path)
end

--- Processes (other than us) whose command line contains `needle`.
function E.strays(needle)
  local me = core.getpid()
  local out = {}
  for _, name in ipairs(core.fs.list("/proc") or {}) do
    local pid = tonumber(name)
    if pid and pid ~= me then
      local cmd = read("/proc/" .. name .. "/cmdline")
      if cmd ~= "" and cmd:find(needle, 1, true) then
        local stat = read("/proc/" .. name .. "/stat")
        local state = stat:match("%) (%a)")
        if state ~= "Z" then out[#out + 1] = { pid = pid, cmd = cmd:gsub("%z", " ") } end
      end
    end
  end
  return out
end

--- Kill whatever a failed test left behind, and say what it was.
function E.kill_strays(needle)
  local found = E.strays(needle)
  for _, p in ipairs(found) do core.kill(p.pid, "SIGKILL") end
  local lines = {}
  for _, p in ipairs(found) do lines[#lines + 1] = string.format("%d %s", p.pid, p.cmd) end
  return #found, table.concat(lines, "\n")
end

--- Entries left in the world's run dir.
function E.run_dir_entries(w)
  return core.fs.list(w.run) or {}
end

--- Did the guest boot, by its serial log at `path`? A clone or a restore
-- resumes a booted guest: its log may hold what that guest writes next (a
-- shell's prompt), but never the kernel's banner or the kit's ready marker.
function E.booted(path)
  local log = read(path) or ""
  return log:find("Linux version", 1, true) ~= nil or log:find("VMLUA-GUEST-READY", 1, true) ~= nil
end

--- The state of sandbox `id` in world `w` (nil if missing).
function E.state(w, id)
  local store = assert(core.state.open(w.run))
  return (store:load(id))
end

--- After a test: nothing of the world may run, no socket may remain, no
-- tap its sandboxes made may remain, and after `vmlua gc` the run dir must
-- be empty. Returns a list of problems.
function E.leftovers(w)
  local problems = {}
  local n, what = E.kill_strays(w.dir)
  if n > 0 then problems[#problems + 1] = "stray processes:\n" .. what end
  local taps = {}
  for _, id in ipairs(E.run_dir_entries(w)) do
    local st = E.state(w, id)
    local tap = st and type(st.network) == "table" and st.network.tap
    if type(tap) == "table" and tap.by == "vmlua" then taps[#taps + 1] = tap.name end
  end
  for _, id in ipairs(E.run_dir_entries(w)) do
    for _, f in ipairs(core.fs.list(w.run .. "/" .. id) or {}) do
      local st = core.fs.stat(w.run .. "/" .. id .. "/" .. f)
      if st and st.type == "socket" then problems[#problems + 1] = "socket left: " .. id .. "/" .. f end
    end
  end
  local ram_dir, where = require("vmlua.sandbox.templates").ram_dir(w.run)
  if where == "shm" and core.fs.exists(ram_dir) then
    problems[#problems + 1] = "template RAM dir left: " .. ram_dir .. " (" .. table.concat(core.fs.list(ram_dir) or {}, ", ")
      .. ")"
  end
  local code, _, err = E.vmlua(w, { "gc" })
  if code ~= 0 then problems[#problems + 1] = "gc failed: " .. err end
  local left = E.run_dir_entries(w)
  if #left > 0 then problems[#problems + 1] = "state left after gc: " .. table.concat(left, ", ") end
  for _, name in ipairs(taps) do
    if core.net.link(name) then problems[#problems + 1] = "tap left: " .. name end
  end
  return problems
end

return E
