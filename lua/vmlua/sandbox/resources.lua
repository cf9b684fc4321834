--- What a sandbox owns besides its processes and sockets: its network (a
-- tap vmlua creates) and its disks (qcow2 overlays in the sandbox dir). The
-- lifecycle asks this module, at one line each: the recipe fields
-- (sandbox.lua), the plan (plan.lua), the checks (check.lua), what
-- state.json records (runtime.lua), the provision step before the start
-- (launch.lua), the release when the sandbox ends (stop.lua; from
-- state.json alone for `vmlua stop` and `gc`), and the rewording of a start
-- that failed for a reason a field explains.
local network = require "vmlua.sandbox.network"
local disks = require "vmlua.sandbox.disks"
local shq = require "vmlua.shellquote"

local M = {}

--- The recipe fields, for the sandbox schema of `driver`.
function M.schema_fields(driver)
  return { network = network.schema(driver), disks = disks.schema(driver) }
end

--- Normalise the recipe's fields into the sandbox `sb`.
function M.normalize(sb, spec)
  sb.network = network.normalize(spec.network)
  sb.disks = disks.normalize(spec.disks)
end

--- Wire them into the plan's hypervisor config (through the driver).
function M.wire(sb, plan)
  network.wire(sb, plan)
  disks.wire(sb, plan)
end

--- Record them in a new state (plain data).
function M.record(st, plan)
  st.network = network.record(plan)
  st.disks = disks.record(plan)
end

--- Problems for `vmlua check`: `{ field, message }` pairs.
function M.problems(sb, plan)
  local out = network.problems(sb, plan)
  for _, p in ipairs(disks.problems(sb, plan)) do out[#out + 1] = p end
  return out
end

--- Create the tap and the overlays. true, or nil and a message (the
-- teardown of the failed start releases what was created).
function M.provision(rt)
  local ok, err = network.provision(rt)
  if ok then ok, err = disks.provision(rt) end
  return ok, err
end

--- Release what state `st` records in the sandbox dir `dir`: the tap, the
-- overlays that are not kept. `say(fmt, ...)` reports each step.
function M.release(st, dir, say)
  network.release(st, say)
  disks.release(st, dir, say)
end

--- The kept overlays that still exist ("disks[1]'s overlay PATH").
M.kept = disks.kept

--- Why `gc` must keep a sandbox's state although its processes are gone:
-- kept overlays, a tap that could not be removed. A list of reasons.
function M.blockers(st)
  local out = disks.kept(st)
  local t = type(st.network) == "table" and st.network.tap
  if type(t) == "table" and t.by == "vmlua" and math.type(t.index) == "integer" and not t.removed then
    out[#out + 1] = string.format("its tap %s could not be removed", tostring(t.name))
  end
  return out
end

--- A failed start's message, reworded when the hypervisor's output names a
-- cause a field explains (the driver's `start_failures`: a forward's host
-- port in use, an image another process holds); else `err` as it is.
function M.explain(rt, err)
  local find = rt.driver.start_failures
  if not find or not rt.plan.hypervisor then return err end
  local text = require("vmlua.sandbox.logs").tail(rt.plan.hypervisor.log, 50) .. "\n" .. tostring(err)
  local out, seen = {}, {}
  for _, f in ipairs(find(text)) do
    local msg = network.explain(rt.plan, f) or disks.explain(rt.plan, f)
    if msg and not seen[msg] then
      seen[msg] = true
      out[#out + 1] = msg
    end
  end
  if #out == 0 then return err end
  return table.concat(out, "\n") .. string.format("\n(%s's output: %s)", rt.driver.title, rt.plan.hypervisor.log)
end

--- Lines for `vmlua plan`.
function M.plan_lines(plan)
  local out = {}
  local n = plan.network or { mode = "none" }
  if n.mode == "none" then
    out[#out + 1] = "network: none"
  elseif n.mode == "user" then
    local fw = {}
    for i, f in ipairs(network.record(plan).forwards or {}) do fw[i] = f.text end
    out[#out + 1] = string.format("network: user-mode (mac %s)%s%s%s", n.mac,
                                  #fw > 0 and (", forwards " .. table.concat(fw, ", ")) or "",
                                  n.isolated and ", isolated (no way out but the forwards)" or "",
                                  n.kernel_ip and (", kernel parameter " .. n.kernel_ip) or "")
  elseif n.tap_by == "caller" then
    out[#out + 1] = string.format("network: tap given as %d open file%s (mac %s)", #n.fds, #n.fds == 1 and "" or "s",
                                  n.mac)
  else
    out[#out + 1] = string.format("network: tap %s, created by %s before the start and removed at the end"
                                  .. " (host %s/%d, guest %s, mac %s)%s", n.tap,
                                  n.tap_by == "vmlua" and "vmlua" or plan.driver.title, n.host, n.prefix, n.guest,
                                  n.mac, n.kernel_ip and (", kernel parameter " .. n.kernel_ip) or "")
  end
  for i, p in ipairs(plan.disks or {}) do
    local how = p.read_only and ", read-only" or (p.ephemeral and ", ephemeral (writes are thrown away)" or "")
    out[#out + 1] = string.format("disk %d: %s (%s)%s", i, p.image, p.format, how)
    if p.overlay then
      out[#out + 1] = string.format("  through the overlay %s (%s), created before the start by:", p.overlay,
                                    p.keep_overlay and "kept when the sandbox ends" or "removed when the sandbox ends")
      out[#out + 1] = "  " .. shq.argv(p.create)
    end
  end
  return out
end

--- The plan's network and disks as JSON-ready data (for `vmlua plan --json`).
function M.plan_json(plan)
  local disk_list = {}
  for i, p in ipairs(plan.disks or {}) do
    disk_list[i] = { image = p.image, format = p.format, path = p.path, overlay = p.overlay, create = p.create,
                     keep_overlay = p.keep_overlay, ephemeral = p.ephemeral, read_only = p.read_only }
  end
  return network.record(plan) or { mode = "none" }, disk_list
end

return M
