--- Is a sandbox still running? Every process a state file records comes with
-- its start time, so a reused pid never counts as ours.
local core = require "vmlua.core"

local M = {}

--- Is a recorded process ({ pid =, start_time = }) still the one we started?
function M.alive(p)
  return type(p) == "table" and math.type(p.pid) == "integer" and math.type(p.start_time) == "integer"
         and p.pid > 0 and core.proc.alive(p.pid, p.start_time) or false
end

local function basename(path)
  return path:match("[^/]*$")
end

--- This process, as a state file records it (the supervisor).
function M.me()
  local pid = core.getpid()
  local info = core.proc.info(pid)
  return { pid = pid, start_time = core.proc.start_time(pid), exe = info and info.exe }
end

--- Does /proc show the recorded process p (`{ pid =, start_time =, exe = |
-- argv = }`) as the sandbox's: alive with its start time, running as this
-- user, running the recorded program? A state file is only a claim; this is
-- what makes it safe to signal the process.
function M.owned(p)
  if not M.alive(p) then return false end
  local info = core.proc.info(p.pid)
  if not info or info.uid ~= core.getuid() or info.start_time ~= p.start_time then return false end
  if type(p.exe) == "string" then return info.exe == p.exe end
  local want = type(p.argv) == "table" and p.argv[1]
  if type(want) ~= "string" or want == "" then return false end
  if info.cmdline and info.cmdline[1] == want then return true end
  -- a program named without a path runs from wherever PATH found it
  return info.exe ~= nil and not want:find("/", 1, true) and basename(info.exe) == want
end

--- A handle on a recorded process that is provably ours, or nil, message.
function M.attach_owned(p)
  if not M.owned(p) then
    return nil, string.format("process %s is not this sandbox's (gone, another user's, or another program)",
                              tostring(type(p) == "table" and p.pid))
  end
  return core.proc.attach(p.pid, p.start_time)
end

--- The recorded processes, sorted by name: `{ name, role, pid, argv, log,
-- proc }`, `proc` an attached handle for those provably ours (else nil).
function M.owned_processes(st)
  local names, out = {}, {}
  for name, p in pairs(type(st.processes) == "table" and st.processes or {}) do
    if type(name) == "string" and type(p) == "table" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = st.processes[name]
    local proc = M.owned(p) and core.proc.attach(p.pid, p.start_time) or nil
    out[#out + 1] = { name = name, role = p.role, pid = p.pid, start_time = p.start_time, argv = p.argv,
                      log = p.log, proc = proc }
  end
  return out
end

--- Is `path` inside `dir` (no `..` step out of it)?
function M.inside(dir, path)
  if type(path) ~= "string" or path:sub(1, #dir + 1) ~= dir .. "/" then return false end
  for part in path:sub(#dir + 2):gmatch("[^/]+") do
    if part == ".." then return false end
  end
  return true
end

--- A recorded socket to talk to: one in the sandbox dir, or one elsewhere
-- that is a socket of this user's (a recipe's own control socket). nil
-- otherwise.
function M.usable_socket(dir, path)
  if M.inside(dir, path) then return path end
  local st = type(path) == "string" and core.fs.stat(path)
  if st and st.type == "socket" and st.uid == core.getuid() then return path end
  return nil
end

--- "supervisor pid N", "hypervisor pid M", ... for every recorded process
-- still alive (sorted).
function M.live_processes(st)
  local live = {}
  if M.alive(st.supervisor) then live[#live + 1] = string.format("supervisor pid %d", st.supervisor.pid) end
  if type(st.processes) == "table" then
    for name, p in pairs(st.processes) do
      if M.alive(p) then live[#live + 1] = string.format("%s pid %d", name, p.pid) end
    end
  end
  table.sort(live)
  return live
end

--- The status to show: a sandbox that claims to be up but whose processes
-- are all gone is "dead".
function M.status(st)
  local status = type(st.status) == "string" and st.status or "unknown"
  if (status == "starting" or status == "running" or status == "stopping") and #M.live_processes(st) == 0 then
    return "dead"
  end
  return status
end

return M
