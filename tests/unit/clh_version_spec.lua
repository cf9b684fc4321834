-- vmlua.clh parse_version / version_at_least / check_version over every
-- --version form cloud-hypervisor prints (its build.rs: "v" + the Cargo version,
-- or `git describe --dirty`, plus $CH_EXTRA_VERSION).
local clh = require "vmlua.clh"

local function parsed(text)
  local v, err = clh.parse_version(text)
  assert.is_nil(err)
  return v
end

describe("clh.parse_version", function()
  it("reads today's two-line output", function()
    local v = parsed("cloud-hypervisor v53.0\nMigration Protocol Versions: 0\n")
    assert.are.same({ major = 53, minor = 0, patch = 0, text = "v53.0" }, v)
  end)

  it("reads the three-line -v output", function()
    local v = parsed("cloud-hypervisor v54.0.0\nMigration Protocol Versions: 0\n" ..
                     "Enabled features: [\"kvm\", \"io_uring\"]\n")
    assert.are.same({ 54, 0, 0 }, { v.major, v.minor, v.patch })
  end)

  it("reads the older single line and bare versions", function()
    assert.are.same({ major = 40, minor = 1, patch = 0, text = "v40.1" }, parsed("cloud-hypervisor v40.1\n"))
    assert.are.same({ major = 53, minor = 0, patch = 0, text = "v53.0" }, parsed("v53.0"))
    assert.are.same({ major = 54, minor = 0, patch = 0, text = "v54.0.0" }, parsed("v54.0.0"))
    assert.are.same({ major = 0, minor = 3, patch = 0, text = "0.3.0" }, parsed("cloud-hypervisor 0.3.0"))
    assert.are.same({ major = 19, minor = 0, patch = 0, text = "19.0" }, parsed("  19.0  \n"))
  end)

  it("reads git describe output", function()
    assert.are.same({ major = 53, minor = 0, patch = 0, extra = "246-gae44c2971", commits = 246,
                      commit = "ae44c2971", text = "v53.0-246-gae44c2971" },
                    parsed("cloud-hypervisor v53.0-246-gae44c2971\nMigration Protocol Versions: 0\n"))
  end)

  it("reads -dirty and -$CH_EXTRA_VERSION suffixes", function()
    assert.are.same({ major = 53, minor = 0, patch = 0, extra = "dirty", dirty = true, text = "v53.0-dirty" },
                    parsed("cloud-hypervisor v53.0-dirty"))
    local v = parsed("cloud-hypervisor v53.0-246-gae44c2971-dirty")
    assert.are.same({ 246, "ae44c2971", true }, { v.commits, v.commit, v.dirty })
    v = parsed("cloud-hypervisor v54.0.0-kata.1")
    assert.are.same({ 54, 0, 0, "kata.1" }, { v.major, v.minor, v.patch, v.extra })
    assert.is_nil(v.dirty)
    v = parsed("cloud-hypervisor v53.0-246-gae44c2971-myextra")
    assert.are.same({ 246, "246-gae44c2971-myextra" }, { v.commits, v.extra })
  end)

  it("returns nil and a message for anything else", function()
    local cases = {
      [""] = "empty output",
      ["\n\n"] = "empty output",
      ["cloud-hypervisor"] = "the version does not start with a number",
      ["cloud-hypervisor v1"] = "expected 2 or 3 numeric components, got 1",
      ["cloud-hypervisor v1.2.3.4"] = "expected 2 or 3 numeric components, got 4",
      ["cloud-hypervisor v1..2"] = "empty version component",
      ["cloud-hypervisor vX.Y"] = "the version does not start with a number",
      ["cloud-hypervisor v1.2beta"] = "unexpected \"beta\" after the version number",
      ["cloud-hypervisor v1.2-"] = "unexpected \"-\" after the version number",
      ["cloud-hypervisor v1.2-a b"] = "expected \"cloud-hypervisor vX.Y[.Z][-extra]\" on the first line",
      ["QEMU emulator version 7.2.0"] = "expected \"cloud-hypervisor vX.Y[.Z][-extra]\" on the first line",
      ["firecracker v1.4.0"] = "expected \"cloud-hypervisor vX.Y[.Z][-extra]\" on the first line",
      ["cloud-hypervisor v1234567890.0"] = "version component too large",
    }
    for text, why in pairs(cases) do
      local v, err = clh.parse_version(text)
      assert.is_nil(v, text)
      local shown = string.format("%q", text)
      assert.are.equal("cannot parse cloud-hypervisor version from " .. shown .. ": " .. why, err)
    end
  end)

  it("shortens long output in its message", function()
    local _, err = clh.parse_version(string.rep("x", 100))
    assert.are.equal('cannot parse cloud-hypervisor version from "' .. string.rep("x", 57) ..
                     '...": the version does not start with a number', err)
  end)

  it("raises for a non-string argument", function()
    local ok, err = pcall(clh.parse_version, nil)
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #1 to 'parse_version' (string expected, got nil)", 1, true), err)
  end)
end)

describe("clh.version_at_least / check_version", function()
  it("compares major, minor, patch in order, ignoring extra", function()
    assert.is_true(clh.version_at_least("v53.0", "v53.0"))
    assert.is_true(clh.version_at_least("v53.0-246-gae44c2971", "53.0.0"))
    assert.is_true(clh.version_at_least("v54.0.0", "v53.9"))
    assert.is_true(clh.version_at_least("v53.1", "v53.0.9"))
    assert.is_false(clh.version_at_least("v52.9.9", "v53.0"))
    assert.is_false(clh.version_at_least("v53.0", "v53.0.1"))
    assert.is_false(clh.version_at_least("0.2.0", "0.3.0"))
  end)

  it("takes parsed tables and {major, minor, patch} lists", function()
    local v = assert(clh.parse_version("cloud-hypervisor v51.1\nMigration Protocol Versions: 0"))
    assert.is_true(clh.version_at_least(v, { 51, 1 }))
    assert.is_false(clh.version_at_least(v, { 51, 1, 1 }))
    assert.is_true(clh.version_at_least({ 51, 2 }, v))
  end)

  it("check_version names both versions", function()
    assert.is_true(clh.check_version("cloud-hypervisor v53.0", "v51.1"))
    local ok, err = clh.check_version("cloud-hypervisor v40.0", "v51.1")
    assert.is_nil(ok)
    assert.are.equal("cloud-hypervisor v40.0 is older than the required v51.1", err)
    ok, err = clh.check_version({ 1, 2 }, { 1, 3 })
    assert.is_nil(ok)
    assert.are.equal("cloud-hypervisor v1.2.0 is older than the required v1.3.0", err)
  end)

  it("raises for versions it cannot read", function()
    local ok, err = pcall(clh.version_at_least, "junk", "v1.0")
    assert.is_false(ok)
    assert.truthy(err:find('version: cannot parse cloud-hypervisor version from "junk"', 1, true), err)
    ok, err = pcall(clh.version_at_least, "v1.0", 3)
    assert.is_false(ok)
    assert.truthy(err:find("minimum version: expected a version string or table, got number", 1, true), err)
    ok, err = pcall(clh.version_at_least, { x = 1 }, "v1.0")
    assert.is_false(ok)
    assert.truthy(err:find("version: expected a parsed version or {major, minor[, patch]}", 1, true), err)
  end)
end)
