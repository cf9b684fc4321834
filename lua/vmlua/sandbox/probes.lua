--- Readiness probes. Each probe waits, with its own timeout, for one sign of
-- life while watching every started process (a process that exits fails the
-- start at once) and the stop signals (an interrupt aborts the start).
--
-- Generic kinds: serial (text in the serial log), line (text in a process's
-- output), socket (a path accepts connections), fn (a Lua function polled
-- with backoff). Each driver adds its own (qmp, api: the VM's state through
-- the control socket) in `driver.probes`, built on `wait_for`,
-- `backoff_wait` and `remaining` below.
local core = require "vmlua.core"
local deadline_mod = require "vmlua.deadline"
local signals = require "vmlua.sandbox.signals"
local logs = require "vmlua.sandbox.logs"

local M = {}

M.STOP_SIGNALS = signals.INTERRUPT
M.remaining = deadline_mod.remaining
local remaining = deadline_mod.remaining

--- Conditions for the processes a start watches, then the stop signals.
local function base_conditions(rt, watch)
  local conds, who = {}, {}
  for _, w in ipairs(watch or rt:watched()) do
    conds[#conds + 1] = { exit = w.proc }
    who[#conds] = w
  end
  conds[#conds + 1] = { signal = M.STOP_SIGNALS }
  return conds, who
end

--- Wait for `extra` conditions (appended after the base ones) until
-- `deadline`. Returns the index into `extra` and the event, or nil and a
-- failure table { kind = "exit"|"signal"|"timeout"|"error", ... }.
function M.wait_for(rt, extra, deadline, watch)
  local conds, who = base_conditions(rt, watch)
  local nbase = #conds
  for _, c in ipairs(extra) do conds[#conds + 1] = c end
  local i, ev, errno = core.wait(conds, remaining(deadline))
  if not i then
    if ev == "timeout" then return nil, { kind = "timeout" } end
    return nil, { kind = "error", message = tostring(ev), errno = errno }
  end
  if i < nbase then
    local w = who[i]
    local log = rt.procs[w.name] and rt.procs[w.name].spec.log
    return nil, { kind = "exit", name = w.name, event = ev, message = rt:describe_exit(w.name, ev, log) }
  elseif i == nbase then
    return nil, { kind = "signal", signal = ev.signal }
  end
  return i - nbase, ev
end

local function describe(p)
  if p.kind == "serial" or p.kind == "line" then
    return string.format("%s probe (%s)", p.kind, p.text and string.format("%q", p.text) or ("pattern " .. p.pattern))
  elseif p.kind == "socket" then
    return "socket probe (" .. p.path .. ")"
  elseif p.kind == "fn" then
    return "fn probe"
  end
  return string.format("%s probe (state %s)", p.kind, tostring(p.state))
end
M.describe = describe

local function line_condition(rt, p)
  rt.followers = rt.followers or {}
  local s = rt.followers[p.file]
  if not s then
    local err
    s, err = core.follow(p.file, { from = "start" })
    if not s then return nil, err end
    rt.followers[p.file] = s
  end
  if p.text then return { line = s, find = p.text } end
  return { line = s, pattern = p.pattern }
end

local probe_impl = {}

function probe_impl.serial(rt, p, deadline)
  local cond, err = line_condition(rt, p)
  if not cond then return nil, { kind = "error", message = err } end
  local idx, fail = M.wait_for(rt, { cond }, deadline)
  if not idx then return nil, fail end
  return true
end
probe_impl.line = probe_impl.serial

function probe_impl.socket(rt, p, deadline)
  local idx, fail = M.wait_for(rt, { { socket = p.path } }, deadline)
  if not idx then return nil, fail end
  return true
end

--- A client on the control socket once it accepts connections, for the
-- drivers' state probes: the client, or nil and a failure table.
function M.control_client(rt, deadline)
  local idx, fail = M.wait_for(rt, { { socket = rt.plan.control_socket } }, deadline)
  if not idx then return nil, fail end
  local client, err = rt:control(remaining(deadline))
  if not client then return nil, { kind = "error", message = err } end
  return client
end

--- Sleep with backoff between polls while still watching processes and signals.
function M.backoff_wait(rt, delay, deadline)
  local left = remaining(deadline)
  if left and left < delay then delay = left end
  local idx, fail = M.wait_for(rt, {}, core.monotonic() + delay)
  if not idx and fail.kind ~= "timeout" then return nil, fail end
  return true
end

function probe_impl.fn(rt, p, deadline)
  local delay = p.interval or 0.01
  while true do
    local ok, res = pcall(p.fn, rt)
    if not ok then return nil, { kind = "error", message = "fn probe raised: " .. tostring(res) } end
    if res then return true end
    local waited, wfail = M.backoff_wait(rt, delay, deadline)
    if not waited then return nil, wfail end
    if remaining(deadline) == 0 then return nil, { kind = "timeout" } end
    if not p.interval then delay = math.min(delay * 2, 1.0) end
  end
end

--- The failure message for a probe: what did not pass, how long it took,
-- the hint, and the tails of the serial log and the hypervisor's output.
function M.failure_message(rt, p, fail, spent)
  local msg
  if fail.kind == "timeout" then
    msg = string.format("ready: %s did not pass within %.1f s", describe(p), spent)
    if fail.last_state then msg = msg .. " (last state: " .. tostring(fail.last_state) .. ")" end
  elseif fail.kind == "exit" then
    return string.format("ready: %s failed after %.1f s: %s", describe(p), spent, fail.message)
  elseif fail.kind == "signal" then
    return string.format("interrupted by %s while waiting for %s", fail.signal, describe(p))
  else
    msg = string.format("ready: %s failed after %.1f s: %s", describe(p), spent, tostring(fail.message))
  end
  if p.hint then msg = msg .. "\nhint: " .. p.hint end
  local serial = logs.tail(rt.plan.serial_log, 20)
  msg = msg .. "\n--- serial log (last lines) ---\n" .. (serial ~= "" and serial or "(empty)")
  local hv = rt.plan.hypervisor and logs.tail(rt.plan.hypervisor.log, 20) or ""
  msg = msg .. "\n--- hypervisor output (last lines) ---\n" .. (hv ~= "" and hv or "(empty)")
  return msg
end

--- Run one probe; true, or nil and the failure table (with .message set).
function M.run(rt, p)
  local t0 = core.monotonic()
  local deadline = p.timeout and (t0 + p.timeout) or nil
  local impl = probe_impl[p.kind] or rt.driver.probes[p.kind].run
  local ok, fail = impl(rt, p, deadline)
  if ok then return true, core.monotonic() - t0 end
  fail.message = M.failure_message(rt, p, fail, core.monotonic() - t0)
  return nil, fail
end

--- Close the files the probes followed (the serial log, helpers' output):
-- nothing reads them once the sandbox is ready, and closing a followed file
-- waits for an RCU grace period (its inotify instance: ~15 ms on a busy
-- host), better spent right after "ready" than when the sandbox stops.
function M.release(rt)
  for path, s in pairs(rt.followers or {}) do
    s:close()
    rt.followers[path] = nil
  end
end

--- Run probes in order.
function M.run_all(rt, list, label)
  for _, p in ipairs(list) do
    local ok, res = M.run(rt, p)
    if not ok then return nil, res end
    rt:progress("%s: %s passed (%.2f s)", label or rt.id, describe(p), res)
  end
  return true
end

return M
