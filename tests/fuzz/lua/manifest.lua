--- Fuzz target: the manifest of a snapshot dir (vmlua.sandbox.saved), which
-- `vmlua run --restore DIR` reads from wherever the user points it: the
-- input is the dir's vmlua-snapshot.json. A manifest either reads as one
-- that passes the checks again, whose files are then looked for inside the
-- dir only, or is refused with a message naming the file.
-- fuzz-options: -max_len=4096
-- luacheck: globals fuzz
local saved = require "vmlua.sandbox.saved"

local dir = fuzz.tmpdir()
local path = dir .. "/" .. saved.SNAPSHOT_FILE

return function(data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  local m, err = saved.read_snapshot(dir)
  if not m then
    assert(type(err) == "string" and err:find(dir, 1, true), "a refusal names the snapshot dir")
    return
  end
  assert(saved.check(m, path) == m, "what was read passes the checks again")
  assert(m.kind == "snapshot")
  local ok, ferr = saved.check_files(m, dir)
  assert(ok or type(ferr) == "string", "missing files are a message")
  for _, file in ipairs(m.files or {}) do
    assert(not file.name:find("/", 1, true), "a file is named inside the dir")
  end
end
