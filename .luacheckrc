-- luacheck configuration (make lint)
std = "lua54"
max_line_length = 120
exclude_files = {
  "tests/fixtures/recipes/*.lua", -- broken on purpose: syntax and runtime errors for the specs
}
files["tests/**/*_spec.lua"] = { std = "+busted", max_line_length = 180 }
files["tests/guest/kit_spec.lua"] = { std = "+busted" }
files["tests/support/*.lua"] = { max_line_length = 160 }
