--- What `vmlua check` (and the validate step of `run`) verifies without
-- starting anything: the wired hypervisor config is valid, its kernel,
-- initrd and disk files exist, share sources are readable directories, the
-- hypervisor, virtiofsd and helper binaries exist, and every socket path
-- fits in sun_path. Problems name the recipe (file:line of its
-- vmlua.sandbox{}) and the field.
local core = require "vmlua.core"

local M = {}

local function where(sb)
  return sb.defined_at or sb.recipe or "recipe"
end

local function readable(path, want_dir)
  local st, err = core.fs.stat(path)
  if not st then return nil, err end
  -- stat follows no links; resolve one level for the type check
  if st.type == "link" then
    local real = core.fs.realpath(path)
    st = real and core.fs.stat(real) or st
  end
  if want_dir and st.type ~= "dir" then return nil, path .. ": not a directory" end
  if not want_dir and st.type == "dir" then return nil, path .. ": is a directory" end
  if not core.fs.access(path, "r") then return nil, path .. ": not readable" end
  return true
end

local function binary(name)
  return core.fs.which(name)
end

--- Every problem found, as "file:line: field: message" strings.
function M.problems(sb, plan)
  local out = {}
  local prefix = where(sb) .. ": "
  local function add(field, msg)
    out[#out + 1] = prefix .. (field and (field .. ": ") or "") .. msg
  end
  for _, e in ipairs(plan.errors) do add(nil, e) end -- the config's own validation among them

  local hv = plan.hypervisor.argv[1]
  if not binary(hv) then
    add("hypervisor.path", string.format("%s: hypervisor binary not found%s", hv,
        hv:find("/", 1, true) and "" or " on PATH"))
  end
  for _, f in ipairs(plan.config:kernel_files()) do
    local path = sb:resolve(f.path)
    local rok, rerr = true, nil
    -- disks' images and the overlays a step creates: checked below
    if not (plan.disk_files and plan.disk_files[path]) then rok, rerr = readable(path, false) end
    if not rok then add("hypervisor." .. f.field, rerr) end
  end
  for _, p in ipairs(require("vmlua.sandbox.resources").problems(sb, plan)) do add(p[1], p[2]) end
  for i, s in ipairs(sb.shares) do
    local src = sb:resolve(s.source)
    if not (s.create and not core.fs.exists(src)) then
      local rok, rerr = readable(src, true)
      if not rok and not core.fs.exists(src) then rerr = rerr .. " (create = true makes it)" end
      if not rok then add(string.format("shares[%d].source", i), rerr) end
    end
  end
  for _, p in ipairs(plan.processes) do
    if p.role == "helper" and not binary(p.argv[1]) then
      add("helpers." .. p.name .. ".argv[1]", p.argv[1] .. ": not found or not executable")
    end
  end
  return out
end

return M
