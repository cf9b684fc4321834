--- vmlua: the recipe-facing API.
--
--     local vmlua = require "vmlua"
--     return vmlua.sandbox { id = vmlua.args.id or "demo", hypervisor = ..., ... }
--
-- `vmlua.load_recipe(path, args, opts)` makes a *load context* `{ path, dir,
-- arg, args, id }` and runs the recipe; `vmlua.sandbox{}` hands the context
-- of the load in progress to the sandbox it builds. For recipes,
-- `vmlua.args`, `vmlua.recipe_path` and `vmlua.recipe_dir` show the context
-- of the latest load (hooks run later and read them too); vmlua itself only
-- reads the context. Loading a recipe starts nothing, so recipes can be
-- tested with busted.
local core = require "vmlua.core"

local vmlua = {
  version = core.version,
  args = {},
  recipe_path = nil,
  recipe_dir = nil,
}

-- The context of the load in progress (nil outside load_recipe).
local loading = nil

-- "file:line" of the call at stack `level` in the caller of vmlua.sandbox,
-- the recipe's own name when the call is in the recipe being loaded.
local function call_site(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info or not info.currentline or info.currentline <= 0 then return nil end
  local file = info.short_src
  if loading and info.source == "@" .. loading.arg then file = loading.arg end
  return string.format("%s:%d", file, info.currentline)
end

--- Build a sandbox description (see docs/recipes.md). Raises, naming the
-- recipe's file:line and the field, when the description is wrong.
-- A C trampoline (core.nontail) keeps the recipe's frame on the stack even
-- for `return vmlua.sandbox{...}`, which Lua would otherwise tail-call away:
-- level 1 here, 2 the trampoline, 3 the recipe.
vmlua.sandbox = core.nontail(function(spec)
  return require("vmlua.sandbox").new(spec, loading or {}, call_site(3))
end)

--- True when `v` is a sandbox made by vmlua.sandbox{}.
function vmlua.is_sandbox(v)
  return require("vmlua.sandbox").is_sandbox(v)
end

--- The directory a sandbox with this id uses: `<run dir>/<id>`, where the
-- `--id` of the load in progress (run/plan/check) wins over `id`. Recipes use
-- it for sockets of their own (a vsock socket, a vhost-user backend) next to
-- vmlua's.
function vmlua.sandbox_dir(id)
  id = (loading and loading.id) or id
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

--- The message handler of protected calls that report to users: the error
-- as a string, with a traceback when VMLUA_LOG=debug.
function vmlua.error_message(e)
  if type(e) ~= "string" then e = tostring(e) end
  if os.getenv("VMLUA_LOG") == "debug" then e = debug.traceback(e, 2) end
  return e
end

--- Load a recipe file with `args` as vmlua.args; `opts.id` is the sandbox id
-- given on the command line (--id), which vmlua.sandbox_dir honours.
-- Returns the sandbox, or nil and a message that names file:line (syntax
-- and runtime errors) or says what the recipe should have returned.
function vmlua.load_recipe(path, args, opts)
  if type(path) ~= "string" then error("load_recipe: path must be a string", 2) end
  args = args or {}
  local f, ferr = io.open(path, "r")
  if not f then return nil, "cannot read recipe " .. ferr end
  f:close()
  local chunk, err = loadfile(path, "t")
  if not chunk then return nil, err end
  local abs = absolute(path)
  local ctx = { path = abs, dir = dirname(abs), arg = path, args = args, id = opts and opts.id }
  vmlua.args, vmlua.recipe_path, vmlua.recipe_dir = args, abs, ctx.dir
  local outer = loading
  loading = ctx
  local ok, res = xpcall(chunk, vmlua.error_message)
  loading = outer
  if not ok then return nil, res end
  if not vmlua.is_sandbox(res) then
    return nil, path .. ": must return vmlua.sandbox{...} (it returned " .. type(res) .. ")"
  end
  return res
end

return vmlua
