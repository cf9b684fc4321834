--- vmlua.testing: busted specs against a real guest.
--
--     local testing = require "vmlua.testing"
--
--     describe("my guest", function()
--       local sb = testing.sandbox("scripts/recipes/qemu-demo.lua", { set = { share = "/tmp/s" } })
--       setup(function() sb:start() end)
--       teardown(function() sb:stop() end)
--
--       it("runs uname", function()
--         local r = assert(sb:exec { "uname", "-s" })
--         assert.are.equal("Linux\n", r.stdout)
--       end)
--     end)
--
-- Run such specs with `vmlua test` (or busted under Lua 5.4).
--
-- `sb:start()` runs `vmlua run --detach RECIPE` (the vmlua executable: the
-- sandbox gets its own supervisor, as from a terminal) in a run dir of its
-- own, and returns once the sandbox is ready; `sb:exec`, `sb:push`,
-- `sb:pull` and `sb:agent` then reach it through its guest agent (the
-- recipe needs agent = true). `sb:stop()` runs `vmlua stop` (then
-- `--force` if that fails), `vmlua gc`, checks that nothing of the sandbox
-- still runs and removes the run dir; it raises if anything was left. busted
-- runs teardown also when a test fails or errors, and a start that fails
-- has already cleaned up after itself, so a spec leaves nothing behind.
local core = require "vmlua.core"

local M = {}

--- Seconds `start` waits for `vmlua run --detach` (the boot under TCG).
M.START_TIMEOUT = 300
--- Seconds `stop` waits for `vmlua stop`.
M.STOP_TIMEOUT = 120

local Sandbox = {}
Sandbox.__index = Sandbox

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- The vmlua executable: opts.vmlua, $VMLUA_BIN, this very program under
-- `vmlua test`, or vmlua on PATH.
local function vmlua_bin(opts)
  if opts.vmlua then return opts.vmlua end
  local env = os.getenv("VMLUA_BIN")
  if env and env ~= "" then return env end
  local exe = core.fs.readlink("/proc/self/exe")
  if exe and exe:match("/vmlua$") then return exe end
  return "vmlua"
end

