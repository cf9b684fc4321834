--- Field schemas shared by the QEMU config sections, devices and objects.
local S = require "vmlua.schema"

local F = {}

--- A QEMU identifier (QEMU's id_wellformed: a letter, then letters, digits,
-- '-', '.', '_'); QEMU refuses anything else as an `id=`.
F.id = S.string { pattern = "^%a[%w%-%._]*$",
                  pattern_help = "must be a QEMU id (a letter, then letters, digits, '-', '.' or '_')" }

--- A host path (non-empty; commas are escaped when emitted).
F.path = S.string { nonempty = true }

--- A word that ends up inside an option string and cannot be escaped
-- everywhere it is used (tags, names, bus names).
F.word = S.string { nonempty = true, no_comma = true }

--- A raw string written in QEMU's own syntax, emitted verbatim.
F.raw = S.string { nonempty = true }

F.bool = S.boolean()
F.size = S.size()
F.uint = S.integer { min = 0 }
F.count = S.integer { min = 1 }

function F.enum(list)
  return S.string { enum = list }
end

--- A PCI slot that govmm writes in hex: an integer, or a decimal string
-- ("255" is emitted as `addr=ff`).
F.slot = S.custom(function(v, path)
  if math.type(v) == "integer" and v >= 0 then return true end
  if type(v) == "string" and v:match("^%d+$") then return true end
  return S.fail(path, "expected a slot number (an integer or a decimal string; emitted in hex), got %s",
                S.show(v))
end)

--- A number that QEMU takes as written: an integer or a string such as
-- "0x1" (chassis, slot, addr of PCIe ports).
F.num_or_word = S.either({ S.integer { min = 0 }, S.string { nonempty = true, no_comma = true } },
                         { describe = "an integer or a string such as \"0x1\"" })

--- A size reservation of PCIe ports/bridges: "16G", "512M", "4k", "0x3" or an integer.
F.reserve = S.either({ S.integer { min = 0 }, S.string { nonempty = true, no_comma = true } },
                     { describe = "an integer or a size string such as \"16G\"" })

--- A MAC address such as "02:00:00:00:00:01".
--- -drive cache modes.
F.CACHE_MODES = { "writeback", "none", "writethrough", "directsync", "unsafe" }

F.mac = S.string { pattern = "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
                   pattern_help = "must be a MAC address such as \"02:00:00:00:00:01\"" }

--- Options of a generic device or object: a raw string "k=v,k2=v2" or a
-- table { k = v } (emitted sorted by key; booleans as on/off).
F.options = S.either({ S.string { nonempty = true },
                       S.map(S.string { pattern = "^[%w%-%._]+$", pattern_help = "must be a property name" },
                             S.either({ S.string(), S.integer(), S.boolean() },
                                      { describe = "a string, an integer or a boolean" })) },
                     { describe = "an option string \"k=v,...\" or a table { k = v }" })

--- Returns an S.record check that allows at most one of `names` and, with
-- `need_one`, at least one.
function F.one_of(names, need_one)
  return function(v, path)
    local given = {}
    for _, n in ipairs(names) do
      if v[n] ~= nil then given[#given + 1] = n end
    end
    if #given > 1 then
      return S.fail(S.join(path, given[2]), "cannot be combined with %s", given[1])
    end
    if need_one and #given == 0 then
      return S.fail(path, "needs one of %s", table.concat(names, ", "))
    end
    return true
  end
end

--- Runs several record checks in order.
function F.checks(...)
  local list = { ... }
  return function(v, path)
    for _, c in ipairs(list) do
      local ok, err = c(v, path)
      if not ok then return nil, err end
    end
    return true
  end
end

--- A record check: `field` only makes sense when `cond(v)` holds.
function F.only_when(field, cond, what)
  return function(v, path)
    if v[field] ~= nil and not cond(v) then
      return S.fail(S.join(path, field), "only used %s", what)
    end
    return true
  end
end

--- A record check: `field` is required when `cond(v)` holds.
function F.needed_when(field, cond, what)
  return function(v, path)
    if v[field] == nil and cond(v) then
      return S.fail(S.join(path, field), "missing (required %s)", what)
    end
    return true
  end
end

--- Merge field tables into a new one.
function F.merge(...)
  local out = {}
  for _, t in ipairs({ ... }) do
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

return F
