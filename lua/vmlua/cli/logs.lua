--- vmlua logs ID [-f] [--serial | --hypervisor | --helper NAME | --supervisor]:
-- print a sandbox's log files; -f follows them (inotify) until it stops.
local core = require "vmlua.core"
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

-- The log file the options name, from the state: its path and a label.
local function pick(st, opts)
  local chosen = {}
  for _, k in ipairs { "serial", "hypervisor", "helper", "supervisor" } do
    if opts[k] then chosen[#chosen + 1] = k end
  end
  if #chosen > 1 then
    cli.usage("logs: give one of --serial, --hypervisor, --helper NAME, --supervisor")
  end
  local which = chosen[1] or "serial"
  local procs = type(st.processes) == "table" and st.processes or {}
  if which == "serial" then
    if type(st.serial_log) ~= "string" then
      cli.fail(string.format("logs: sandbox '%s' has no serial log (the recipe sends the serial port elsewhere)",
                             st.id))
    end
    return st.serial_log
  elseif which == "hypervisor" then
    local p = procs.hypervisor
    if type(p) ~= "table" or type(p.log) ~= "string" then
      cli.fail(string.format("logs: sandbox '%s' has not started its hypervisor", st.id))
    end
    return p.log
  elseif which == "supervisor" then
    return st.dir .. "/supervisor.log"
  end
  local p = procs[opts.helper]
  if opts.helper == "hypervisor" or type(p) ~= "table" or type(p.log) ~= "string" then
    local names = {}
    for name, q in pairs(procs) do
      if name ~= "hypervisor" and type(q) == "table" then names[#names + 1] = name end
    end
    table.sort(names)
    cli.usage(string.format("logs: sandbox '%s' has no helper '%s' (it has: %s)", st.id, opts.helper,
                            #names > 0 and table.concat(names, ", ") or "none"))
  end
  return p.log
end

-- What ends a follow: the supervisor, else the hypervisor, while they run.
local function watched(st)
  for _, p in ipairs { st.supervisor, type(st.processes) == "table" and st.processes.hypervisor or nil } do
    if liveness.alive(p) then
      local proc = core.proc.attach(p.pid, p.start_time)
      if proc then return proc end
    end
  end
  return nil
end

local function print_file(path)
  local f = io.open(path, "rb")
  if not f then return end
  while true do
    local chunk = f:read(65536)
    if not chunk then break end
    io.stdout:write(chunk)
  end
  f:close()
  io.stdout:flush()
end

-- Everything in the file, then what is added to it until `proc` exits.
local function follow(path, proc)
  local s, err = core.follow(path, { from = "start" })
  if not s then cli.fail("logs: " .. err) end
  while true do
    local i = core.wait({ { readable = s }, { exit = proc } })
    if i == 1 then
      local data = s:read(0)
      if data then io.stdout:write(data); io.stdout:flush() end
    else
      -- the sandbox stopped: what it wrote last, then done
      while true do
        local data = s:read(0)
        if not data then break end
        io.stdout:write(data)
      end
      io.stdout:flush()
      s:close()
      return
    end
  end
end

M.summary = "print a sandbox's serial log (or another of its logs); -f follows it"
M.usage = "logs ID [-f] [--serial | --hypervisor | --helper NAME | --supervisor]"
M.description = table.concat({
  "Prints the whole log: the guest's serial console (default), the hypervisor's",
  "output, a helper's output (virtiofsd-TAG for a share, or a recipe's helper), or",
  "the detached supervisor's log. With -f, then prints what is added (inotify, no",
  "polling) until the sandbox stops, or until Ctrl-C.",
  "",
  "Exit status: 0; 1 when the log cannot be read; 2 for an unknown sandbox or helper.",
}, "\n")
M.args = { "ID" }
M.options = {
  { long = "--follow", short = "-f", help = "keep printing what is added until the sandbox stops" },
  { long = "--serial", help = "the guest's serial console (default)" },
  { long = "--hypervisor", help = "the hypervisor's output" },
  { long = "--helper", arg = "NAME", help = "a helper's output (virtiofsd-TAG for a share)" },
  { long = "--supervisor", help = "the detached supervisor's log" },
}

function M.run(opts, pos)
  local st = common.check(control.find(pos[1]))
  local path = pick(st, opts)
  local proc = opts.follow and watched(st)
  if not proc then
    if not core.fs.exists(path) then cli.fail(string.format("logs: %s: no such file (yet)", path)) end
    print_file(path)
    return 0
  end
  follow(path, proc)
  proc:close()
  return 0
end

return M