--- A sandbox to start from `recipe` (a path, relative to the current
-- directory). opts: set = { KEY = VALUE } (--set), id (--id), timeout
-- (seconds for the start; START_TIMEOUT), run_dir (default: a new temporary
-- directory), vmlua (the executable), env = { NAME = value } (for vmlua).
function M.sandbox(recipe, opts)
  if type(recipe) ~= "string" then error("bad argument #1 to 'sandbox' (recipe path expected)", 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #2 to 'sandbox' (table expected)", 2) end
  return setmetatable({ recipe = recipe, opts = opts, started = false }, Sandbox)
end

--- Run vmlua with `args` in the sandbox's run dir: exit code, stdout, stderr.
function Sandbox:vmlua(args, timeout)
  local argv = { vmlua_bin(self.opts) }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = { VMLUA_RUN_DIR = self.run_dir }
  for k, v in pairs(self.opts.env or {}) do env[k] = v end
  local out, err = self.tmp .. "/out", self.tmp .. "/err"
  local p, serr = core.spawn { argv = argv, env = env, stdin = "null",
                               stdout = { file = out, append = false }, stderr = { file = err, append = false } }
  if not p then error("vmlua.testing: " .. serr, 0) end
  local how, code = p:wait(timeout)
  if not how then
    p:close()
    return nil, read(out), string.format("vmlua %s did not finish within %g s\n%s", args[1], timeout, read(err))
  end
  p:close()
  return how == "exited" and code or (128 + code), read(out), read(err)
end

--- Start the sandbox; returns it. Raises (with vmlua's message) when it
-- does not start; nothing of it is left then.
function Sandbox:start()
  if self.started then error("vmlua.testing: the sandbox is already started", 2) end
  self.tmp = assert(core.fs.mkdtemp((os.getenv("TMPDIR") or "/tmp") .. "/vmlua-testing."))
  self.run_dir = self.opts.run_dir or (self.tmp .. "/run")
  if not core.fs.exists(self.run_dir) then assert(core.fs.mkdir(self.run_dir, "0700")) end
  local args = { "run", "--detach", self.recipe }
  local keys = {}
  for k in pairs(self.opts.set or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do args[#args + 1] = "--set"; args[#args + 1] = k .. "=" .. tostring(self.opts.set[k]) end
  if self.opts.id then args[#args + 1] = "--id"; args[#args + 1] = self.opts.id end
  local code, out, err = self:vmlua(args, self.opts.timeout or M.START_TIMEOUT)
  local id = out:match("^(%S+)\n")
  if code ~= 0 or not id then
    self.id = id or self.opts.id
    local cleanup = self.id and self:_cleanup() or ""
    if not self.opts.run_dir then core.fs.remove_tree(self.tmp) end
    error(string.format("vmlua.testing: %s did not start (exit %s):\n%s%s", self.recipe, tostring(code), err,
                        cleanup), 0)
  end
  self.id, self.started = id, true
  local sb, aerr = require("vmlua.sandbox.control").attach(id, self.run_dir)
  if not sb then
    local left = self:_cleanup()
    error(string.format("vmlua.testing: %s: %s%s", self.recipe, aerr, left), 0)
  end
  self.attached = sb
  return self
end

-- Stop and collect; "" when nothing was left, else what was.
function Sandbox:_cleanup()
  local control = require "vmlua.sandbox.control"
  local notes = {}
  local code, _, err = self:vmlua({ "stop", self.id }, M.STOP_TIMEOUT)
  if code ~= 0 and code ~= 2 then
    notes[#notes + 1] = "vmlua stop: " .. err
    self:vmlua({ "stop", "--force", self.id }, M.STOP_TIMEOUT)
  end
  local st = control.find(self.id, self.run_dir)
  if st then
    local live = control.live_processes(st)
    if #live > 0 then notes[#notes + 1] = "still running: " .. table.concat(live, ", ") end
  end
  self:vmlua({ "gc" }, 60)
  return #notes > 0 and ("\n" .. table.concat(notes, "\n")) or ""
end

--- Stop the sandbox and remove what it left (its run dir). Raises when
-- something of it could not be stopped. A sandbox that never started is
-- fine.
function Sandbox:stop()
  if not self.started then return true end
  self.started, self.attached = false, nil
  local left = self:_cleanup()
  if not self.opts.run_dir then core.fs.remove_tree(self.tmp) end
  if left ~= "" then error("vmlua.testing: sandbox " .. self.id .. " left things behind:" .. left, 2) end
  return true
end

local function attached(self, name)
  if not self.attached then error(string.format("vmlua.testing: %s before start", name), 3) end
  return self.attached
end

--- Run a command in the guest (see vmlua.qga exec): `{ status =, signal =,
-- stdout =, stderr = }`, or nil, message, class.
function Sandbox:exec(spec) return attached(self, "exec"):exec(spec) end
--- Copy a host file into the guest: bytes, or nil, message, class.
function Sandbox:push(host, guest) return attached(self, "push"):push(host, guest) end
--- Copy a guest file to the host: bytes, or nil, message, class.
function Sandbox:pull(guest, host) return attached(self, "pull"):pull(guest, host) end
--- A vmlua.qga client on the guest agent (close it).
function Sandbox:agent(opts) return attached(self, "agent"):agent(opts) end
--- The sandbox's state (state.json), as `vmlua inspect` shows it.
function Sandbox:state()
  return (require("vmlua.sandbox.control").find(self.id, self.run_dir))
end

function Sandbox:__tostring()
  return string.format("vmlua.testing sandbox (%s, %s)", self.recipe, self.started and self.id or "not started")
end
Sandbox.__close = Sandbox.stop

--- `testing.sandbox(recipe, opts):start()`.
function M.start(recipe, opts)
  return M.sandbox(recipe, opts):start()
end

return M
