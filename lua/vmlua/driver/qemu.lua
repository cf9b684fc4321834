--- The QEMU driver: QMP on a unix socket is the control channel; the run
-- state from `query-status` tells readiness; the ACPI power button
-- (`system_powerdown`) and `quit` are its stop steps. The command line comes
-- from the builder (`vmlua.qemu`); this module is what the sandbox does with
-- it. The contract is in docs/drivers.md.
local S = require "vmlua.schema"

local D = {
  name = "qemu",
  title = "QEMU",
  builder = "qemu.config{...}",
  --- The control socket: its file in the sandbox dir, and the protocol
  -- spoken on it (`vmlua qmp` talks to sandboxes whose driver speaks "qmp").
  control = { file = "qmp.sock", protocol = "qmp", label = "QMP" },
  default_stop = { "powerdown", "quit", "term", "kill" },
  --- Stop steps that need nothing from the guest: a failed start is torn
  -- down with these (and term, kill).
  quick_actions = { "quit" },
}

--- A QMP client on the control socket (capabilities negotiated).
function D.connect(path, timeout)
  return require("vmlua.qmp").connect(path, { timeout = timeout })
end

--- The VM's run state ("running", "paused", "inmigrate", ...).
function D.vm_state(client)
  local st, err = client:query_status()
  if not st then return nil, err end
  return st.status
end

--- How pause and resume are done, for `vmlua help pause`.
D.pause_how = { pause = "QMP stop", resume = "QMP cont" }

function D.pause(client)
  return client:execute("stop")
end

function D.resume(client)
  return client:execute("cont")
end

-- ------------------------------------------------------------ readiness

--- The qmp probe: QMP answers and query-status reports `state`. A state
-- change comes with an event (RESUME, STOP, ...), so between checks the
-- probe waits for QMP traffic rather than polling.
local function qmp_probe(rt, p, deadline)
  local probes = require "vmlua.sandbox.probes"
  local client, fail = probes.control_client(rt, deadline)
  if not client then return nil, fail end
  local last
  while true do
    local state, qerr = D.vm_state(client)
    if not state then client:close(); return nil, { kind = "error", message = qerr } end
    last = state
    if state == p.state then break end
    local widx, wfail = probes.wait_for(rt, { { readable = client:socket() } }, deadline)
    if not widx then client:close(); wfail.last_state = last; return nil, wfail end
    client:events()
  end
  client:close()
  return true
end

--- Probe kinds this driver serves, besides the generic ones.
D.probes = {
  qmp = {
    schema = S.either({ S.boolean {}, S.string { enum = { "running", "paused", "prelaunch", "inmigrate" } } },
                      { describe = 'true or a QEMU run state such as "running"' }),
    normalize = function(v) return { state = type(v) == "string" and v or "running" } end,
    run = qmp_probe,
  },
}

--- Ready by default once QMP reports the VM running.
function D.default_ready(timeout)
  return { { kind = "qmp", state = "running", timeout = timeout } }
end

-- ------------------------------------------------------------ stopping

local function qmp_command(rt, fn)
  local c, err = rt:control(2)
  if not c then return nil, err end
  local ok, qerr = fn(c)
  c:close()
  return ok ~= nil, qerr
end

--- Stop steps this driver serves, besides term and kill.
D.actions = {
  powerdown = function(rt)
    return qmp_command(rt, function(c) return c:execute("system_powerdown") end)
  end,
  -- QEMU closing the monitor before it answers counts as success
  quit = function(rt)
    return qmp_command(rt, function(c) return c:quit() end)
  end,
}

-- ------------------------------------------------------------ launching

--- What to start: the full command line, with the files it refers to.
function D.launch(cfg)
  return { argv = cfg:argv(), fds = cfg:fds() }
end

--- QEMU boots by itself: no calls after the launch.
function D.boot_calls()
  return {}
end

function D.boot()
  return true
end

-- ---- status

--- The `vm_state` of a paused VM (query-status): `vmlua ps` shows such a sandbox
-- as "paused".
D.paused_state = "paused"

-- ------------------------------------------------------------ networks and disks

--- Network modes (docs/networks-and-disks.md): user-mode networking (slirp)
-- and taps. vmlua creates a tap and sets up its host side; QEMU opens it
-- by name.
D.network_modes = { user = true, tap = true }
D.creates_tap = false
--- The addresses of user-mode networking (QEMU's defaults: -netdev user
-- net=10.0.2.0/24): the guest's DHCP address and the host as the guest sees
-- it (the gateway), for `network.kernel_ip` in user mode.
D.user_network = { guest = "10.0.2.15", host = "10.0.2.2", prefix = 24 }

--- Disk modes beyond a plain image: a qcow2 overlay vmlua creates, and
-- `snapshot=on` (a temporary overlay QEMU deletes itself).
D.disk_modes = { overlay = true, ephemeral = true }

--- Wire the sandbox's network (see vmlua.sandbox.network) into the config.
function D.add_network(cfg, net)
  if net.mode == "user" then
    return cfg:add_network { mode = "user", mac = net.mac, forward = net.rules, isolated = net.isolated or nil }
  end
  return cfg:add_network { mode = "tap", mac = net.mac, ifname = not net.fds and net.tap or nil, fds = net.fds }
end

--- Wire one disk (see vmlua.sandbox.disks) into the config.
function D.add_disk(cfg, disk)
  return cfg:add_disk { id = disk.id, path = disk.path, format = disk.format, read_only = disk.read_only or nil,
                        cache = disk.cache, serial = disk.serial, snapshot = disk.ephemeral or nil }
end

--- What QEMU's output says about a failed start that a recipe field
-- explains: `{ kind = "forward", rule = }` for a host port it could not
-- listen on, `{ kind = "image_locked", path = }` for an image another
-- process holds (QEMU's image locking).
function D.start_failures(text)
  local out = {}
  for rule in text:gmatch("Could not set up host forwarding rule '([^']*)'") do
    out[#out + 1] = { kind = "forward", rule = rule }
  end
  for path in text:gmatch("Is another process using the image %[(.-)%]%?") do
    out[#out + 1] = { kind = "image_locked", path = path }
  end
  return out
end

return D
