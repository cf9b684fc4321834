--- The object catalogue (`objects = { ... }`): memory backends, rng
-- backends, iothreads and the x86 confidential-guest objects, told apart by
-- `type`; any other `type` is the seed's generic object
--   { type =, id =, mem_path =, size =, options = }.
--
-- A memory backend with `ram = true` becomes the guest's RAM: vmlua adds
-- `-numa node,memdev=<id>` (pc, q35) or `-machine memory-backend=<id>`
-- (microvm) right after it.
local S = require "vmlua.schema"
local F = require "vmlua.qemu.fields"
local O = require "vmlua.qemu.opts"
local devices = require "vmlua.qemu.devices"

local M = {}
local T = {}

local hex = S.string { pattern = "^%x+$", pattern_help = "must be a hex string" }

local function mem_flags(o, d)
  if d.share then o:raw("share=on") end
  if d.prealloc then o:raw("prealloc=on") end
end

local function ram_wiring(out, d, ctx, path)
  if d.ram then
    for _, a in ipairs(ctx:ram_backend(d.id, d.size, path)) do out[#out + 1] = a end
  end
  return out
end

-- Object{Type: memory-backend-file}; with `driver` (e.g. nvdimm) a -device
-- using it is written first, as govmm does.
T["memory-backend-file"] = {
  fields = {
    id = F.id:req(), mem_path = F.path:req(), size = F.size:req(),
    driver = F.word, device_id = F.id, read_only = F.bool, share = F.bool, prealloc = F.bool, ram = F.bool,
  },
  check = F.checks(
    F.needed_when("device_id", function(d) return d.driver ~= nil end, "with driver"),
    F.only_when("device_id", function(d) return d.driver ~= nil end, "with driver"),
    F.only_when("ram", function(d) return d.driver == nil end, "without driver (the backend is the device's)")),
  emit = function(d, ctx, path)
    local out = {}
    if d.driver then
      local dev = O.new(d.driver):add("id", d.device_id):add("memdev", d.id)
      if d.read_only then dev:raw("unarmed=on") end
      out = { "-device", dev:str() }
    end
    local o = O.new("memory-backend-file"):add("id", d.id):add("mem-path", d.mem_path):add("size", O.obj_size(d.size))
    if d.read_only then o:raw("readonly=on") end
    mem_flags(o, d)
    out[#out + 1] = "-object"
    out[#out + 1] = o:str()
    return ram_wiring(out, d, ctx, path)
  end,
}

T["memory-backend-memfd"] = {
  fields = { id = F.id:req(), size = F.size:req(), share = F.bool, prealloc = F.bool, hugetlb = F.bool, ram = F.bool },
  emit = function(d, ctx, path)
    local o = O.new("memory-backend-memfd"):add("id", d.id):add("size", O.obj_size(d.size))
    mem_flags(o, d)
    if d.hugetlb then o:raw("hugetlb=on") end
    return ram_wiring({ "-object", o:str() }, d, ctx, path)
  end,
}

T["memory-backend-ram"] = {
  fields = { id = F.id:req(), size = F.size:req(), share = F.bool, prealloc = F.bool, ram = F.bool },
  emit = function(d, ctx, path)
    local o = O.new("memory-backend-ram"):add("id", d.id):add("size", O.obj_size(d.size))
    mem_flags(o, d)
    return ram_wiring({ "-object", o:str() }, d, ctx, path)
  end,
}

-- SGX enclave page cache.
T["memory-backend-epc"] = {
  fields = { id = F.id:req(), size = F.size:req(), prealloc = F.bool },
  emit = function(d)
    local o = O.new("memory-backend-epc"):add("id", d.id):add("size", O.obj_size(d.size))
    if d.prealloc then o:raw("prealloc=on") end
    return { "-object", o:str() }
  end,
}

T["rng-random"] = {
  fields = { id = F.id:req(), filename = F.path },
  emit = function(d)
    return { "-object", O.new("rng-random"):add("id", d.id):opt("filename", d.filename):str() }
  end,
}

T["rng-builtin"] = {
  fields = { id = F.id:req() },
  emit = function(d) return { "-object", O.new("rng-builtin"):add("id", d.id):str() } end,
}

T.iothread = {
  fields = { id = F.id:req() },
  emit = function(d) return { "-object", O.new("iothread"):add("id", d.id):str() } end,
}

-- TDX: QEMU's JSON -object form. `file` is the TDVF firmware (loaded as
-- -bios). The quote generation service is reached over vsock (qgs_port) or
-- a unix socket (qgs_socket, default /var/run/tdx-qgs/qgs.socket).
M.QGS_SOCKET = "/var/run/tdx-qgs/qgs.socket"

T["tdx-guest"] = {
  fields = {
    id = F.id:req(), file = F.path, qgs_port = S.integer { min = 1, max = 0xffffffff },
    qgs_socket = F.path, debug = F.bool, initdata_digest = hex,
  },
  check = F.one_of({ "qgs_port", "qgs_socket" }),
  emit = function(d, ctx, path)
    if d.file then ctx:firmware(d.file, path .. ".file") end
    local qgs
    if d.qgs_port then
      qgs = { { "type", "vsock" }, { "cid", "2" }, { "port", string.format("%d", d.qgs_port) } }
    else
      qgs = { { "type", "unix" }, { "path", d.qgs_socket or M.QGS_SOCKET } }
    end
    local fields = { { "qom-type", "tdx-guest" }, { "id", d.id } }
    if d.initdata_digest then
      fields[#fields + 1] = { "mrconfigid", O.base64(O.hex_bytes(d.initdata_digest, 48)) }
    end
    fields[#fields + 1] = { "quote-generation-socket", qgs }
    if d.debug then fields[#fields + 1] = { "debug", true } end
    return { "-object", O.json_object(fields) }
  end,
}

local cbit = S.integer({ min = 1, max = 63 }):req()

-- SEV: the object plus the OVMF firmware as a read-only pflash drive.
T["sev-guest"] = {
  fields = { id = F.id:req(), file = F.path:req(), cbitpos = cbit, reduced_phys_bits = cbit },
  emit = function(d)
    local o = O.new("sev-guest"):add("id", d.id):add("cbitpos", d.cbitpos):add("reduced-phys-bits", d.reduced_phys_bits)
    local drive = O.new("if=pflash"):raw("format=raw"):raw("readonly=on"):add("file", d.file)
    return { "-object", o:str(), "-drive", drive:str() }
  end,
}

-- SEV-SNP: measured direct boot (kernel-hashes=on); `file` is loaded as -bios.
T["sev-snp-guest"] = {
  fields = {
    id = F.id:req(), file = F.path:req(), cbitpos = cbit, reduced_phys_bits = cbit,
    snp_id_block = F.word, snp_id_auth = F.word, snp_guest_policy = F.uint, initdata_digest = hex,
  },
  emit = function(d, ctx, path)
    ctx:firmware(d.file, path .. ".file")
    local o = O.new("sev-snp-guest"):add("id", d.id):add("cbitpos", d.cbitpos)
    o:add("reduced-phys-bits", d.reduced_phys_bits):raw("kernel-hashes=on")
    o:opt("id-block", d.snp_id_block):opt("id-auth", d.snp_id_auth)
    if d.snp_guest_policy then o:raw(string.format("policy=0x%x", d.snp_guest_policy)) end
    if d.initdata_digest then o:add("host-data", O.base64(O.hex_bytes(d.initdata_digest, 32))) end
    return { "-object", o:str() }
  end,
}

-- The seed's Object: -object <type>[,id=][,mem-path=][,size=][,options].
local generic = {
  fields = { type = F.word:req(), id = F.id, mem_path = F.path, size = F.size, options = F.options },
  emit = function(d)
    local o = O.new(d.type):opt("id", d.id):opt("mem-path", d.mem_path)
    if d.size ~= nil then o:add("size", O.obj_size(d.size)) end
    devices.add_options(o, d.options)
    return { "-object", o:str() }
  end,
}

local records, types = {}, {}
for name, def in pairs(T) do
  records[name] = S.record(def.fields, { check = def.check, extra = { type = true } })
  types[#types + 1] = name
end
table.sort(types)
M.types = types
local generic_record = S.record(generic.fields, { check = generic.check })

--- Schema of one object.
M.schema = S.custom(function(d, path)
  if type(d) ~= "table" then
    return S.fail(path, "expected an object table with a type, got %s", S.show(d))
  end
  local r = records[d.type]
  if r then return r:check(d, path) end
  local ok, err = generic_record:check(d, path)
  if ok then return true end
  -- a misspelt known type shows up as fields the generic object lacks
  local hint = S.suggest(d.type, types)
  if hint then
    return S.fail(S.join(path, "type"), "unknown object type %s (did you mean '%s'?)", S.show(d.type), hint)
  end
  return nil, err
end)

function M.emit(d, ctx, path)
  return (T[d.type] or generic).emit(d, ctx, path)
end

return M
