--- Shared by the CLI commands: loading a recipe with --set values, the run
-- dir and its store, and finding one sandbox's state.
local core = require "vmlua.core"
local cli = require "vmlua.cli"

local M = {}

M.SET_OPTION = { long = "--set", arg = "KEY=VALUE", multi = true, help = "a value for vmlua.args in the recipe" }

--- Load RECIPE with the --set values; a recipe error ends the command with 2.
function M.load(path, opts)
  local args = cli.parse_sets(opts.set)
  local vmlua = require "vmlua"
  vmlua.id_override = opts.id
  local sb, err = vmlua.load_recipe(path, args)
  if not sb then cli.usage(err) end
  return sb
end

function M.run_dir()
  return core.paths.default_run_dir()
end

--- The state store of the run dir; exit 1 when it cannot be opened.
-- Looking things up never creates the run dir: without one, `ps` lists
-- nothing and a sandbox id is unknown (`opts.lookup`).
function M.store(opts)
  local dir = M.run_dir()
  if opts and opts.lookup and not core.fs.exists(dir) then
    return { dir = dir, list = function() return {} end,
             load = function(_, id) return nil, string.format("no state for sandbox '%s'", id), 2 end }
  end
  local store, err = core.state.open(dir)
  if not store then cli.fail(err) end
  return store
end

--- The state of sandbox `id`: exit 2 for a bad id or an unknown sandbox.
function M.state(store, id)
  local ok, err = core.paths.check_id(id)
  if not ok then cli.usage(err) end
  local st, lerr, errno = store:load(id)
  if not st then
    if errno == 2 then cli.usage(string.format("no sandbox '%s' in %s", id, store.dir)) end
    cli.fail(lerr)
  end
  return st
end

--- Is a recorded process ({pid, start_time}) still the one we started?
function M.alive(p)
  return type(p) == "table" and p.pid ~= nil and p.start_time ~= nil and core.proc.alive(p.pid, p.start_time)
end

--- Status as `ps` shows it: a sandbox that claims to be up but whose
-- processes are all gone is "dead".
function M.live_status(st)
  local status = st.status or "unknown"
  if status == "starting" or status == "running" or status == "stopping" then
    local any = M.alive(st.supervisor)
    for _, p in pairs(st.processes or {}) do any = any or M.alive(p) end
    if not any then return "dead" end
  end
  return status
end

return M
