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
  if flow == "api" then
    return { argv = cfg:api_argv(), vm_config = cfg:vm_config(), net_hotplug = cfg:net_hotplug() }
  end
  return { argv = cfg:argv(), fds = cfg:fds() }
end

--- The REST calls of the api flow after vmm.ping, as the newest Kata
-- driver boots: vm.create, then vm.add-net for each net given as open fds
-- (the fds travel with SCM_RIGHTS; vm.create ignores fds), then vm.boot.
-- A list of `{ call =, body =, fds = }`; empty in the cli flow.
function D.boot_calls(plan)
  if plan.flow ~= "api" then return {} end
  local calls = { { call = "vm.create", body = plan.vm_config } }
  for _, net in ipairs(plan.net_hotplug or {}) do
    calls[#calls + 1] = { call = "vm.add-net", body = net.body, fds = net.fds }
  end
  calls[#calls + 1] = { call = "vm.boot" }
  return calls
end

--- The api flow: wait for the API socket, vmm.ping, then the boot calls.
function D.boot(rt)
  local plan = rt.plan
  local calls = D.boot_calls(plan)
  if #calls == 0 then return true end
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
  if not ok then return nil, "vmm.ping failed: " .. tostring(perr) end
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

return D
