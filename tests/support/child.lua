--- Run a child `lua5.4 -e CODE` (or another program) for specs that need a
-- second process: log output on stderr, a lock holder, a fake server.
-- Started with core.spawn: no shell. Under the asan flavour a lua5.4 child
-- gets the sanitizer runtime preloaded, like busted's own lua5.4 (the
-- helper drops LD_PRELOAD so that other children do not inherit it).
local core = require "vmlua.core"

local M = {}

local TIMEOUT = 60

local function lua_env(env)
  local e = {}
  for k, v in pairs(env or {}) do e[k] = v end
  local preload = os.getenv("VMLUA_ASAN_PRELOAD")
  if preload and preload ~= "" and e.LD_PRELOAD == nil then
    e.LD_PRELOAD = preload
  end
  return e
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- Run code to completion; returns its stderr, its stdout and whether it
-- exited 0 (plus "exited"/"killed" and the code).
function M.run(code, env)
  local errfile = os.tmpname()
  local p = assert(core.spawn { argv = { "lua5.4", "-e", code }, env = lua_env(env), stdout = "pipe",
                                stderr = { file = errfile, append = false } })
  local out = {}
  while true do
    local chunk = p.stdout:read(TIMEOUT)
    if not chunk then break end
    out[#out + 1] = chunk
  end
  local how, status = p:wait(TIMEOUT)
  p:close()
  local err = read_file(errfile)
  os.remove(errfile)
  return err, table.concat(out), how == "exited" and status == 0, how, status
end

local Child = {}
Child.__index = Child

--- The next line of the child's stdout (nil at eof).
function Child:read_line()
  return (self.proc.stdout:read_line(TIMEOUT))
end

--- Wait for the child; true when it exited 0.
function Child:close()
  local how, status = self.proc:wait(TIMEOUT)
  self.proc:close()
  return how == "exited" and status == 0
end

--- Start argv (stdout piped) and return a handle with :read_line() and :close().
function M.spawn(argv, env)
  local p = assert(core.spawn { argv = argv, env = env, stdout = "pipe" })
  return setmetatable({ proc = p }, Child)
end

--- Start `lua5.4 -e code` (stdout piped).
function M.start(code, env)
  return M.spawn({ "lua5.4", "-e", code }, lua_env(env))
end

return M
