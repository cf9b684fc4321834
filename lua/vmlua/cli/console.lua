--- vmlua console ID: the guest's serial console, interactively. The serial
-- port is served on console.sock in the sandbox dir (QEMU: a socket
-- chardev whose logfile= keeps serial.log written); this connects to it,
-- puts the terminal in raw mode and copies both ways until Ctrl-] or until
-- the sandbox stops.
local core = require "vmlua.core"
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

--- The byte that leaves the console (Ctrl-], as telnet and virsh console).
M.ESCAPE = "\29"

-- Copy input to the socket up to the escape byte: true when it was seen.
local function forward(sock, data)
  local at = data:find(M.ESCAPE, 1, true)
  if at then data = data:sub(1, at - 1) end
  if #data > 0 then
    local ok, err = sock:send(data, 5)
    if not ok then cli.fail("console: " .. tostring(err)) end
  end
  return at ~= nil
end

-- Copy until Ctrl-], the console closing, or the end of (non-terminal) input.
local function relay(sock, input)
  local conds = { { readable = sock }, { readable = input } }
  while true do
    local i = core.wait(conds)
    if i == 1 then
      local data = sock:recv(65536, 0)
      if not data then return "the console closed (the VM stopped?)" end
      io.stdout:write(data)
      io.stdout:flush()
    elseif i == 2 then
      local data = input:read(0)
      if not data then
        -- input ended: stop reading it, keep showing output briefly
        table.remove(conds, 2)
        local j = core.wait(conds, 0.5)
        while j == 1 do
          local more = sock:recv(65536, 0)
          if not more then break end
          io.stdout:write(more)
          j = core.wait(conds, 0.2)
        end
        io.stdout:flush()
        return nil
      end
      if forward(sock, data) then return nil end
    end
  end
end

M.summary = "attach to a sandbox's serial console (Ctrl-] leaves)"
M.usage = "console ID"
M.description = table.concat({
  "Connects the terminal to the guest's serial console (the guest kit runs a shell",
  "there) until Ctrl-] or until the sandbox stops; the serial log is still written",
  "meanwhile. QEMU serves one console client at a time. cloud-hypervisor sandboxes",
  "have none: cloud-hypervisor writes the serial port to a file or serves it on a",
  "socket, not both, and vmlua keeps the file (see vmlua logs -f).",
  "",
  "Exit status: 0; 1 when the console cannot be reached; 2 for an unknown sandbox or",
  "one without a console socket.",
}, "\n")
M.args = { "ID" }

function M.run(_, pos)
  local st = common.check(control.find(pos[1]))
  local dir = control.run_dir() .. "/" .. st.id
  local path = type(st.console_socket) == "string" and liveness.usable_socket(dir, st.console_socket)
  if not path then
    cli.usage(string.format("console: sandbox '%s' has no console socket%s", st.id,
                            type(st.console_note) == "string" and (": " .. st.console_note) or ""))
  end
  local status = control.status(st)
  if status ~= "running" then
    cli.fail(string.format("console: sandbox '%s' is not running (status: %s)", st.id, status))
  end
  local sock, err = core.socket.connect(path, 5)
  if not sock then cli.fail("console: " .. err) end
  local input, ierr = core.tty.input(0)
  if not input then sock:close(); cli.fail("console: stdin: " .. ierr) end
  local tty = core.isatty(0) and core.tty.raw(0) or nil
  if core.isatty(2) then
    io.stderr:write(string.format("vmlua: connected to the serial console of '%s'; Ctrl-] leaves\r\n", st.id))
  end
  local ok, why = pcall(relay, sock, input)
  if tty then tty:restore() end
  input:close()
  sock:close()
  if not ok then error(why, 0) end
  if why then io.stderr:write("\r\nvmlua: ", why, "\n") elseif tty then io.stderr:write("\r\n") end
  return 0
end

return M
