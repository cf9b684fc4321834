-- End to end: a cloud-hypervisor sandbox's network and disks, from the
-- recipe fields, against the fake cloud-hypervisor (tests/fakes/, faithful
-- to the reference CLI and REST API), in the REST flow and the command-line
-- flow:
--   * a tap cloud-hypervisor creates itself (--net tap=,ip=,mask=,mac= or
--     the same in vm.create), the guest's address in the kernel's ip=;
--   * an overlay (qcow2 with backing_files=on, created by qemu-img in the
--     sandbox dir, removed at the stop) and a read-only raw disk;
--   * a tap given as an open file (Kata's way): vm.add-net with the fd;
--   * what cloud-hypervisor cannot do (user-mode networking, ephemeral
--     disks) is refused before anything starts, naming it.
-- Nothing may be left behind.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"

local RECIPE = H.root .. "/tests/fixtures/recipes/clh-netdisk.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

local function args(id, sets, detach)
  local a = { "run", RECIPE, "--set", "fake=" .. FAKE, "--set", "id=" .. id }
  if detach ~= false then table.insert(a, 2, "-d") end
  for _, s in ipairs(sets) do
    a[#a + 1] = "--set"
    a[#a + 1] = s
  end
  return a
end

describe("cloud-hypervisor: a tap and disks from the recipe (fake VMM)", function()
  local w, base, ro
  before_each(function()
    w = E.world()
    base = w.dir .. "/base.img"
    ro = w.dir .. "/ro.img"
    H.write(base, string.rep("\0", 65536))
    H.write(ro, string.rep("\0", 4096))
  end)
  after_each(function()
    local problems = E.leftovers(w)
    H.cleanup_tmp()
    assert.are.same({}, problems)
  end)

  for _, flow in ipairs { "api", "cli" } do
    it(flow .. " flow: the VM gets the tap, the overlay and the read-only disk; the overlay goes at the stop",
       function()
      local id = "cnd" .. flow
      local code, out, err = E.vmlua(w, args(id, { "flow=" .. flow, "net=tap", "disk=" .. base, "ro=" .. ro }))
      assert.are.equal(0, code, err)
      assert.are.equal(id .. "\n", out)
      local st = E.state(w, id)
      local tap = st.network.tap
      assert.are.equal("hypervisor", tap.by)
      assert.truthy(tap.name:match("^vl%x+$"), tap.name)
      local _, info = E.vmlua(w, { "api", id, "vm.info" })
      local vm = core.json.decode(info)
      assert.are.equal("Running", vm.state)
      local net = vm.config.net[1]
      assert.are.same({ tap.name, tap.host:match("^[%d.]+"), "255.255.255.252", st.network.mac },
                      { net.tap, net.ip, net.mask, net.mac })
      assert.truthy(vm.config.payload.cmdline:find("ip=" .. tap.guest .. "::" .. net.ip .. ":255.255.255.252:::off",
                                                   1, true), vm.config.payload.cmdline)
      local d1, d2 = vm.config.disks[1], vm.config.disks[2]
      local overlay = st.disks[1].overlay
      assert.are.same({ overlay, true, "Qcow2" }, { d1.path, d1.backing_files, d1.image_type })
      assert.are.same({ core.fs.realpath(ro), true, "Raw", "ro-disk" },
                      { d2.path, d2.readonly, d2.image_type, d2.serial })
      assert.is_true(core.fs.exists(overlay))
      local text = E.read(overlay):sub(1, 4)
      assert.are.equal("QFI\xfb", text)
      code, out, err = E.vmlua(w, { "stop", id })
      assert.are.equal(0, code, err)
      assert.truthy(out:find(id .. " stopped: powerdown", 1, true), out)
      assert.is_false(core.fs.exists(overlay))
      assert.is_true(E.state(w, id).disks[1].removed)
    end)
  end

  it("REST flow: a tap given as an open file goes to the VMM through vm.add-net", function()
    local tapfile = w.dir .. "/tap-stand-in"
    H.write(tapfile, "")
    local code, _, err = E.vmlua(w, args("cndfd", { "net=fd", "tapfile=" .. tapfile }))
    assert.are.equal(0, code, err)
    local st = E.state(w, "cndfd")
    assert.are.equal("caller", st.network.tap.by)
    local _, info = E.vmlua(w, { "api", "cndfd", "vm.info" })
    local net = core.json.decode(info).config.net[1]
    assert.are.equal(st.network.mac, net.mac)
    assert.are.equal(1, #net.fds)
    assert.are.equal(tapfile, core.fs.readlink(string.format("/proc/%d/fd/%d", st.pid, net.fds[1])))
    code, _, err = E.vmlua(w, { "stop", "cndfd" })
    assert.are.equal(0, code, err)
  end)

  it("user-mode networking and ephemeral disks are refused, naming the mode and the hypervisor", function()
    local code, _, err = E.vmlua(w, args("cnduser", { "net=user" }, false))
    assert.are.equal(2, code)
    assert.truthy(err:find('network.mode: "user" networking is not available on cloud-hypervisor: it has no'
                           .. " user-mode network stack", 1, true), err)
    code, _, err = E.vmlua(w, { "check", RECIPE, "--set", "fake=" .. FAKE, "--set", "disk=" .. base,
                                "--set", "ephemeral=1" })
    assert.are.equal(2, code)
    assert.truthy(err:find("disks[1].ephemeral: not available on cloud-hypervisor: it has no snapshot mode", 1, true),
                  err)
    assert.are.same({}, E.run_dir_entries(w))
  end)
end)
