-- Conformance with govmm: every `newest` amd64 vector of
-- tests/fixtures/reference/govmm-cases.json is built with vmlua.qemu and compared
-- byte for byte with `expected` (the argv without the binary, joined with
-- single spaces). A vector whose `config` gives context (a machine type)
-- is compared without the context's own options. Where vmlua differs on
-- purpose the case is listed in `deviations` with the reason, and vmlua's
-- own output or error is asserted instead; no vector is skipped.
local H = require "support.h"
local G = require "support.govmm"
local json = require "support.json"
local qemu = require "vmlua.qemu"

-- Strip the "file:line: " that qemu.config{} puts in front of its errors.
local function message(err)
  return (tostring(err):gsub("^[^:]+:%d+: ", ""))
end

local function build(cfg, context)
  local ok, res = pcall(function()
    local args = qemu.config(cfg):argv()
    table.remove(args, 1)
    if context then
      local cargs = qemu.config(context):argv()
      table.remove(cargs, 1)
      args = G.strip(args, cargs)
    end
    return table.concat(args, " ")
  end)
  if ok then return res end
  return nil, message(res)
end

local VSOCK_4050 = '-object {"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}}'
local UNIX_QGS = '-object {"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"unix","path":"/var/run/tdx-qgs/qgs.socket"}}'
local SKIPPED = "govmm skips an invalid device (Valid() is false) and emits nothing; vmlua refuses the config and names the field"

