-- A sandbox's disks (vmlua.sandbox.disks, docs/networks-and-disks.md): image
-- formats, the recipe field and what each driver can do, the plan (the
-- command line through the driver, the overlay a step creates), the checks
-- of `vmlua check` (an overlay is not missing; its base must be there), the
-- state and the release of overlays. Creating a real overlay and booting on
-- it is in tests/e2e/disks_qemu_spec.lua.
local core = require "vmlua.core"
local H = require "support.h"
local sandbox = require "vmlua.sandbox"
local plan_mod = require "vmlua.sandbox.plan"
local check = require "vmlua.sandbox.check"
local disks = require "vmlua.sandbox.disks"
local image = require "vmlua.image"
local qemu = require "vmlua.qemu"
local clh = require "vmlua.clh"

local dir
before_each(function() dir = H.tmpdir() end)
after_each(function() H.cleanup_tmp() end)

local function q(list)
  return { id = "d1", disks = list,
           hypervisor = qemu.config { memory = { size = "256M" }, kernel = { path = "/dev/null" } } }
end

local function c(list)
  return { id = "d1", disks = list, flow = "cli",
           hypervisor = clh.config { memory = { size = "256M" }, kernel = "/dev/null" } }
end

local function err_of(spec)
  local ok, err = pcall(sandbox.new, spec, {}, "r.lua:3")
  assert.is_false(ok)
  return err
end

local function plan_of(spec)
  local sb = sandbox.new(spec, { dir = dir })
  return plan_mod.plan(sb, { run_dir = dir .. "/run" }), sb
end

local function argv_text(plan) return table.concat(plan.hypervisor.argv, " ") end

local QCOW2_HEADER = "QFI\xfb\0\0\0\3" .. string.rep("\0", 96)

describe("image formats (vmlua.image)", function()
  it("tells qcow2 by its magic, names formats it refuses, takes the rest as raw", function()
    H.write(dir .. "/a.qcow2", QCOW2_HEADER)
    H.write(dir .. "/a.raw", string.rep("\0", 512))
    H.write(dir .. "/a.vmdk", "KDMV" .. string.rep("\0", 100))
    H.write(dir .. "/short", "QF")
    assert.are.equal("qcow2", image.detect(dir .. "/a.qcow2"))
    assert.are.equal("raw", image.detect(dir .. "/a.raw"))
    assert.are.equal("vmdk", image.detect(dir .. "/a.vmdk"))
    assert.are.equal("raw", image.detect(dir .. "/short"))
    local f, err = image.detect(dir .. "/missing")
    assert.is_nil(f)
    assert.truthy(err:find("No such file", 1, true))
    assert.is_true(image.supported("qcow2"))
    assert.is_false(image.supported("vmdk"))
  end)

  it("creates overlays with qemu-img, the base absolute and its format named", function()
    assert.are.same({ "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/b/base.img", "-F", "raw", "/r/o.qcow2" },
                    image.overlay_argv("/b/base.img", "raw", "/r/o.qcow2"))
  end)
end)

