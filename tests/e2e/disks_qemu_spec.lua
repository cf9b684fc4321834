-- End to end, real QEMU (TCG) and the guest kit: a sandbox's disks.
--   * two sandboxes with overlays on one ext4 base and a third with an
--     ephemeral disk on it, all at once: each guest mounts its disk and
--     writes to it; the base stays byte for byte the same; the overlays go
--     with their sandboxes and the ephemeral disk leaves no file;
--   * bad input, each refused with a clear message and nothing left behind:
--     a missing base image, an unknown format, overlay with read_only
--     (exit 2), and a base image another sandbox holds read-write (QEMU's
--     image lock, reworded; exit 1).
-- (The overlay of a sandbox with a user-mode network, kept and read back,
-- is in network_qemu_spec.lua.)
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"
local N = require "support.hostnet"

local RECIPE = H.root .. "/tests/e2e/recipes/netdisk.lua"
-- errors name the recipe's file:line of its vmlua.sandbox{}
local WHERE
do
  local n = 0
  for line in io.lines(RECIPE) do
    n = n + 1
    if line:find("^return vmlua.sandbox {") then WHERE = RECIPE .. ":" .. n .. ": " end
  end
end

local function run_args(id, sets, detach) return N.run_args(RECIPE, id, sets, detach) end


describe("disks on one base image", function()
  local w, img
  before_each(function()
    w = E.world()
    img = N.base_image(w)
  end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("two overlays and an ephemeral disk at once; the base never changes", function()
    local base = assert(H.read(img))
    local runs = {
      a = E.start(w, run_args("ova", { "disk=" .. img, "overlay=1", "mount=vda" })),
      b = E.start(w, run_args("ovb", { "disk=" .. img, "overlay=1", "mount=vda" })),
      c = E.start(w, run_args("eph", { "disk=" .. img, "ephemeral=1", "mount=vda" })),
    }
    for k, r in pairs(runs) do
      local code, _, err = r:finish()
      assert.are.equal(0, code, k .. ": " .. tostring(err))
    end
    for _, id in ipairs { "ova", "ovb", "eph" } do
      local s = E.read(w.run .. "/" .. id .. "/serial.log")
      assert.truthy(s:find("disk vda: base.txt: the base image", 1, true), id .. ": " .. s)
      assert.truthy(s:find("disk vda: wrote written-by-guest.txt", 1, true), id .. ": " .. s)
    end
    local overlays = {}
    for _, id in ipairs { "ova", "ovb" } do
      local st = E.state(w, id)
      overlays[id] = st.disks[1].overlay
      assert.is_true(core.fs.exists(overlays[id]), id)
    end
    assert.are_not.equal(overlays.ova, overlays.ovb)
    -- the ephemeral disk: QEMU's snapshot=on, nothing in the sandbox dir
    local st = E.state(w, "eph")
    assert.is_true(st.disks[1].ephemeral)
    assert.is_nil(st.disks[1].overlay)
    for _, f in ipairs(core.fs.list(w.run .. "/eph")) do assert.is_nil(f:find("disk", 1, true), f) end
    assert.truthy(table.concat(st.processes.hypervisor.argv, " "):find("snapshot=on", 1, true))
    for _, id in ipairs { "ova", "ovb", "eph" } do
      local code, _, err = E.vmlua(w, { "stop", id })
      assert.are.equal(0, code, err)
    end
    for id, path in pairs(overlays) do assert.is_false(core.fs.exists(path), id) end
    assert.is_true(H.read(img) == base, "the base image changed")
    assert.is_nil(N.ext4_cat(img, "written-by-guest.txt"))
    assert.are.same({}, E.leftovers(w))
  end)
end)

describe("bad disks", function()
  local w, img
  before_each(function()
    w = E.world()
    img = N.base_image(w)
  end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  local function refused(sets, code_wanted, text)
    local code, _, err = E.vmlua(w, run_args("bad", sets, false))
    assert.are.equal(code_wanted, code, err)
    assert.truthy(err:find(text, 1, true), err)
    assert.are.same({}, E.run_dir_entries(w))
    assert.are.same({}, E.leftovers(w))
  end

  it("a missing base image: exit 2, nothing started", function()
    refused({ "disk=" .. w.dir .. "/nope.img", "overlay=1" }, 2,
            WHERE .. "disks[1].image: stat " .. w.dir .. "/nope.img: No such file or directory")
  end)

  it("an unknown format: exit 2", function()
    refused({ "disk=" .. img, "format=vmdk" }, 2, WHERE .. 'disks[1].format: must be one of raw, qcow2; got "vmdk"')
  end)

  it("overlay with read_only: exit 2", function()
    refused({ "disk=" .. img, "overlay=1", "read_only=1" }, 2,
            WHERE .. "disks[1].read_only: contradicts overlay = true")
  end)

  it("a base image another sandbox holds read-write: exit 1, QEMU's lock reworded, nothing left", function()
    local code, _, err = E.vmlua(w, run_args("holder", { "disk=" .. img }))
    assert.are.equal(0, code, err)
    local out
    code, out, err = E.vmlua(w, run_args("second", { "disk=" .. img, "overlay=1" }, false))
    assert.are.equal(1, code, out)
    local real = core.fs.realpath(img)
    assert.truthy(err:find("disks[1].image " .. real .. " is in use by another process that holds it read-write"
                           .. " (another sandbox with this image as a read-write disk?): QEMU could not lock it", 1, true),
                  err)
    local st = E.state(w, "second")
    assert.are.equal("failed", st.status)
    assert.is_true(st.disks[1].removed)
    assert.is_false(core.fs.exists(st.disks[1].overlay))
    code, _, err = E.vmlua(w, { "stop", "holder" })
    assert.are.equal(0, code, err)
    assert.are.same({}, E.leftovers(w))
  end)
end)