-- Keyed by the vector's position in the file (1-based).
local deviations = {
  [7] = { test = "TestTdxQuoteSocket", error = "objects[1].device_id: unknown field",
          reason = "govmm ignores DeviceID for tdx-guest (the vector sets it to \"unused\"); vmlua rejects a field an object does"
            .. " not use. Without it, vmlua writes the expected -object plus the -bios <File> that govmm's Object.QemuParams"
            .. " sets as a side effect (config.Bios) and LaunchQemu emits",
          drop = { "device_id" }, actual = VSOCK_4050 .. " -bios unused" },
  [8] = { test = "TestTdxQuoteSocket", error = "objects[1].device_id: unknown field",
          reason = "as above; QgsPort 0 selects the unix QGS socket (vmlua never probes the host: govmm picks vsock/4050 when"
            .. " /var/run/tdx-qgs/qgs.socket is absent)",
          drop = { "device_id" }, actual = UNIX_QGS .. " -bios unused" },
  [21] = { test = "TestAppendEmptyDevice", error = "devices[1].id: missing (required)", reason = SKIPPED },
  [32] = { test = "TestAppendDevicePCIeRootPort", error = "devices[1].pref32_reserve: cannot be combined with pref64_reserve",
           reason = SKIPPED },
  [39] = { test = "TestVSOCKValid", error = "devices[1].context_id: must be >= 3, got 2", reason = SKIPPED },
  [49] = { test = "TestAppendDeviceVhostUser",
           reason = "govmm hard-codes logical_block_size=4096,size=512M; QEMU's vhost-user-blk has neither property and"
             .. " refuses to start (\"Property 'vhost-user-blk-pci.size' not found\")",
           actual = "-chardev socket,id=char2,path=/tmp/nonexistentsocket.socket -device vhost-user-blk-pci,chardev=char2,"
             .. "bus=pcie.0,romfile=efi-virtio.rom" },
  [51] = { test = "TestAppendDeviceVhostUser",
           reason = "govmm writes the short-form boolean 'vhostforce', deprecated since QEMU 6.0; vmlua writes vhostforce=on",
           actual = "-chardev socket,id=char1,path=/tmp/nonexistentsocket.socket -netdev type=vhost-user,id=net1,chardev=char1,"
             .. "vhostforce=on -device virtio-net-pci,netdev=net1,mac=00:11:22:33:44:55,bus=pcie.0,romfile=efi-virtio.rom" },
  [65] = { test = "TestLoaderDevice", error = "devices[1].file: missing (required)", reason = SKIPPED },
  [66] = { test = "TestLoaderDevice", error = "devices[1].id: missing (required)", reason = SKIPPED },
  [67] = { test = "TestLoaderDevice", error = "devices[1].file: missing (required)", reason = SKIPPED },
  [71] = { test = "TestBadFwcfg", error = "fw_cfg[1].str: cannot be combined with file",
           reason = "govmm skips an invalid fw_cfg entry; vmlua refuses it" },
  [72] = { test = "TestAppendKnobsAllTrue", error = "knobs.file_backed_mem: needs memory.size (it configures the guest RAM backend)",
           reason = "govmm silently ignores the memory knobs when Memory.Size is empty (its own comment says they require it);"
             .. " vmlua refuses them" },
  [82] = { test = "TestAppendMultiNUMAMemoryKnobs",
           reason = "the vector is appendMemoryKnobs() alone; vmlua's argv also has the -m that LaunchQemu's appendMemory writes",
           actual = "-m 2G,slots=8,maxmem=4G -object memory-backend-ram,id=numa-mem0,size=1G,host-nodes=0,policy=bind,share=on,"
             .. "prealloc=on -numa node,nodeid=0,memdev=numa-mem0,cpus=0-3 -object memory-backend-ram,id=numa-mem1,size=1G,"
             .. "host-nodes=1,policy=bind,share=on,prealloc=on -numa node,nodeid=1,memdev=numa-mem1,cpus=4-7" },
  [83] = { test = "TestAppendMultiNUMAHugePages", reason = "as above (appendMemoryKnobs() alone; vmlua adds the -m)",
           actual = "-m 2G,slots=8,maxmem=4G -object memory-backend-file,id=numa-mem0,size=1G,mem-path=/dev/hugepages,"
             .. "host-nodes=0,policy=bind,share=on -numa node,nodeid=0,memdev=numa-mem0,cpus=0-1 -object memory-backend-file,"
             .. "id=numa-mem1,size=1G,mem-path=/dev/hugepages,host-nodes=1,policy=bind,share=on -numa node,nodeid=1,"
             .. "memdev=numa-mem1,cpus=2-3" },
  [84] = { test = "TestAppendNUMADist", reason = "as above (appendMemoryKnobs() alone; vmlua adds the -m)",
           actual = "-m 2G -object memory-backend-ram,id=numa-mem0,size=1G -numa node,nodeid=0,memdev=numa-mem0,cpus=0-1"
             .. " -object memory-backend-ram,id=numa-mem1,size=1G -numa node,nodeid=1,memdev=numa-mem1,cpus=2-3"
             .. " -numa dist,src=0,dst=1,val=20 -numa dist,src=1,dst=0,val=20" },
  [93] = { test = "TestBadQMPSockets", error = 'qmp_sockets[1].type: must be one of unix; got "ip"',
           reason = "govmm skips an invalid QMP socket; vmlua refuses it" },
  [94] = { test = "TestAppendStrings",
           reason = "the test calls appendName, appendCPUModel, appendUUID, appendPidFile in that order; vmlua follows"
             .. " LaunchQemu's order (name, uuid, machine, cpu, ...)",
           actual = "-name cc-qemu -uuid 4cb19522-1e18-439a-883a-f9b2a3a95f5e -cpu host -pidfile /run/vc/vm/iamsandboxid/pidfile" },
  [96] = { test = "TestBadRTC", error = 'rtc.clock: must be one of host, rt, vm; got "invalid"',
           reason = "govmm skips an invalid RTC; vmlua refuses it" },
  [103] = { test = "TestBadDevices", error = "devices[1].id: missing (required)",
            reason = SKIPPED .. ". Each device alone is refused too, except SerialDevice{ID} (vmlua's driver defaults to"
              .. " virtio-serial, govmm requires Driver)",
            each = {
              "devices[1].id: missing (required)", "devices[1].path: missing (required)",
              "devices[1].backend: missing (required)", "devices[1].backend: missing (required)",
              "devices[1].id: missing (required)", 'devices[1].type: must be one of tap, macvtap; got "ipvtap"',
              "devices[1].id: missing (required)", { "-device virtio-serial-pci,disable-modern=false,id=id0" },
              "devices[1].file: missing (required)", 'devices[1].driver: must be one of virtio-blk; got "drv"',
              "devices[1].char_dev_id: missing (required)", "devices[1].socket_path: missing (required)",
              "devices[1].vhost_user_type: missing (required)",
              "devices[1].type_dev_id: missing (required for vhost_user_type net and scsi)",
              "devices[1].type_dev_id: missing (required for vhost_user_type net and scsi)",
            } },
}