describe("the disks field", function()
  it("contradictions are refused, each naming the field", function()
    assert.are.equal("r.lua:3: disks[1].read_only: contradicts overlay = true (an overlay is where the guest's writes"
                     .. " go): drop one", err_of(q { { image = "b.img", overlay = true, read_only = true } }))
    assert.are.equal("r.lua:3: disks[2].read_only: contradicts ephemeral = true (ephemeral throws the guest's writes"
                     .. " away; a read-only disk has none): drop one",
                     err_of(q { { image = "a.img" }, { image = "b.img", ephemeral = true, read_only = true } }))
    assert.are.equal("r.lua:3: disks[1].ephemeral: contradicts overlay = true (both keep the guest's writes off the"
                     .. " image): drop one", err_of(q { { image = "b.img", overlay = true, ephemeral = true } }))
    assert.are.equal("r.lua:3: disks[1].keep_overlay: only with overlay = true",
                     err_of(q { { image = "b.img", keep_overlay = true } }))
  end)

  it("an unknown format, a bad serial, a missing image are refused", function()
    assert.are.equal('r.lua:3: disks[1].format: must be one of raw, qcow2; got "vmdk"',
                     err_of(q { { image = "b.img", format = "vmdk" } }))
    assert.are.equal("r.lua:3: disks[1].serial: must be at most 20 bytes (a virtio-blk serial), got 21",
                     err_of(q { { image = "b.img", serial = string.rep("s", 21) } }))
    assert.are.equal("r.lua:3: disks[1].image: missing (required)", err_of(q { { format = "raw" } }))
    assert.are.equal('r.lua:3: disks[1].cache: must be one of writeback, none, writethrough, directsync, unsafe;'
                     .. ' got "fast"', err_of(q { { image = "b.img", cache = "fast" } }))
  end)

  it("cloud-hypervisor has no ephemeral disks, and says so", function()
    assert.are.equal("r.lua:3: disks[1].ephemeral: not available on cloud-hypervisor: it has no snapshot mode that"
                     .. " keeps writes off the image; use overlay = true",
                     err_of(c { { image = "b.img", ephemeral = true } }))
  end)
end)

describe("the plan", function()
  before_each(function() H.write(dir .. "/base.img", string.rep("\0", 4096)) end)

  it("QEMU: an overlay in the sandbox dir, created by qemu-img before the start, opened as qcow2", function()
    local plan = plan_of(q { { image = "base.img", overlay = true, serial = "data" } })
    assert.are.same({}, plan.errors)
    local p = plan.disks[1]
    local base = core.fs.realpath(dir .. "/base.img")
    assert.are.equal(dir .. "/run/d1/disk1-overlay.qcow2", p.overlay)
    assert.are.same(image.overlay_argv(base, "raw", p.overlay), p.create)
    local argv = argv_text(plan)
    assert.truthy(argv:find("-drive id=vmlua-disk1,file=" .. p.overlay .. ",format=qcow2,if=none", 1, true), argv)
    assert.truthy(argv:find("drive=vmlua-disk1,config-wce=off,serial=data", 1, true), argv)
    assert.are.same({ { image = base, format = "raw", overlay = p.overlay } }, disks.record(plan))
  end)

  it("QEMU: ephemeral is snapshot=on; read_only, cache and the detected format reach -drive", function()
    H.write(dir .. "/b.qcow2", QCOW2_HEADER)
    local plan = plan_of(q { { image = "base.img", ephemeral = true },
                             { image = "b.qcow2", read_only = true, cache = "none" } })
    local argv = argv_text(plan)
    assert.truthy(argv:find("file=" .. core.fs.realpath(dir .. "/base.img") .. ",format=raw,if=none,snapshot=on", 1,
                            true), argv)
    assert.truthy(argv:find("b.qcow2,format=qcow2,if=none,readonly=on,cache=none", 1, true), argv)
    assert.is_nil(plan.disks[1].overlay)
  end)

  it("cloud-hypervisor: the overlay is qcow2 with backing_files=on", function()
    local plan = plan_of(c { { image = "base.img", overlay = true }, { image = "base.img", read_only = true } })
    assert.are.same({}, plan.errors)
    local argv = argv_text(plan)
    assert.truthy(argv:find("--disk path=" .. plan.disks[1].overlay .. ",backing_files=on,image_type=qcow2,id=vmlua-disk1",
                            1, true), argv)
    assert.truthy(argv:find("readonly=on,image_type=raw,id=vmlua-disk2", 1, true), argv)
  end)

  it("cloud-hypervisor refuses a cache mode it lacks when the plan wires the disk", function()
    local plan = plan_of(c { { image = "base.img", cache = "unsafe" } })
    assert.are.same({ 'disks[1]: add_disk.cache: cloud-hypervisor has writeback (its default) and none (direct=on),'
                      .. ' got "unsafe"' }, plan.errors)
  end)
end)

