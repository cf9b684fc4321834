--- Test helpers shared by the specs: paths of the build under test, temp
-- dirs that are removed after each test, and process/leftover checks.
local H = {}

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

H.root = env("VMLUA_ROOT", (debug.getinfo(1, "S").source:match("^@(.*)/tests/support/h%.lua$")) or ".")
H.build = env("VMLUA_BUILD", H.root .. "/build")
H.bin = env("VMLUA_BIN", H.build .. "/vmlua")
H.fakes = env("VMLUA_FAKES", H.build .. "/fakes.d")
H.guest = env("VMLUA_GUEST", H.root .. "/build/guest")
H.flavor = env("VMLUA_FLAVOR", "normal")

--- A fresh directory under /tmp (short, so socket paths fit in sun_path).
-- Removed by H.cleanup_tmp(), which the specs call from after_each/finally.
function H.tmpdir()
  local core = require "vmlua.core"
  local dir = assert(core.fs.mkdtemp("/tmp/vt"))
  H._tmpdirs = H._tmpdirs or {}
  H._tmpdirs[#H._tmpdirs + 1] = dir
  return dir
end

function H.cleanup_tmp()
  local core = require "vmlua.core"
  for _, d in ipairs(H._tmpdirs or {}) do core.fs.remove_tree(d) end
  H._tmpdirs = {}
end

--- Read a whole file (nil when missing).
function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Write a whole file.
function H.write(path, data, mode)
  local f = assert(io.open(path, mode or "wb"))
  f:write(data)
  f:close()
end

return H
