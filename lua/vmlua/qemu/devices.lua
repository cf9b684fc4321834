--- The device catalogue: every device kind, its schema and its emitter.
--
-- A device is a table with a `kind` (see `M.kinds`). A table without a
-- `kind` but with a `type` is the seed's generic device:
--   { type = "virtio-9p-pci", id =, memdev =, fsdev =, mount_tag =, chardev =, options = }
-- which is also available as kind = "device".
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local O = require "vmlua.qemu.opts"

local M = {}

local catalogue = {}
for _, mod in ipairs { "vmlua.qemu.virtio", "vmlua.qemu.net", "vmlua.qemu.pci" } do
  for kind, def in pairs(require(mod)) do catalogue[kind] = def end
end

--- Emit `options` of a generic device or object.
function M.add_options(o, options)
  if options == nil then return end
  if type(options) == "string" then
    o:raw(options)
    return
  end
  local keys = {}
  for k in pairs(options) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do o:add(k, options[k]) end
end

-- The seed's Device: -device <type>[,id=][,memdev=][,chardev=][,fsdev=[,mount_tag=]].
catalogue.device = {
  fields = {
    type = F.word:req(),
    id = F.id,
    memdev = F.id,
    fsdev = F.id,
    mount_tag = F.word,
    chardev = F.id,
    options = F.options,
  },
  check = F.only_when("mount_tag", function(d) return d.fsdev ~= nil end, "together with fsdev"),
  emit = function(d)
    local o = O.new(d.type):opt("id", d.id):opt("memdev", d.memdev):opt("chardev", d.chardev)
    o:opt("fsdev", d.fsdev):opt("mount_tag", d.mount_tag)
    M.add_options(o, d.options)
    return { "-device", o:str() }
  end,
}

local records = {}
local kinds = {}
for kind, def in pairs(catalogue) do
  records[kind] = S.record(def.fields, { check = def.check, extra = { kind = true } })
  kinds[#kinds + 1] = kind
end
table.sort(kinds)
M.kinds = kinds

--- The kind of a device table (nil when it has neither kind nor type).
function M.kind_of(d)
  if d.kind ~= nil then return d.kind end
  if d.type ~= nil then return "device" end
  return nil
end

--- Schema of one device.
M.schema = S.custom(function(d, path)
  if type(d) ~= "table" then
    return S.fail(path, "expected a device table with a kind, got %s", S.show(d))
  end
  local kind = M.kind_of(d)
  if kind == nil then
    return S.fail(S.join(path, "kind"), "missing (required): one of %s", table.concat(kinds, ", "))
  end
  local r = records[kind]
  if not r then
    local hint = S.suggest(kind, kinds)
    return S.fail(S.join(path, "kind"), "unknown kind %s%s", S.show(kind),
                  hint and (" (did you mean '" .. hint .. "'?)") or (" (one of " .. table.concat(kinds, ", ") .. ")"))
  end
  return r:check(d, path)
end)

--- The argv strings of a (valid) device.
function M.emit(d, ctx, path)
  return catalogue[M.kind_of(d)].emit(d, ctx, path)
end

return M
