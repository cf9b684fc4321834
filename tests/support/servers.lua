--- Servers for the client specs (qmp, chapi, the control commands): the
-- fake QMP and HTTP servers (lua5.4 children running tests/support/*.lua),
-- a real QEMU with a QMP socket, and the fake cloud-hypervisor. Every
-- process started here is killed and reaped by S.cleanup(), which returns
-- the pids that were still alive afterwards (specs assert it is empty).
local core = require "vmlua.core"
local H = require "support.h"

local S = {}

local procs = {}

local function track(p, what)
  procs[#procs + 1] = { proc = p, what = what }
  return p
end

--- Kill and reap everything started since the last cleanup. Returns the
-- pids that are still there afterwards (none, unless something is wrong).
function S.cleanup()
  local left = {}
  for _, e in ipairs(procs) do
    local pid = e.proc.pid
    e.proc:close()
    local f = io.open("/proc/" .. pid .. "/stat")
    if f then
      local st = f:read("a"):match("^.*%) (%a)")
      f:close()
      if st and st ~= "Z" then left[#left + 1] = pid .. " (" .. e.what .. ")" end
    end
  end
  procs = {}
  return left
end

--- The environment a lua5.4 child needs under the asan flavour.
local function child_env()
  local preload = os.getenv("VMLUA_ASAN_PRELOAD")
  if preload and preload ~= "" then
    return { LD_PRELOAD = preload, ASAN_OPTIONS = "detect_leaks=0" }
  end
  return nil
end

--- Start `lua5.4 SCRIPT ARGS...` and wait for its "ready" line.
function S.lua_server(script, args, dir)
  local argv = { "lua5.4", H.root .. "/tests/support/" .. script }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local p = track(assert(core.spawn { argv = argv, env = child_env(), stdout = "pipe",
                                      stderr = { file = dir .. "/" .. script .. ".log" } }), script)
  local line, err = p.stdout:read_line(20)
  assert(line == "ready", string.format("%s did not start: %s; log:\n%s", script, tostring(line or err),
                                        H.read(dir .. "/" .. script .. ".log") or ""))
  return p
end

--- A fake QMP server (tests/support/fake_qmp_server.lua) in a new temp dir.
-- Returns the socket path and the process.
function S.fake_qmp(greeting)
  local dir = H.tmpdir()
  local path = dir .. "/qmp.sock"
  local p = S.lua_server("fake_qmp_server.lua", { path, greeting or "normal" }, dir)
  return path, p, dir
end

--- A fake HTTP server (tests/support/fake_http_server.lua) in mode `mode`.
function S.fake_http(mode)
  local dir = H.tmpdir()
  local path = dir .. "/api.sock"
  local p = S.lua_server("fake_http_server.lua", { path, mode }, dir)
  return path, p, dir
end

--- A real QEMU, stopped (-S), TCG, no display, no default devices, with a
-- QMP socket. machine: "q35" or "microvm"; extra: more argv. Returns the
-- socket path, the process and the dir.
function S.qemu(machine, extra)
  local dir = H.tmpdir()
  local path = dir .. "/qmp.sock"
  local argv = { "qemu-system-x86_64", "-machine", machine .. ",accel=tcg", "-S", "-display", "none",
                 "-nodefaults", "-m", "64M", "-qmp", "unix:" .. path .. ",server=on,wait=off" }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  local log = dir .. "/qemu.log"
  local p = track(assert(core.spawn { argv = argv, stdout = { file = log }, stderr = "stdout" }), "qemu")
  local i, ev = core.wait({ { socket = path }, { exit = p } }, 30)
  assert(i == 1, string.format("QEMU did not open its QMP socket (%s); log:\n%s",
                               ev and ev.kind or tostring(ev), H.read(log) or ""))
  return path, p, dir
end

--- The fake cloud-hypervisor with an API socket (and env knobs). Returns
-- the socket path, the process and the dir.
function S.fake_clh(env, args)
  local dir = H.tmpdir()
  local path = dir .. "/api.sock"
  local argv = { H.fakes .. "/fake-cloud-hypervisor", "--api-socket", path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local log = dir .. "/clh.log"
  local p = track(assert(core.spawn { argv = argv, env = env, stdout = { file = log }, stderr = "stdout" }),
                  "fake-cloud-hypervisor")
  local i, ev = core.wait({ { socket = path }, { exit = p } }, 30)
  assert(i == 1, string.format("the fake cloud-hypervisor did not open its API socket (%s); log:\n%s",
                               ev and ev.kind or tostring(ev), H.read(log) or ""))
  return path, p, dir
end

--- Track a process started elsewhere so that cleanup reaps it.
function S.track(p, what)
  return track(p, what or "process")
end

--- Run the vmlua executable; returns exit code, stdout, stderr.
function S.vmlua(args, env)
  local dir = H.tmpdir()
  local argv = { H.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local p = track(assert(core.spawn { argv = argv, env = env, stdout = { file = dir .. "/out" },
                                      stderr = { file = dir .. "/err" } }), "vmlua")
  local how, code = p:wait(60)
  assert(how == "exited", "vmlua " .. table.concat(args, " ") .. ": " .. tostring(how) .. " " .. tostring(code))
  return code, H.read(dir .. "/out") or "", H.read(dir .. "/err") or ""
end

return S
