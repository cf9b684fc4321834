--- The QEMU driver: QMP on a unix socket is the control channel; the run
-- state from `query-status` tells readiness; the ACPI power button
-- (`system_powerdown`) and `quit` are its stop steps. The command line comes
-- from the builder (`vmlua.qemu`); this module is what the sandbox does with
-- it. The contract is in docs/drivers.md.
local S = require "vmlua.schema"
local deadline_mod = require "vmlua.deadline"

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

-- What QEMU says of an incoming migration that has not ended, for the
-- message of a probe that gave up waiting for its end.
local function incoming_detail(client, note)
  local parts = {}
  local info = client:query_migrate { timeout = 1 }
  if type(info) == "table" then
    parts[#parts + 1] = "incoming migration " .. tostring(info.status or "not started")
  end
  if note then parts[#parts + 1] = note end
  return #parts > 0 and ", " .. table.concat(parts, ", ") or ""
end

--- The qmp probe: QMP answers and query-status reports `state`. The state
-- is a fact, read once after connecting and again whenever QMP sends
-- something (RESUME, STOP, MIGRATION, ... events): between reads the probe
-- waits for QMP traffic rather than polling.
--
-- One switch sends no event by itself: the end of an incoming migration
-- ("inmigrate" to "paused", or to "running"). While QEMU is in "inmigrate"
-- the probe turns the migration's `events` capability on, so that the end
-- comes as a MIGRATION event, then reads the state again (the migration may
-- have ended before the capability was on).
local function qmp_probe(rt, p, deadline)
  local probes = require "vmlua.sandbox.probes"
  local client, fail = probes.control_client(rt, deadline)
  if not client then return nil, fail end
  local last, asked, note
  while true do
    local state, qerr = D.vm_state(client)
    if not state then client:close(); return nil, { kind = "error", message = qerr } end
    last = state
    if state == p.state then break end
    if state == "inmigrate" and not asked then
      asked = true
      local ok, cerr = client:migrate_set_capabilities { events = true }
      if not ok then note = "its events could not be turned on (" .. tostring(cerr) .. ")" end
    else
      -- Events read while waiting for that reply count as news: QEMU 7.2
      -- sends a query-status reply when its QMP dispatcher resumes, after
      -- the handler ran, and the migration's end (its runstate, then its
      -- event) can come in between: the event before a reply that says
      -- "inmigrate", and then nothing more.
      local news = #client:events() > 0
      local widx, wfail
      if news and not deadline_mod.expired(deadline) then
        widx = true
      else
        widx, wfail = probes.wait_for(rt, { { readable = client:socket() } }, deadline)
      end
      if not widx then
        wfail.last_state = last
        if last == "inmigrate" and wfail.kind == "timeout" then
          wfail.last_state = last .. incoming_detail(client, note)
        end
        client:close()
        return nil, wfail
      end
      client:events()
    end
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

--- QEMU boots by itself: no calls after the launch. A clone or a
-- restored sandbox gets its saved state over QMP (see `restore`).
function D.boot_calls(plan)
  local snap = plan.snapshot
  if not snap or snap.mode == "template" then return {} end
  local caps = { { capability = "events", state = true },
                 { capability = "x-ignore-shared", state = snap.mode == "clone" } }
  return {
    { call = "migrate-set-capabilities", body = { capabilities = caps } },
    { call = "getfd", body = { fdname = "vmlua-restore" }, fds = { snap.dir .. "/" .. D.STATE_FILE } },
    { call = "migrate-incoming", body = { uri = "fd:vmlua-restore" } },
    { call = "cont" },
  }
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

-- ---- agent

--- The guest agent's channel: a virtio-serial port named
-- org.qemu.guest_agent.0 on a unix socket chardev in the sandbox dir (the
-- builder's add_agent_channel). QEMU holds what the host sends until the
-- agent opens the port, so a sync sent early is answered once it is up.
D.agent = {
  file = "qga.sock",
  ports = false,
  -- qemu-ga sleeps 100 ms on a virtio-serial port no host client holds:
  -- the supervisor holds it and relays (vmlua.sandbox.agent_relay)
  relay = true,
  transport = "virtio-serial port org.qemu.guest_agent.0",
  hint = "is qemu-ga in the guest, running on the virtio-serial port org.qemu.guest_agent.0?",
}

--- A vmlua.qga client on the channel recorded in the plan or state
-- (`{ socket = }`); `opts`: timeout, wait, hint (see qga.connect).
function D.agent_connect(channel, opts)
  return require("vmlua.qga").connect { socket = channel.socket, timeout = opts.timeout, wait = opts.wait,
                                        hint = opts.hint }
end

-- ------------------------------------------------------------ snapshots

--- What this driver cannot do (docs/snapshots.md): nothing of snapshots,
-- restores, templates and clones.
D.cannot = {}

--- The file of a saved VM's state in its dir: QEMU's migration stream.
D.STATE_FILE = "state"

--- A template sandbox: its guest RAM in a file, mapped shared, so that the
-- file holds the RAM when the template is saved.
function D.template_config(cfg, ram)
  return cfg:set_ram_file { path = ram, shared = true }
end

--- A clone or a restored sandbox: QEMU starts waiting for its state
-- (-incoming defer, loaded in `restore`/`clone`); a clone maps its
-- template's RAM file privately (copy-on-write: the file never changes).
function D.restore_config(cfg, from)
  if from.ram then
    local ok, err = cfg:set_ram_file { path = from.ram, shared = false }
    if not ok then return nil, err end
  end
  return cfg:set_restore(from.dir)
end

--- Nothing to put in place before the start: the state goes over QMP.
function D.stage_restore()
  return true
end

local function migration_over(ev)
  local s = type(ev.data) == "table" and ev.data.status
  return s == "completed" or s == "failed" or s == "cancelled"
end

-- Hand QEMU the state file of `dir` under `fdname` (getfd: QEMU gets the
-- open file by SCM_RIGHTS). true, or nil and a message.
local function send_state_file(client, dir, fdname, mode)
  local f, err = io.open(dir .. "/" .. D.STATE_FILE, mode)
  if not f then return nil, err end
  local ok, gerr = client:getfd(fdname, f)
  f:close()
  return ok, gerr
end

-- After the MIGRATION event "completed" QEMU still finishes the migration
-- (run state "finish-migrate") until its migration thread has cleaned up;
-- a `cont` meanwhile fails ("Migration is not finalized yet"). No event marks
-- that end: read the state again on QMP traffic or after a backoff (1 ms,
-- doubling), until it has moved on. true, or nil and a message.
local function migration_settled(client, timeout)
  local core = require "vmlua.core"
  local deadline = core.monotonic() + (timeout or 10)
  local delay = 0.001
  while true do
    local st, err = D.vm_state(client)
    if not st then return nil, err end
    if st ~= "finish-migrate" then return true end
    if core.monotonic() >= deadline then return nil, "the migration did not finish (state finish-migrate)" end
    core.wait({ { readable = client:socket() } }, delay)
    client:events()
    delay = math.min(delay * 2, 0.1)
  end
end

-- Why a migration failed, from query-migrate.
local function migration_error(client)
  local info = client:query_migrate()
  return type(info) == "table" and info["error-desc"] or "no reason given"
end

--- Save the VM into `dir`/state and leave it paused: QMP stop, then a
-- migration to the file, which QEMU gets as an fd (getfd, `migrate fd:`;
-- QEMU 7.2 has no file: URI, and exec: would run a shell). With
-- `opts.template` the x-ignore-shared capability leaves the guest RAM out
-- (it is in the template's shared file): only the device state is saved.
-- `opts.timeout` bounds the save. Returns `{ was_running = bool }`, or nil
-- and a message (the VM then runs again if it ran).
function D.snapshot(client, dir, opts)
  opts = opts or {}
  local st, err = D.vm_state(client)
  if not st then return nil, err end
  local ok
  ok, err = client:migrate_set_capabilities { events = true, ["x-ignore-shared"] = opts.template == true }
  -- A VM still paused since its last save ("postmigrate") cannot be
  -- migrated again: QEMU wants it resumed first. cont + stop, two QMP
  -- round trips, make it plainly paused.
  if ok and st == "postmigrate" then ok, err = client:execute("cont") end
  if ok then ok, err = client:execute("stop") end
  if ok then ok, err = send_state_file(client, dir, "vmlua-save", "wb") end
  if ok then ok, err = client:migrate("fd:vmlua-save") end
  if ok then
    local ev, werr = client:wait_event("MIGRATION", opts.timeout, migration_over)
    if not ev then
      ok, err = nil, werr
    elseif ev.data.status ~= "completed" then
      ok, err = nil, string.format("the migration to %s/%s %s: %s", dir, D.STATE_FILE, ev.data.status,
                                   migration_error(client))
    else
      ok, err = migration_settled(client, opts.timeout)
    end
  end
  if not ok then
    if st == "running" then client:execute("cont") end
    return nil, err
  end
  return { was_running = st == "running" }
end

--- `vmlua template save`: the device state only (x-ignore-shared).
function D.save_template(client, dir, opts)
  return D.snapshot(client, dir, { template = true, timeout = opts and opts.timeout })
end

--- End the hypervisor at once (after a save: nothing in the guest needs
-- to run any more).
function D.quit(client)
  return client:quit()
end

-- A probe-style failure (vmlua.sandbox.probes.wait_for) as a message.
local function wait_failure(what, fail, timeout)
  if fail.kind == "timeout" then return string.format("%s did not finish within %g s", what, timeout) end
  if fail.kind == "signal" then return string.format("interrupted by %s during %s", fail.signal, what) end
  return string.format("%s failed: %s", what, tostring(fail.message))
end

-- Load the saved state into a QEMU that waits for it (-incoming defer),
-- then resume the VM: migrate-set-capabilities (x-ignore-shared for a
-- clone: the capability must match the saver's), getfd + migrate-incoming
-- fd:, the MIGRATION event "completed" (QEMU 7.2 exits when the stream
-- cannot be loaded: that shows as the hypervisor's exit), cont.
local function load_state(rt, ignore_shared)
  local probes = require "vmlua.sandbox.probes"
  local timeout = rt.sandbox.timeouts.ready
  local deadline = require("vmlua.deadline").after(timeout)
  local snap = rt.plan.snapshot
  local what = "loading the saved state from " .. snap.dir
  local client, fail = probes.control_client(rt, deadline)
  if not client then
    if fail.kind == "error" then return probes.exit_or(rt, what .. " failed: " .. tostring(fail.message)) end
    return nil, wait_failure(what, fail, timeout), fail
  end
  local ok, err = client:migrate_set_capabilities { events = true, ["x-ignore-shared"] = ignore_shared }
  if ok then ok, err = send_state_file(client, snap.dir, "vmlua-restore", "rb") end
  if ok then ok, err = client:migrate_incoming("fd:vmlua-restore") end
  local done
  while ok and not done do
    for _, ev in ipairs(client:events()) do
      if ev.event == "MIGRATION" and migration_over(ev) then done = ev.data.status end
    end
    if not done then
      local i, wfail = probes.wait_for(rt, { { readable = client:socket() } }, deadline)
      if not i then client:close(); return nil, wait_failure(what, wfail, timeout), wfail end
    end
  end
  if ok and done ~= "completed" then
    err = string.format("migration %s: %s", tostring(done), migration_error(client))
    client:close()
    -- QEMU 7.2 exits after a failed incoming migration, saying why on its
    -- stderr: the exit, with the hypervisor's output, is the better message
    local _, emsg, efail = probes.exit_or(rt, err, 5)
    return nil, what .. " failed: " .. emsg, efail
  end
  if ok then ok, err = client:execute("cont") end
  client:close()
  if not ok then return probes.exit_or(rt, what .. " failed: " .. tostring(err)) end
  rt:progress("state loaded from %s, VM resumed", snap.dir)
  return true
end

--- A restored sandbox: the snapshot's state loaded, the VM resumed.
function D.restore(rt)
  return load_state(rt, false)
end

--- A clone: the template's device state loaded over its RAM file, the VM
-- resumed.
function D.clone(rt)
  return load_state(rt, true)
end

return D