describe("govmm conformance", function()
  local vectors = G.load(H.root)
  local exact, deviated = 0, 0

  after_each(G.close_files)

  teardown(function()
    print(string.format("\ngovmm vectors (newest, amd64): %d exact, %d documented deviations", exact, deviated))
  end)

  it("reads the vectors", function()
    assert.are.equal(135, #vectors)
  end)

  for i, c in ipairs(vectors) do
    if c.generation == "newest" and c.arch == "amd64" then
      local dev = deviations[i]
      local title = string.format("#%d %s (%s)%s", i, c.test, c.kind, dev and " — deviation" or "")
      it(title, function()
        local cfg, context = G.config(c)
        local got, err = build(cfg, context)
        if not dev then
          if c.expected == "ERROR" then
            assert.is_nil(got)
            assert.are.equal("smp.max_cpus: must be >= cpus (2), got 1", err)
          else
            assert.are.equal(c.expected, got, err)
          end
          exact = exact + 1
          return
        end
        assert.are.equal(dev.test, c.test)
        assert.is_string(dev.reason)
        assert.are_not.equal(c.expected, got)
        if dev.error then
          assert.is_nil(got)
          assert.are.equal(dev.error, err)
        end
        if dev.drop then
          for _, field in ipairs(dev.drop) do
            for _, list in ipairs { cfg.objects or {}, cfg.devices or {} } do
              for _, entry in ipairs(list) do entry[field] = nil end
            end
          end
          got, err = build(cfg, context)
        end
        if dev.actual then assert.are.equal(dev.actual, got, err) end
        if dev.each then
          for j, entry in ipairs(c.fields) do
            local go_type, f = next(entry)
            local one = G.config { kind = go_type, fields = f }
            local out, e = build(one)
            local want = dev.each[j]
            if type(want) == "table" then assert.are.equal(want[1], out, e) else assert.are.equal(want, e) end
          end
        end
        deviated = deviated + 1
      end)
    end
  end

  it("accounted for every newest amd64 vector: exact or a documented deviation", function()
    local total = 0
    for _, c in ipairs(vectors) do
      if c.generation == "newest" and c.arch == "amd64" then total = total + 1 end
    end
    assert.are.equal(89, total)
    assert.are.equal(total, exact + deviated)
    assert.are.equal(70, exact)
  end)

  it("lists only vectors that exist, are newest/amd64 and really differ", function()
    for i in pairs(deviations) do
      assert.is_truthy(vectors[i], "no vector " .. i)
      assert.are.equal("newest", vectors[i].generation)
      assert.are.equal("amd64", vectors[i].arch)
    end
  end)

  describe("the test JSON decoder", function()
    it("decodes nested values, escapes and literals", function()
      local v = json.decode(' {"a": [1, -2.5e1, "x\\"y\\u00e9\\n", true, false, null], "b": {}} ')
      assert.are.same({ 1, -25.0, 'x"y\u{e9}\n', true, false, json.null }, v.a)
      assert.are.same({}, v.b)
      assert.are.equal(math.type(v.a[1]), "integer")
    end)

    it("rejects bad input with the offset", function()
      assert.has_error(function() json.decode('{"a" 1}') end, "json: expected ':' at offset 6")
      assert.has_error(function() json.decode("[1] x") end, "json: trailing data at offset 5")
    end)
  end)
end)