describe("vmlua check", function()
  local function problems(spec)
    local plan, sb = plan_of(spec)
    return check.problems(sb, plan)
  end

  it("an overlay is not missing; its base must be there", function()
    H.write(dir .. "/base.img", string.rep("\0", 4096))
    assert.are.same({}, problems(q { { image = "base.img", overlay = true } }))
    local p = problems(q { { image = "nope.img", overlay = true } })
    assert.are.same({ "recipe: disks[1].image: stat " .. dir .. "/nope.img: No such file or directory" }, p)
  end)

  it("a format the image does not have, and an image in a format vmlua does not take", function()
    H.write(dir .. "/raw.img", string.rep("\0", 512))
    H.write(dir .. "/q.img", QCOW2_HEADER)
    H.write(dir .. "/v.vmdk", "KDMV" .. string.rep("\0", 100))
    local p = table.concat(problems(q { { image = "raw.img", format = "qcow2" }, { image = "q.img", format = "raw" },
                                        { image = "v.vmdk" } }), "\n")
    assert.truthy(p:find("disks[1].format: qcow2, but " .. dir .. "/raw.img is a raw image", 1, true), p)
    assert.truthy(p:find("disks[2].format: raw, but " .. dir .. "/q.img is a qcow2 image", 1, true), p)
    assert.truthy(p:find("disks[3].image: " .. dir .. "/v.vmdk is a vmdk image; a disk takes raw and qcow2 images"
                         .. " (convert it: qemu-img convert -O qcow2", 1, true), p)
  end)

  it("a directory is no image", function()
    local p = problems(q { { image = ".", read_only = true } })
    assert.truthy(p[1]:find("disks[1].image: " .. dir .. ": is a directory", 1, true), p[1])
  end)
end)

describe("releasing overlays from the state", function()
  local said
  local function say(fmt, ...) said[#said + 1] = string.format(fmt, ...) end
  before_each(function() said = {} end)

  it("removes overlays in the sandbox dir, keeps kept ones (and says where), touches nothing outside", function()
    local sdir = dir .. "/run/d1"
    assert(core.fs.mkdir(dir .. "/run", tonumber("700", 8)))
    assert(core.fs.mkdir(sdir, tonumber("700", 8)))
    for _, n in ipairs { "disk1-overlay.qcow2", "disk2-overlay.qcow2" } do H.write(sdir .. "/" .. n, "x") end
    H.write(dir .. "/outside.qcow2", "x")
    local st = { disks = {
      { image = "/b", overlay = sdir .. "/disk1-overlay.qcow2" },
      { image = "/b", overlay = sdir .. "/disk2-overlay.qcow2", keep_overlay = true },
      { image = "/b", overlay = dir .. "/outside.qcow2" },
      { image = "/b", overlay = sdir .. "/../../outside.qcow2" },
    } }
    disks.release(st, sdir, say)
    assert.is_false(core.fs.exists(sdir .. "/disk1-overlay.qcow2"))
    assert.is_true(st.disks[1].removed)
    assert.is_true(core.fs.exists(sdir .. "/disk2-overlay.qcow2"))
    assert.are.same({ "disks[2]: overlay kept at " .. sdir .. "/disk2-overlay.qcow2 (keep_overlay)" }, said)
    assert.is_true(core.fs.exists(dir .. "/outside.qcow2"))
    assert.are.same({ "disks[2]'s overlay " .. sdir .. "/disk2-overlay.qcow2" }, disks.kept(st))
    disks.release(st, sdir, say)
    assert.are.equal(1, #said) -- said once
  end)

  it("explains an image lock naming the disk", function()
    H.write(dir .. "/base.img", string.rep("\0", 512))
    local plan = plan_of(q { { image = "base.img", overlay = true } })
    local base = plan.disks[1].image
    local f = plan.driver.start_failures("qemu-system-x86_64: -device virtio-blk-pci,...: Failed to get shared"
                                         .. ' "write" lock\nIs another process using the image [' .. base .. "]?\n")
    assert.are.same({ { kind = "image_locked", path = base } }, f)
    assert.are.equal("disks[1].image " .. base .. " is in use by another process that holds it read-write (another"
                     .. " sandbox with this image as a read-write disk?): QEMU could not lock it",
                     disks.explain(plan, f[1]))
  end)
end)
