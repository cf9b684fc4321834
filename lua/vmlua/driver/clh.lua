--- The cloud-hypervisor driver: its REST API on a unix socket is the control
-- channel; `vm.info` tells readiness; the power button (`vm.power-button`)
-- and `vmm.shutdown` are its stop steps. It launches in one of two flows:
-- "api" (the default, as Kata does: the VMM starts with only its API socket,
-- then vm.create, vm.add-net for nets given as open fds, vm.boot) or "cli"
-- (everything on the command line). The contract is in docs/drivers.md.
local S = require "vmlua.schema"

local D = {
  name = "clh",
  title = "cloud-hypervisor",
  builder = "clh.config{...}",
  control = { file = "api.sock", protocol = "api", label = "REST API" },
  default_stop = { "powerdown", "shutdown", "term", "kill" },
  quick_actions = {},
  flows = { "api", "cli" },
  default_flow = "api",
}

--- A REST client on the API socket (connectionless: one request each).
function D.connect(path, timeout)
  return require("vmlua.chapi").new(path, { timeout = timeout })
end

--- The VM's state ("Created", "Running", "Paused", "Shutdown").
function D.vm_state(client)
  local info, err = client:info()
  if not info then return nil, err end
  return info.state
end

--- How pause and resume are done, for `vmlua help pause`.
D.pause_how = { pause = "vm.pause", resume = "vm.resume" }

function D.pause(client)
  return client:call("pause")
end

function D.resume(client)
  return client:call("resume")
end

-- ------------------------------------------------------------ readiness

--- The api probe: vmm.ping answers and vm.info reports `state`. The API
-- sends no events, so it polls with backoff.
local function api_probe(rt, p, deadline)
  local probes = require "vmlua.sandbox.probes"
  local api, fail = probes.control_client(rt, deadline)
  if not api then return nil, fail end
  local delay = 0.005
  local last
  while true do
    if api:ping() then
      last = D.vm_state(api)
      if last == p.state then return true end
    end
    local waited, wfail = probes.backoff_wait(rt, delay, deadline)
    if not waited then return nil, wfail end
    if probes.remaining(deadline) == 0 then return nil, { kind = "timeout", last_state = last } end
    delay = math.min(delay * 2, 0.25)
  end
end

D.probes = {
  api = {
    schema = S.either({ S.boolean {}, S.string { enum = { "Created", "Running", "Paused" } } },
                      { describe = 'true or a cloud-hypervisor VM state such as "Running"' }),
    normalize = function(v) return { state = type(v) == "string" and v or "Running" } end,
    run = api_probe,
  },
}

--- Ready by default once vm.info says Running.
function D.default_ready(timeout)
  return { { kind = "api", state = "Running", timeout = timeout } }
end

-- ------------------------------------------------------------ stopping

local function api_call(rt, method)
  local api, err = rt:control()
  if not api then return nil, err end
  local ok, cerr = api[method](api)
  return ok ~= nil, cerr
end

D.actions = {
  powerdown = function(rt) return api_call(rt, "power_button") end,
  shutdown = function(rt) return api_call(rt, "vmm_shutdown") end,
}

-- ------------------------------------------------------------ launching

--- What to start. The api flow starts the VMM with only its API socket;
-- the VM comes in `boot` from `vm_config` and `net_hotplug`.
function D.launch(cfg, flow)
  if flow == "api" and not cfg.fields.restore then
    return { argv = cfg:api_argv(), vm_config = cfg:vm_config(), net_hotplug = cfg:net_hotplug() }
  end
  return { argv = cfg:argv(), fds = cfg:fds() }
end

