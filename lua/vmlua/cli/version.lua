--- vmlua version: vmlua's, Lua's and json-c's versions.
local core = require "vmlua.core"

return {
  summary = "print the versions of vmlua, Lua and json-c",
  usage = "version",
  run = function()
    io.stdout:write(string.format("vmlua %s\n%s\njson-c %s\n",
      core.version, core.lua_version, core.jsonc_version))
    return 0
  end,
}
