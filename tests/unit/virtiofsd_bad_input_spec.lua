-- vmlua.virtiofsd: bad input is rejected with a message naming the field,
-- at the caller's line; options a flavour lacks are named with the flavour.
local virtiofsd = require "vmlua.virtiofsd"

local SPEC = "virtiofsd_bad_input_spec.lua"

local function strip(err)
  local file, msg = err:match("^(.-):%d+: (.*)$")
  assert.truthy(file and file:sub(-#SPEC) == SPEC, "error does not carry this file: " .. err)
  return msg
end

local function config_error(t)
  local ok, err = pcall(function()
    local v = virtiofsd.config(t)
    return v
  end)
  assert.is_false(ok, "expected virtiofsd.config to raise")
  return strip(err)
end

local function argv_error(t)
  local v = virtiofsd.config(t)
  local ok, err = pcall(function()
    local argv = v:argv()
    return argv
  end)
  assert.is_false(ok, "expected argv to raise")
  return strip(err)
end

local CONFIG_CASES = {
  { "source not a string", { socket = "/s", source = 42 }, "source: expected a string, got 42" },
  { "thread_pool_size as a string", { socket = "/s", source = "/d", thread_pool_size = "4" },
    'thread_pool_size: expected an integer, got "4"' },
  { "xattr not a boolean", { socket = "/s", source = "/d", xattr = "yes" },
    'xattr: expected true or false, got "yes"' },
  { "extra_args with a number", { socket = "/s", source = "/d", extra_args = { 1 } },
    "extra_args[1]: expected a string, got 1" },
  { "an unknown flavour", { flavor = "go", socket = "/s", source = "/d" },
    'flavor: must be one of auto, c, rust, legacy; got "go"' },
  { "a misspelt cache mode", { socket = "/s", source = "/d", cache = "nevr" },
    'cache: must be one of auto, always, never, none, metadata; got "nevr" (did you mean \'never\'?)' },
  { "a misspelt field", { socket = "/s", source = "/d", thread_pool_sise = 2 },
    "thread_pool_sise: unknown field (did you mean 'thread_pool_size'?)" },
  { "the daemon's own option name", { socket = "/s", shared_dir = "/d" },
    "shared_dir: unknown field (did you mean 'source'?)" },
  { "the legacy socket option name", { vhost_user_socket = "/s", source = "/d" },
    "vhost_user_socket: unknown field (did you mean 'socket'?)" },
  { "no source", { socket = "/s" }, "source: missing (required)" },
  { "no socket and no fd", { source = "/d" },
    "socket: missing (required; or give fd, a listening socket passed to virtiofsd)" },
  { "both socket and fd", { socket = "/s", fd = 3, source = "/d" },
    "socket: give either socket or fd (a listening socket passed to virtiofsd), not both" },
  { "a negative fd", { fd = -1, source = "/d" }, "fd: must be >= 0, got -1" },
  { "a negative thread pool", { socket = "/s", source = "/d", thread_pool_size = -1 },
    "thread_pool_size: must be >= 0, got -1" },
  { "a tag over 36 bytes", { socket = "/s", source = "/d", tag = string.rep("x", 40) },
    "tag: must be at most 36 bytes (the virtio-fs tag size), got 40" },
  { "bad modcaps", { socket = "/s", source = "/d", modcaps = "sys_admin" },
    'modcaps: must look like "+sys_admin:-chown", got "sys_admin"' },
  { "syslog while vmlua waits for the ready line", { socket = "/s", source = "/d", syslog = true },
    'syslog: the ready line "Waiting for vhost-user socket connection..." would go to syslog, so vmlua could not ' ..
    "tell when virtiofsd listens; drop syslog or pass a listening socket as fd" },
  { "a log level that hides the ready line", { socket = "/s", source = "/d", log_level = "warn" },
    'log_level: must be info, debug or trace while vmlua waits for the ready line (logged at info), got "warn"; ' ..
    "or pass a listening socket as fd" },
}

local FLAVOR_CASES = {
  { "readonly on the C virtiofsd", { flavor = "c", socket = "/s", source = "/d", readonly = true },
    "readonly: not supported by the C virtiofsd (QEMU's)" },
  { "the metadata cache on the C virtiofsd", { flavor = "c", socket = "/s", source = "/d", cache = "metadata" },
    'cache: "metadata" is a Rust virtiofsd mode; the C one has auto, always and none' },
  { "sandbox none on the C virtiofsd", { flavor = "c", socket = "/s", source = "/d", sandbox = "none" },
    'sandbox: "none" is a Rust virtiofsd mode; the C one has namespace and chroot' },
  { "log level trace on the C virtiofsd", { flavor = "c", socket = "/s", source = "/d", log_level = "trace" },
    'log_level: "trace" is not a C virtiofsd level (err, warn, info, debug)' },
  { "seccomp on the C virtiofsd", { flavor = "c", socket = "/s", source = "/d", seccomp = "kill" },
    "seccomp: not supported by the C virtiofsd (QEMU's)" },
  { "a comma in the source for the C virtiofsd", { flavor = "c", socket = "/s", source = "/srv/a,b" },
    "source: must not contain ',' for the C virtiofsd (its -o options split at ',')" },
  { "an fd for the legacy virtiofsd", { flavor = "legacy", fd = 3, source = "/d" },
    "fd: not supported by the legacy (2019) virtiofsd" },
  { "a chroot sandbox for the legacy virtiofsd",
    { flavor = "legacy", socket = "/s", source = "/d", sandbox = "chroot" },
    "sandbox: the legacy virtiofsd always uses namespaces and has no other mode" },
  { "a thread pool for the legacy virtiofsd", { flavor = "legacy", socket = "/s", source = "/d", thread_pool_size = 2 },
    "thread_pool_size: not supported by the legacy (2019) virtiofsd" },
  { "a comma in the legacy socket path", { flavor = "legacy", socket = "/s,x", source = "/d" },
    "socket: must not contain ',' for the legacy virtiofsd (its -o options split at ',')" },
  { "the metadata cache on the legacy virtiofsd",
    { flavor = "legacy", socket = "/s", source = "/d", cache = "metadata" },
    'cache: "metadata" is a Rust virtiofsd mode; the legacy one has auto, always and none' },
}

describe("virtiofsd.config rejects bad input", function()
  for _, case in ipairs(CONFIG_CASES) do
    it(case[1], function() assert.are.equal(case[3], config_error(case[2])) end)
  end

  it("raises at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local v = virtiofsd.config { socket = "/s" }
      return v end)
    assert.is_false(ok)
    assert.truthy(err:find(SPEC .. ":" .. line .. ": source: missing (required)", 1, true), err)
  end)

  it("rejects a non-table argument", function()
    assert.are.equal("virtiofsd.config: expected a table, got nil", config_error(nil))
  end)
end)

describe("virtiofsd argv rejects options the flavour lacks", function()
  for _, case in ipairs(FLAVOR_CASES) do
    it(case[1], function() assert.are.equal(case[3], argv_error(case[2])) end)
  end

  it("argv and ready raise after an edit that breaks the config", function()
    local v = virtiofsd.config { flavor = "c", socket = "/s", source = "/d" }
    v.source = nil
    for _, m in ipairs { "argv", "ready" } do
      local ok, err = pcall(function() local r = v[m](v) return r end)
      assert.is_false(ok)
      assert.are.equal("source: missing (required)", strip(err))
    end
  end)
end)
