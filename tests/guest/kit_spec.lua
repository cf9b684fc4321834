-- The guest kit: tests/guest/build.sh (kernel + initramfs, cached, stamped)
-- and tests/guest/smoke.sh (the plain-shell launcher that boots it under
-- QEMU/TCG with virtiofsd). These run the real tools: the first run of the
-- suite downloads the kernel package into build/guest/cache.
local H = require "support.h"

local kit_dir = H.root .. "/tests/guest"
local build_sh = kit_dir .. "/build.sh"
local smoke_sh = kit_dir .. "/smoke.sh"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Run a shell command line with the sanitizer runtime dropped (children of
-- the asan flavour must not inherit it); returns the exit status and the
-- output (stdout and stderr).
local function run(cmd)
  local p = assert(io.popen("exec 2>&1; unset LD_PRELOAD; " .. cmd .. "\necho \"status=$?\""))
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("status=(%d+)\n$"))
  return status, (out:gsub("status=%d+\n$", ""))
end

local function lines_of(cmd)
  local _, out = run(cmd)
  local t = {}
  for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- smoke.sh makes its temp dir under TMPDIR: give each run its own, so that
-- what it leaves behind (files, QEMU or virtiofsd processes naming that dir)
-- is its own and nobody else's.
local function smoke(args)
  local tmp = H.tmpdir()
  local status, out = run("TMPDIR=" .. q(tmp) .. " " .. q(smoke_sh) .. " " .. args)
  local left = lines_of("ls -A " .. q(tmp) .. "; pgrep -a -f " .. q(tmp) .. " | grep -v pgrep || true")
  return status, out, left
end

-- The kit under test, built once (a no-op when up to date).
local kit_ready
local function ensure_kit()
  if kit_ready == nil then
    local status, out = run(q(build_sh) .. " " .. q(H.guest))
    kit_ready = status == 0 or out
  end
  assert(kit_ready == true, "building the guest kit failed: " .. tostring(kit_ready))
end

-- A copy of the kit sources and an OUTDIR whose cache already holds the
-- kernel package (hard links: no second download).
local function kit_copy()
  ensure_kit()
  local d = H.tmpdir()
  assert(run("cp -r " .. q(kit_dir) .. " " .. q(d .. "/kit")) == 0)
  assert(run("mkdir -p " .. q(d .. "/out/cache") .. " && ln " .. q(H.guest) ..
    "/cache/*.deb " .. q(d .. "/out/cache/")) == 0)
  return d .. "/kit", d .. "/out"
end

describe("guest kit README", function()
  -- What the README says the kit cannot do must match the kit's sources.
  local readme = assert(H.read(kit_dir .. "/README.md"))
  local limits = readme:match("## What the kit cannot do %(today%)\n(.-)\n## ")
  local modules = {}
  for line in assert(H.read(kit_dir .. "/modules")):gmatch("[^\n]+") do
    if not line:find("^#") then modules[line] = true end
  end
  local init = assert(H.read(kit_dir .. "/init"))

  it("has a section saying what the kit cannot do", function()
    assert.truthy(limits, "README.md lacks '## What the kit cannot do (today)'")
  end)

  it("lists each missing capability, and only missing ones", function()
    local claims = {
      { text = "**no network**", missing = not modules.virtio_net },
      { text = "**no disks**", missing = not (modules.virtio_blk or modules.virtio_scsi) },
      { text = "**no guest agent**", missing = not init:find("qemu%-ga") },
      { text = "**one share only**", missing = select(2, init:gsub("vmlua%.share=%*%)", "")) == 1 },
    }
    for _, c in ipairs(claims) do
      assert.are.equal(c.missing, (limits or ""):find(c.text, 1, true) ~= nil,
                       c.text .. (c.missing and ": missing from the kit but not said" or ": said but the kit has it now"))
    end
  end)
end)

