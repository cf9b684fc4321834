--- Run a child `lua5.4 -e CODE` for specs that need a second process (log
-- output on stderr, a lock holder, a process that dies with a socket bound).
-- Uses io.popen (a shell) -- fine for tests, never for the product.
-- Under the asan flavour the child gets the sanitizer runtime preloaded,
-- like busted's own lua5.4.
local M = {}

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = q

--- The shell command for `lua5.4 -e code` with env additions (a value
-- `false` removes the variable).
function M.command(code, env)
  local parts = { "env" }
  for k, v in pairs(env or {}) do
    if v == false then
      parts[#parts + 1] = "-u " .. k
    end
  end
  local preload = os.getenv("VMLUA_ASAN_PRELOAD")
  if preload and preload ~= "" then
    parts[#parts + 1] = "LD_PRELOAD=" .. q(preload)
  end
  for k, v in pairs(env or {}) do
    if v ~= false then
      parts[#parts + 1] = k .. "=" .. q(v)
    end
  end
  parts[#parts + 1] = "lua5.4 -e " .. q(code)
  return table.concat(parts, " ")
end

--- Run code to completion; returns its stderr, its stdout and whether it
-- exited 0 (plus popen's "exit"/"signal" and code).
function M.run(code, env)
  local errfile = os.tmpname()
  local p = assert(io.popen(M.command(code, env) .. " 2>" .. q(errfile), "r"))
  local out = p:read("a")
  local ok, how, status = p:close()
  local f = assert(io.open(errfile, "rb"))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return err, out, ok, how, status
end

--- Start code and return the popen handle (read its stdout with :read).
function M.start(code, env)
  return assert(io.popen(M.command(code, env), "r"))
end

return M
