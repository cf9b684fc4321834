--- Shared by the CLI commands: the --set and --id options, and turning the
-- lifecycle's `nil, message, code` failures into exits.
local cli = require "vmlua.cli"
local control = require "vmlua.sandbox.control"

local M = {}

M.SET_OPTION = { long = "--set", arg = "KEY=VALUE", multi = true, help = "a value for vmlua.args in the recipe" }
M.ID_OPTION = { long = "--id", arg = "ID", help = "the sandbox id (default: the recipe's id)" }

--- The value, or end the command with the failure's message and code.
function M.check(v, err, code)
  if v == nil then cli.fail(err, code or control.RUNTIME) end
  return v
end

--- Load RECIPE with the --set values and --id; a recipe error ends the
-- command with 2.
function M.load(path, opts)
  return M.check(control.load(path, cli.parse_sets(opts.set), { id = opts.id }))
end

return M