describe("guest kit build.sh", function()
  after_each(H.cleanup_tmp)

  it("prints its usage and exits 2 without OUTDIR", function()
    local status, out = run(q(build_sh))
    assert.equal(2, status)
    assert.matches("usage: .*build%.sh OUTDIR", out)
  end)

  it("fails with a clear message when OUTDIR cannot be created", function()
    local status, out = run(q(build_sh) .. " /proc/vmlua-no/guest")
    assert.equal(1, status)
    assert.matches("guest kit: error: cannot create /proc/vmlua%-no/guest", out)
  end)

  it("fails with a clear message without package lists, network or cached kernel", function()
    local d = H.tmpdir()
    -- apt with an empty list dir and a proxy nobody listens on (loopback).
    H.write(d .. "/apt.conf", string.format(
      'Dir::State::Lists "%s/lists/";\nAcquire::http::Proxy "http://127.0.0.1:9";\nAcquire::Retries "0";\n', d))
    assert(run("mkdir -p " .. q(d .. "/lists/partial")) == 0)
    local status, out = run("APT_CONFIG=" .. q(d .. "/apt.conf") .. " " .. q(build_sh) .. " " .. q(d .. "/out"))
    assert.equal(1, status)
    assert.matches("no apt package lists, running apt%-get update", out)
    assert.matches("guest kit: error: cannot find the kernel package that linux%-image%-amd64 depends on: " ..
      "no apt package lists %(apt%-get update failed: no network%?%) and no cached kernel in " ..
      d:gsub("%p", "%%%0") .. "/out/cache", out)
    assert.same({ ".lock", "cache" }, lines_of("ls -A " .. q(d .. "/out")))
    assert.same({}, lines_of("ls -A " .. q(d .. "/out/cache")))
  end)

  it("builds vmlinuz, vmlinux, initrd.gz and kernel-version, then does nothing until a source changes", function()
    local kit, out = kit_copy()
    local status, text = run(q(kit .. "/build.sh") .. " " .. q(out))
    assert.equal(0, status, text)
    assert.matches("guest kit: built ", text)
    for _, f in ipairs { "vmlinuz", "vmlinux", "initrd.gz", "kernel-version", "stamp" } do
      assert.truthy(H.read(out .. "/" .. f), f)
    end
    assert.equal(H.read(H.guest .. "/kernel-version"), H.read(out .. "/kernel-version"))
    assert.equal("\127ELF", H.read(out .. "/vmlinux"):sub(1, 4))
    -- Same sources, same kernel: the same initramfs, byte for byte.
    assert.equal(H.read(H.guest .. "/initrd.gz"), H.read(out .. "/initrd.gz"))
    local files = {}
    for _, f in ipairs(lines_of("zcat " .. q(out .. "/initrd.gz") .. " | cpio -it --quiet")) do
      files[f] = true
    end
    for _, f in ipairs { "init", "bin/busybox", "bin/sh", "sbin/vmlua-poweroff",
                         "etc/acpi/PWRF/00000080", "lib/modules/load-order",
                         "lib/modules/virtiofs.ko", "lib/modules/virtio_mmio.ko",
                         "lib/modules/button.ko", "lib/modules/evdev.ko" } do
      assert.is_true(files[f], f .. " missing from the initramfs")
    end

    status, text = run(q(kit .. "/build.sh") .. " " .. q(out))
    assert.equal(0, status, text)
    assert.matches("^guest kit up to date %(", text)

    H.write(kit .. "/init", "\n# changed\n", "ab")
    status, text = run(q(kit .. "/build.sh") .. " " .. q(out))
    assert.equal(0, status, text)
    assert.matches("guest kit: built ", text)
    assert.same({}, lines_of("ls -d " .. q(out) .. "/.work.* 2>/dev/null"))
  end)

  it("names a module the kernel package lacks and keeps no half-built kit", function()
    local kit, out = kit_copy()
    H.write(kit .. "/modules", "no_such_module\n", "ab")
    local status, text = run(q(kit .. "/build.sh") .. " " .. q(out))
    assert.equal(1, status)
    assert.matches("guest kit: error: linux%-image%-%S+ has no module no_such_module", text)
    assert.same({ ".lock", "cache" }, lines_of("ls -A " .. q(out)))
  end)
end)

describe("guest kit under QEMU (TCG)", function()
  after_each(H.cleanup_tmp)

  it("q35: boots to the marker, writes into the share, powers off on QMP system_powerdown", function()
    ensure_kit()
    local status, out, left = smoke("--machine q35 --stop qmp --kit " .. q(H.guest))
    assert.equal(0, status, out)
    assert.matches("smoke: q35 boot_to_marker=[%d.]+ stop_to_exit=[%d.]+\n", out)
    assert.same({}, left)
  end)

  it("microvm: boots to the marker, writes into the share, powers off on a poweroff-request", function()
    ensure_kit()
    local status, out, left = smoke("--machine microvm --stop share --kit " .. q(H.guest))
    assert.equal(0, status, out)
    assert.matches("smoke: microvm boot_to_marker=[%d.]+ stop_to_exit=[%d.]+\n", out)
    assert.same({}, left)
  end)

  it("fails when the guest never prints the marker, and stops everything it started", function()
    ensure_kit()
    local status, out, left = smoke("--machine microvm --timeout 6 --append vmlua.marker=none --kit " .. q(H.guest))
    assert.equal(1, status)
    assert.matches("smoke: microvm: error: no marker within 6s", out)
    assert.same({}, left)
  end)

  it("rejects bad usage with status 2", function()
    local status, out, left = smoke("--machine pc")
    assert.equal(2, status)
    assert.matches("usage: .*smoke%.sh %[%-%-machine q35|microvm%]", out)
    assert.same({}, left)
  end)

  it("asks for the kit when it is missing", function()
    local d = H.tmpdir()
    local status, out, left = smoke("--kit " .. q(d))
    assert.equal(1, status)
    assert.matches("smoke: q35: error: no " .. d:gsub("%p", "%%%0") ..
      "/vmlinux: build the guest kit first %(make guest%)", out)
    assert.same({}, left)
  end)
end)
