--- vmlua.driver: the driver of a hypervisor. Everything vmlua knows about one
-- hypervisor beyond its command line lives in its driver, the module
-- `vmlua.driver.<name>`, <name> being the `hypervisor` field of its builder
-- (`qemu.config{}` gives "qemu"). The generic sandbox and CLI code asks the
-- driver and names no hypervisor. docs/drivers.md describes the contract.
local core = require "vmlua.core"

local M = {}

local function is_name(s)
  return type(s) == "string" and s:match("^[%a][%w_]*$") ~= nil
end

--- The driver called `name` (as recorded in state.json), or nil and a message.
function M.named(name)
  if not is_name(name) then
    local shown = type(name) == "string" and ("'" .. name .. "'") or type(name)
    return nil, string.format("no hypervisor driver named %s", shown)
  end
  local modname = "vmlua.driver." .. name
  local ok, d = pcall(require, modname)
  if ok then return d end
  if type(d) == "string" and d:find("module '" .. modname .. "' not found", 1, true) then
    return nil, string.format("no hypervisor driver named '%s' (no module %s)", name, modname)
  end
  error(d, 0)
end

--- The driver of builder `cfg` (anything with a `hypervisor` name and an
-- `argv` method), or nil and a message.
function M.of(cfg)
  if type(cfg) ~= "table" or type(cfg.argv) ~= "function" or not is_name(cfg.hypervisor) then
    return nil, "not a hypervisor builder"
  end
  return M.named(cfg.hypervisor)
end

--- The names of every driver on package.path (sorted): what `--hypervisor`
-- accepts and error messages list. A new hypervisor is one builder and one
-- file in vmlua/driver/.
function M.names()
  local seen, out = {}, {}
  for template in package.path:gmatch("[^;]+") do
    local dir = template:match("^(.*)/%?%.lua$")
    for _, f in ipairs(dir and core.fs.list(dir .. "/vmlua/driver") or {}) do
      local n = f:match("^([%a][%w_]*)%.lua$")
      if n and not seen[n] then
        seen[n] = true
        out[#out + 1] = n
      end
    end
  end
  table.sort(out)
  return out
end

--- Every driver on package.path, in the order of `names()`.
function M.all()
  local out = {}
  for _, n in ipairs(M.names()) do
    local d = M.named(n)
    if d then out[#out + 1] = d end
  end
  return out
end

--- The drivers whose control socket speaks `protocol` ("qmp", "api").
function M.speaking(protocol)
  local out = {}
  for _, d in ipairs(M.all()) do
    if d.control.protocol == protocol then out[#out + 1] = d end
  end
  return out
end

return M
