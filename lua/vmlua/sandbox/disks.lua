--- A sandbox's disks: `disks = { { image =, format =, read_only =, cache =,
-- serial =, overlay =, keep_overlay =, ephemeral = }, ... }` in a recipe.
-- This module holds the field's schema and normal form, wires each disk into
-- the hypervisor config through the driver (plan), checks the images (what
-- a step will create is not missing: an overlay's base must exist and be
-- readable), creates the qcow2 overlays in the sandbox dir before the start
-- (provision), removes them when the sandbox ends unless kept (release),
-- and rewords a start failure an image lock explains. The user's guide is
-- docs/networks-and-disks.md.
local S = require "vmlua.schema"
local core = require "vmlua.core"
local image = require "vmlua.image"
local signals = require "vmlua.sandbox.signals"
local liveness = require "vmlua.sandbox.liveness"

local M = {}

M.CACHE_MODES = { "writeback", "none", "writethrough", "directsync", "unsafe" }
--- How long qemu-img may take to create an overlay (it writes a header).
M.CREATE_TIMEOUT = 60

-- ------------------------------------------------------------ the schema

local SERIAL = S.string { pattern = "^[%w%-_.]+$", pattern_help = "must be letters, digits, '-', '_' or '.'",
                          check = function(v, path)
  if #v > 20 then return S.fail(path, "must be at most 20 bytes (a virtio-blk serial), got %d", #v) end
  return true
end }

-- The rules across one disk's fields, and what the driver can do.
local function check_disk(d, path, driver)
  local function contradicts(a, b, why)
    return S.fail(S.join(path, a), "contradicts %s = true (%s): drop one", b, why)
  end
  if d.overlay and d.read_only then
    return contradicts("read_only", "overlay", "an overlay is where the guest's writes go")
  end
  if d.ephemeral and d.read_only then
    return contradicts("read_only", "ephemeral", "ephemeral throws the guest's writes away; a read-only disk has none")
  end
  if d.overlay and d.ephemeral then
    return contradicts("ephemeral", "overlay", "both keep the guest's writes off the image")
  end
  if d.keep_overlay ~= nil and not d.overlay then
    return S.fail(S.join(path, "keep_overlay"), "only with overlay = true")
  end
  for _, mode in ipairs { "overlay", "ephemeral" } do
    if d[mode] then
      local how = (driver.disk_modes or {})[mode]
      if how ~= true then
        return S.fail(S.join(path, mode), "not available on %s: %s", driver.title,
                      type(how) == "string" and how or "its driver has no such disk mode")
      end
    end
  end
  return true
end

--- The schema of `disks` for sandboxes of `driver`.
function M.schema(driver)
  return S.array(S.record({
    image = S.string { nonempty = true, required = true },
    format = S.string { enum = image.FORMATS },
    read_only = S.boolean {},
    cache = S.string { enum = M.CACHE_MODES },
    serial = SERIAL,
    overlay = S.boolean {},
    keep_overlay = S.boolean {},
    ephemeral = S.boolean {},
  }, { check = function(d, path) return check_disk(d, path, driver) end }))
end

--- The recipe's `disks` (checked) in normal form.
function M.normalize(list)
  local out = {}
  for i, d in ipairs(list or {}) do
    out[i] = { image = d.image, format = d.format, read_only = d.read_only or false, cache = d.cache,
               serial = d.serial, overlay = d.overlay or false, keep_overlay = d.keep_overlay or false,
               ephemeral = d.ephemeral or false }
  end
  return out
end

-- ------------------------------------------------------------ the plan

--- Wire every disk into plan.config through the driver and describe them in
-- plan.disks: { index, image (absolute), format (given or detected), path
-- (what the VM opens: the overlay or the image), overlay, create (the
-- qemu-img argv), keep_overlay, ephemeral, read_only }. plan.disk_files
-- holds the paths this module checks itself (the images and the overlays a
-- step creates), which the generic file check skips.
function M.wire(sb, plan)
  plan.disks, plan.disk_files = {}, plan.disk_files or {}
  for i, d in ipairs(sb.disks) do
    local path = sb:resolve(d.image)
    local base = core.fs.realpath(path) or path
    local detected = image.detect(base)
    local usable = detected and image.supported(detected) and detected
    local p = { index = i, image = base, format = d.format or usable or "raw", detected = detected,
                read_only = d.read_only, ephemeral = d.ephemeral, keep_overlay = d.keep_overlay, cache = d.cache,
                serial = d.serial }
    plan.disk_files[path], plan.disk_files[base] = true, true
    if d.overlay then
      p.overlay = string.format("%s/disk%d-overlay.qcow2", plan.dir, i)
      p.create = image.overlay_argv(base, p.format, p.overlay)
      plan.disk_files[p.overlay] = true
    end
    p.path = p.overlay or base
    local add = plan.driver.add_disk or function()
      return nil, string.format("%s's driver cannot wire disks (it has no add_disk)", plan.driver.title)
    end
    local ok, err = add(plan.config, {
      id = "vmlua-disk" .. i, path = p.path, format = p.overlay and "qcow2" or p.format,
      read_only = d.read_only, cache = d.cache, serial = d.serial, ephemeral = d.ephemeral, overlay = p.overlay,
    })
    if not ok then plan.errors[#plan.errors + 1] = string.format("disks[%d]: %s", i, tostring(err)) end
    plan.disks[i] = p
  end
end

--- What state.json records of the disks.
function M.record(plan)
  if not plan.disks or #plan.disks == 0 then return nil end
  local out = {}
  for i, p in ipairs(plan.disks) do
    out[i] = { image = p.image, format = p.format, overlay = p.overlay, keep_overlay = p.keep_overlay or nil,
               ephemeral = p.ephemeral or nil, read_only = p.read_only or nil }
  end
  return out
end

-- ------------------------------------------------------------ checks

local function file_problem(path, want_write)
  local st, err = core.fs.stat(path)
  if not st then return err end
  if st.type == "link" then
    local real = core.fs.realpath(path)
    st = real and core.fs.stat(real) or st
  end
  if st.type == "dir" then return path .. ": is a directory" end
  if not core.fs.access(path, "r") then return path .. ": not readable" end
  if want_write and not core.fs.access(path, "w") then
    return path .. ": not writable (the disk is read-write: give read_only, overlay or ephemeral)"
  end
  return nil
end

--- Problems `vmlua check` reports: `{ field, message }` pairs.
function M.problems(_, plan)
  local out = {}
  local function add(field, fmt, ...) out[#out + 1] = { field, string.format(fmt, ...) } end
  for i, p in ipairs(plan.disks or {}) do
    local field = string.format("disks[%d]", i)
    local writes = not (p.overlay or p.ephemeral or p.read_only)
    local bad = file_problem(p.image, writes)
    if bad then
      add(field .. ".image", "%s", bad)
    elseif p.detected and not image.supported(p.detected) then
      add(field .. ".image", "%s is a %s image; a disk takes %s images (convert it: qemu-img convert -O qcow2 %s NEW)",
          p.image, p.detected, table.concat(image.FORMATS, " and "), p.image)
    elseif p.detected and p.detected ~= p.format then
      add(field .. ".format", "%s, but %s is a %s image", p.format, p.image, p.detected)
    end
    if p.create and not core.fs.which(p.create[1]) then
      add(field .. ".overlay", "%s not found on PATH (it creates the overlay; install qemu-utils)", p.create[1])
    end
  end
  return out
end

-- ------------------------------------------------------------ overlays

-- Run qemu-img to create disk p's overlay; true, or nil and a message.
local function create_overlay(rt, p)
  local log = string.format("%s/disk%d-overlay.log", rt.dir, p.index)
  local proc, err = core.spawn { argv = p.create, stdin = "null", stdout = { file = log, append = false },
                                 stderr = "stdout" }
  if not proc then return nil, string.format("disks[%d]: cannot create the overlay: %s", p.index, err) end
  local i, ev = core.wait({ { exit = proc }, { signal = signals.INTERRUPT } }, M.CREATE_TIMEOUT)
  if i ~= 1 then
    proc:terminate { signal = "SIGKILL", grace = 5 }
    proc:close()
    if i == 2 then
      return nil, string.format("interrupted by %s while creating disks[%d]'s overlay", ev.signal, p.index)
    end
    return nil, string.format("disks[%d]: %s did not create the overlay within %d s", p.index, p.create[1],
                              M.CREATE_TIMEOUT)
  end
  proc:close()
  if ev.how ~= "exited" or ev.code ~= 0 then
    local text = require("vmlua.sandbox.logs").tail(log, 10)
    return nil, string.format("disks[%d]: cannot create the overlay on %s: %s %s%s", p.index, p.image, p.create[1],
                              require("vmlua.sandbox.exits").how(ev), text ~= "" and (":\n" .. text) or "")
  end
  core.fs.remove(log)
  return true
end

--- Create the overlays (after the sandbox dir and the first state save,
-- before any process starts). true, or nil and a message.
function M.provision(rt)
  for i, p in ipairs(rt.plan.disks or {}) do
    if p.create then
      local t0 = core.monotonic()
      local ok, err = create_overlay(rt, p)
      if not ok then return nil, err end
      local rec = rt.state.disks[i]
      rec.created, rec.create_seconds = true, core.monotonic() - t0
      rt:progress("disks[%d]: overlay %s on %s created (%.0f ms)", i, p.overlay, p.image, rec.create_seconds * 1000)
    end
  end
  if #(rt.plan.disks or {}) > 0 then
    local saved, serr = rt:save(nil)
    if not saved then return nil, "cannot save the sandbox's state: " .. tostring(serr) end
  end
  return true
end

--- Remove the overlays the state records in the sandbox dir `dir`, except
-- those kept (keep_overlay: named with `say`). Marks them in `st`.
function M.release(st, dir, say)
  for i, d in ipairs(type(st.disks) == "table" and st.disks or {}) do
    if type(d) == "table" and type(d.overlay) == "string" and not d.removed and liveness.inside(dir, d.overlay) then
      if d.keep_overlay then
        if not d.kept and core.fs.exists(d.overlay) then
          d.kept = true
          say("disks[%d]: overlay kept at %s (keep_overlay)", i, d.overlay)
        end
      else
        local ok, err, errno = core.fs.remove(d.overlay)
        if ok or errno == core.errno.ENOENT then d.removed = true else say("disks[%d]: %s", i, err) end
      end
    end
  end
end

--- The kept overlays of a state that still exist (what `gc` leaves alone).
function M.kept(st)
  local out = {}
  for i, d in ipairs(type(st.disks) == "table" and st.disks or {}) do
    if type(d) == "table" and d.keep_overlay and type(d.overlay) == "string" and core.fs.exists(d.overlay) then
      out[#out + 1] = string.format("disks[%d]'s overlay %s", i, d.overlay)
    end
  end
  return out
end

--- A start failure an image lock explains (a driver's `start_failures`
-- finding `{ kind = "image_locked", path = }`), in words; else nil.
function M.explain(plan, finding)
  if finding.kind ~= "image_locked" then return nil end
  for i, p in ipairs(plan.disks or {}) do
    if finding.path == p.image or finding.path == p.overlay then
      return string.format("disks[%d].image %s is in use by another process that holds it read-write (another"
                           .. " sandbox with this image as a read-write disk?): %s could not lock it", i, p.image,
                           plan.driver.title)
    end
  end
  return nil
end

return M
