--- vmlua: the recipe-facing API.
--
--     local vmlua = require "vmlua"
--     return vmlua.sandbox { id = vmlua.args.id or "demo", hypervisor = ..., ... }
--
-- `vmlua.args` holds the `--set KEY=VALUE` values of the current run;
-- `vmlua.recipe_path` and `vmlua.recipe_dir` name the recipe being loaded.
-- Loading a recipe starts nothing, so recipes can be tested with busted.
local core = require "vmlua.core"

local vmlua = {
  version = core.version,
  args = {},
  recipe_path = nil,
  recipe_dir = nil,
}

--- Build a sandbox description (see docs/recipes.md). Raises, naming the
-- recipe's file:line and the field, when the description is wrong.
function vmlua.sandbox(spec)
  -- Not a tail call: this frame must stay so that the caller's line can be
  -- found (see sandbox.call_site).
  local sb = require("vmlua.sandbox").new(spec, require("vmlua.sandbox").call_site(1))
  return sb
end

--- True when `v` is a sandbox made by vmlua.sandbox{}.
function vmlua.is_sandbox(v)
  return require("vmlua.sandbox").is_sandbox(v)
end

--- The directory a sandbox with this id uses: `<run dir>/<id>`, where a
-- `--id` given to run/plan/check wins over `id`. Recipes use it for sockets
-- of their own (a vsock socket, a vhost-user backend) next to vmlua's.
function vmlua.sandbox_dir(id)
  id = vmlua.id_override or id
  if type(id) ~= "string" then error("sandbox_dir: expected the sandbox id", 2) end
  return core.paths.default_run_dir() .. "/" .. id
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local real = core.fs.realpath(path)
  if real then return real end
  local cwd = core.fs.realpath(".") or os.getenv("PWD") or "."
  return cwd .. "/" .. path
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- Load a recipe file with `args` as vmlua.args.
-- Returns the sandbox, or nil and a message that names file:line (syntax
-- and runtime errors) or says what the recipe should have returned.
function vmlua.load_recipe(path, args)
  if type(path) ~= "string" then error("load_recipe: path must be a string", 2) end
  args = args or {}
  local f, ferr = io.open(path, "r")
  if not f then return nil, "cannot read recipe " .. ferr end
  f:close()
  local chunk, err = loadfile(path, "t")
  if not chunk then return nil, err end
  local abs = absolute(path)
  -- These stay set after the load: hooks run later and read vmlua.args too.
  vmlua.args, vmlua.recipe_path, vmlua.recipe_dir, vmlua.recipe_arg = args, abs, dirname(abs), path
  local ok, res = xpcall(chunk, function(e)
    if type(e) ~= "string" then e = tostring(e) end
    if os.getenv("VMLUA_LOG") == "debug" then e = debug.traceback(e, 2) end
    return e
  end)
  if not ok then return nil, res end
  if not vmlua.is_sandbox(res) then
    return nil, path .. ": must return vmlua.sandbox{...} (it returned " .. type(res) .. ")"
  end
  res.recipe = abs
  res.args = args
  return res
end

return vmlua