--- The REST calls of the api flow after vmm.ping, as the newest Kata
-- driver boots: vm.create, then vm.add-net for each net given as open fds
-- (the fds travel with SCM_RIGHTS; vm.create ignores fds), then vm.boot.
-- A list of `{ call =, body =, fds = }`; empty in the cli flow.
function D.boot_calls(plan)
  if plan.snapshot and plan.snapshot.mode ~= "template" then return { { call = "vm.resume" } } end
  if plan.flow ~= "api" then return {} end
  local calls = { { call = "vm.create", body = plan.vm_config } }
  for _, net in ipairs(plan.net_hotplug or {}) do
    calls[#calls + 1] = { call = "vm.add-net", body = net.body, fds = net.fds }
  end
  calls[#calls + 1] = { call = "vm.boot" }
  return calls
end

-- A client once the API socket accepts connections and vmm.ping answers:
-- the client, or nil, message, failure table.
local function api_up(rt)
  local plan = rt.plan
  local probes = require "vmlua.sandbox.probes"
  local timeout = rt.sandbox.timeouts.ready
  local idx, fail = probes.wait_for(rt, { { socket = plan.control_socket } }, require("vmlua.deadline").after(timeout))
  if not idx then
    if fail.kind == "timeout" then
      return nil, string.format("cloud-hypervisor API socket %s did not appear within %g s",
                                plan.control_socket, timeout), fail
    end
    return nil, fail.message or ("interrupted by " .. tostring(fail.signal)), fail
  end
  local api, err = rt:control()
  if not api then return nil, err end
  local ok, perr = api:ping()
  if not ok then return probes.exit_or(rt, "vmm.ping failed: " .. tostring(perr)) end
  return api
end


--- The api flow: wait for the API socket, vmm.ping, then the boot calls.
function D.boot(rt)
  local plan = rt.plan
  local calls = D.boot_calls(plan)
  if #calls == 0 then return true end
  local api, err, fail = api_up(rt)
  if not api then return nil, err, fail end
  for _, c in ipairs(calls) do
    local done, cerr = api:call(c.call, c.body, { fds = c.fds })
    if not done then return nil, string.format("%s failed: %s", c.call, tostring(cerr)) end
  end
  local names = {}
  for i, c in ipairs(calls) do names[i] = c.call end
  rt:progress("%s done", table.concat(names, ", "))
  return true
end

-- ---- status

--- The `vm_state` of a paused VM (vm.info): `vmlua ps` shows such a sandbox
-- as "paused".
D.paused_state = "Paused"

-- ------------------------------------------------------------ networks and disks

--- Network modes (docs/networks-and-disks.md): taps only. cloud-hypervisor
-- creates the tap itself from `--net tap=,ip=,mask=` and sets up its host
-- side; the tap goes away with the VMM.
D.network_modes = {
  tap = true,
  user = "it has no user-mode network stack (QEMU's slirp); use mode = \"tap\"",
}
D.creates_tap = true

--- Disk modes: overlays (qcow2 with backing_files=on); no snapshot mode.
D.disk_modes = {
  overlay = true,
  ephemeral = "it has no snapshot mode that keeps writes off the image; use overlay = true",
}

function D.add_network(cfg, net)
  if net.fds then return cfg:add_network { mode = "tap", mac = net.mac, fds = net.fds } end
  return cfg:add_network { mode = "tap", mac = net.mac, ifname = net.tap, host_address = net.host,
                           netmask = net.netmask }
end

function D.add_disk(cfg, disk)
  return cfg:add_disk { id = disk.id, path = disk.path, format = disk.format, read_only = disk.read_only or nil,
                        cache = disk.cache, serial = disk.serial, backing_files = disk.overlay and true or nil }
end

--- Nothing in cloud-hypervisor's output maps to a recipe field yet.
function D.start_failures()
  return {}
end

-- ---- agent

--- The guest agent's channel: the hybrid vsock (the recipe's vsock, or one
-- on a socket in the sandbox dir) and a vsock port the guest's qemu-ga
-- listens on (`qemu-ga -m vsock-listen -p 4294967295:PORT`; the builder adds
-- the kernel parameter vmlua.agent=vsock:PORT that makes the guest kit do
-- so). Until the guest listens, cloud-hypervisor closes each connection
-- without an OK: connecting retries until its timeout.
D.agent = {
  file = "vsock.sock",
  ports = true,
  relay = false, -- each vsock connection is the guest's own
  transport = "hybrid vsock",
  hint = "is qemu-ga in the guest, listening on the vsock port (qemu-ga -m vsock-listen -p 4294967295:PORT)?",
}

--- A vmlua.qga client through the hybrid vsock recorded in the plan or
-- state (`{ socket =, port = }`); `opts`: timeout, wait, hint.
function D.agent_connect(channel, opts)
  return require("vmlua.qga").connect { socket = channel.socket, port = channel.port, timeout = opts.timeout,
                                        wait = opts.wait, hint = opts.hint }
end

-- ------------------------------------------------------------ snapshots

--- What this driver cannot do (docs/snapshots.md).
local NO_TEMPLATES = "it restores guest RAM from a snapshot's own memory files (copied, or faulted in on demand), "
  .. "and has nothing like QEMU's x-ignore-shared to map a template's RAM file copy-on-write; use QEMU for "
  .. "templates, or snapshots (vmlua snapshot, run --restore)"
D.cannot = { template = NO_TEMPLATES, clone = NO_TEMPLATES }

--- A restored sandbox: cloud-hypervisor reads the snapshot at start
-- (--restore) from the dir `stage_restore` makes.
function D.restore_config(cfg, from)
  return cfg:set_restore(from.stage)
end

--- The snapshot's config.json names the files of the sandbox it was taken
-- from (serial and console files, the vsock socket). Make `<sandbox
-- dir>/restore`: a config.json with this sandbox's, and links to the
-- snapshot's other files. true, or nil and a message.
function D.stage_restore(rt)
  local core = require "vmlua.core"
  local snap = rt.plan.snapshot
  local stage = snap.stage
  core.fs.remove_tree(stage)
  local ok, err = core.fs.mkdir(stage, tonumber("700", 8))
  if not ok then return nil, err end
  local f, ferr = io.open(snap.dir .. "/config.json", "rb")
  if not f then return nil, "restore: " .. ferr end
  local saved_cfg, jerr = core.json.decode(f:read("a") or "")
  f:close()
  if type(saved_cfg) ~= "table" then
    return nil, string.format("restore: %s/config.json: not a JSON object (%s)", snap.dir, tostring(jerr))
  end
  local mine = rt.plan.config:vm_config()
  for _, k in ipairs { "serial", "console", "vsock" } do
    local to, from = saved_cfg[k], mine[k]
    if type(to) == "table" and type(from) == "table" then
      for _, p in ipairs { "file", "socket" } do
        if to[p] ~= nil and from[p] ~= nil then to[p] = from[p] end
      end
    end
  end
  local out, oerr = io.open(stage .. "/config.json", "wb")
  if not out then return nil, oerr end
  out:write(core.json.encode(saved_cfg), "\n")
  out:close()
  for _, name in ipairs(core.fs.list(snap.dir) or {}) do
    if name ~= "config.json" and name ~= require("vmlua.sandbox.saved").SNAPSHOT_FILE then
      ok, err = core.fs.symlink(snap.dir .. "/" .. name, stage .. "/" .. name)
      if not ok then return nil, err end
    end
  end
  return true
end

--- Save the VM into `dir` (vm.pause if it runs, then vm.snapshot with
-- destination_url file://DIR) and leave it paused. Returns `{ was_running
-- = bool }`, or nil and a message.
function D.snapshot(client, dir)
  local state, err = D.vm_state(client)
  if not state then return nil, err end
  local ok = true
  if state == "Running" then ok, err = client:pause() end
  if ok then ok, err = client:snapshot("file://" .. dir) end
  if not ok then
    if state == "Running" then client:resume() end
    return nil, err
  end
  return { was_running = state == "Running" }
end

--- End the VMM at once (after a save).
function D.quit(client)
  return client:vmm_shutdown()
end

--- A restored sandbox: the VMM restored the snapshot at start, paused;
-- once its API answers, vm.resume.
function D.restore(rt)
  local api, err, fail = api_up(rt)
  if not api then return nil, err, fail end
  local ok, rerr = api:resume()
  if not ok then
    return require("vmlua.sandbox.probes").exit_or(rt, "vm.resume after the restore failed: " .. tostring(rerr))
  end
  rt:progress("restored from %s, VM resumed", rt.plan.snapshot.dir)
  return true
end

return D
