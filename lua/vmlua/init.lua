--- vmlua: the Lua library behind the vmlua launcher.
-- `require "vmlua"` gives the recipe-facing API: `sandbox{}`, `args`,
-- `load_recipe(path, args)` and the version.
local core = require "vmlua.core"

local vmlua = {
  version = core.version,
  --- Values given with `vmlua run RECIPE --set KEY=VALUE` (strings).
  args = {},
}

return vmlua
