-- vmlua.virtiofsd: the three command-line dialects, flavour detection,
-- probing and readiness.
local virtiofsd = require "vmlua.virtiofsd"
local H = require "support.h"

-- c-help.txt / c-version.txt are captured from the real /usr/lib/qemu/virtiofsd;
-- the rust-* and legacy-* fixtures are written from those daemons' documented
-- help texts (see tests/fixtures/virtiofsd/README.md).
local function fixture(name)
  return assert(H.read(H.root .. "/tests/fixtures/virtiofsd/" .. name), name)
end

local function argv_of(t)
  return virtiofsd.config(t):argv()
end

describe("virtiofsd.detect_flavor", function()
  it("tells the three flavours from their --help text", function()
    assert.are.equal("c", virtiofsd.detect_flavor(fixture("c-help.txt")))
    assert.are.equal("rust", virtiofsd.detect_flavor(fixture("rust-help.txt")))
    assert.are.equal("legacy", virtiofsd.detect_flavor(fixture("legacy-help.txt")))
  end)

  it("uses --version when the help text is not enough", function()
    assert.are.equal("c", virtiofsd.detect_flavor(nil, fixture("c-version.txt")))
    assert.are.equal("rust", virtiofsd.detect_flavor("", fixture("rust-version.txt")))
    assert.are.equal("c", virtiofsd.detect_flavor("usage: virtiofsd [options]", fixture("c-version.txt")))
  end)

  it("agrees when given both texts", function()
    assert.are.equal("c", virtiofsd.detect_flavor(fixture("c-help.txt"), fixture("c-version.txt")))
    assert.are.equal("rust", virtiofsd.detect_flavor(fixture("rust-help.txt"), fixture("rust-version.txt")))
    assert.are.equal("legacy", virtiofsd.detect_flavor(fixture("legacy-help.txt"), fixture("legacy-version.txt")))
  end)

  it("returns nil and a message for something else", function()
    local f, err = virtiofsd.detect_flavor("usage: cat [OPTION]... [FILE]...", "cat (GNU coreutils) 9.1")
    assert.is_nil(f)
    assert.are.equal("cannot tell the virtiofsd flavour from its --help/--version output " ..
                     "(set flavor = \"c\", \"rust\" or \"legacy\")", err)
    assert.is_nil((virtiofsd.detect_flavor(nil, nil)))
  end)

  it("raises for non-string input", function()
    local ok, err = pcall(virtiofsd.detect_flavor, 42)
    assert.is_false(ok)
    assert.truthy(err:find("detect_flavor: expected the --help and --version output as strings", 1, true))
  end)
end)

describe("virtiofsd argv", function()
  describe("C (QEMU's) virtiofsd", function()
    it("the minimal command line", function()
      assert.are.same({ "/usr/lib/qemu/virtiofsd", "--socket-path=/run/v.sock", "-o", "source=/srv/share" },
        argv_of { path = "/usr/lib/qemu/virtiofsd", flavor = "c", socket = "/run/v.sock", source = "/srv/share" })
    end)

    it("every option it has", function()
      assert.are.same({
        "virtiofsd", "--socket-path=/run/v.sock", "-o", "source=/srv", "-o", "cache=always", "-o", "sandbox=chroot",
        "--thread-pool-size=4", "-o", "xattr", "-o", "xattrmap=:map::user.virtiofs.:", "-o", "posix_acl",
        "-o", "announce_submounts", "-o", "writeback", "-o", "allow_direct_io", "-o", "log_level=debug",
        "--socket-group=kvm", "-o", "modcaps=+sys_admin:-chown", "--rlimit-nofile=4096", "--extra", "x",
      }, argv_of { flavor = "c", socket = "/run/v.sock", source = "/srv", cache = "always", sandbox = "chroot",
                   thread_pool_size = 4, xattr = true, xattrmap = ":map::user.virtiofs.:", posix_acl = true,
                   announce_submounts = true, writeback = true, allow_direct_io = true, log_level = "debug",
                   socket_group = "kvm", modcaps = "+sys_admin:-chown", rlimit_nofile = 4096,
                   extra_args = { "--extra", "x" } })
    end)

    it("false booleans become no_ options", function()
      assert.are.same({ "virtiofsd", "--socket-path=/s", "-o", "source=/d", "-o", "no_xattr", "-o", "no_posix_acl",
                        "-o", "no_writeback", "-o", "no_allow_direct_io" },
        argv_of { flavor = "c", socket = "/s", source = "/d", xattr = false, posix_acl = false, writeback = false,
                  allow_direct_io = false, announce_submounts = false })
    end)

    it("maps cache names: never -> none; log level error -> err", function()
      assert.are.same({ "-o", "cache=none" }, { table.unpack(argv_of {
        flavor = "c", socket = "/s", source = "/d", cache = "never" }, 5, 6) })
      assert.are.same({ "-o", "cache=none" }, { table.unpack(argv_of {
        flavor = "c", socket = "/s", source = "/d", cache = "none" }, 5, 6) })
      assert.are.same({ "-o", "cache=auto" }, { table.unpack(argv_of {
        flavor = "c", socket = "/s", source = "/d", cache = "auto" }, 5, 6) })
      local a = argv_of { flavor = "c", fd = 3, source = "/d", log_level = "error" }
      assert.are.same({ "virtiofsd", "--fd=3", "-o", "source=/d", "-o", "log_level=err" }, a)
    end)

    it("syslog with a listening fd", function()
      assert.are.same({ "virtiofsd", "--fd=3", "-o", "source=/d", "--syslog" },
                      argv_of { flavor = "c", fd = 3, source = "/d", syslog = true })
    end)

    it("the real C virtiofsd accepts every option vmlua emits", function()
      -- The socket lives in a directory that does not exist, so virtiofsd
      -- stops right after parsing its options: an option it does not know
      -- gives "fuse: unknown option(s)" instead of the bind failure.
      local args = argv_of { path = "/usr/lib/qemu/virtiofsd", flavor = "c", socket = "/nonexistent-vmlua/v.sock",
                             source = "/tmp", cache = "never", sandbox = "chroot", thread_pool_size = 2,
                             xattr = true, posix_acl = false, announce_submounts = true, writeback = false,
                             allow_direct_io = false, log_level = "info", rlimit_nofile = 0,
                             modcaps = "+sys_admin:-chown", xattrmap = ":map::user.virtiofs.:" }
      local quoted = {}
      for i, a in ipairs(args) do quoted[i] = "'" .. a:gsub("'", "'\\''") .. "'" end
      -- (env -u: under the asan flavour busted runs with the sanitizer preloaded)
      local p = io.popen("env -u LD_PRELOAD " .. table.concat(quoted, " ") .. " 2>&1; echo \"exit=$?\"")
      local out = p:read("a")
      p:close()
      assert.is_nil(out:find("unknown option", 1, true), out)
      assert.truthy(out:find("vhost socket bind: No such file or directory", 1, true), out)
      assert.truthy(out:find("exit=1", 1, true), out)
    end)
  end)

  describe("Rust virtiofsd", function()
    it("the minimal command line asks for the info log level (older releases defaulted to error)", function()
      assert.are.same({ "virtiofsd", "--socket-path", "/run/v.sock", "--shared-dir", "/srv", "--log-level", "info" },
        argv_of { flavor = "rust", socket = "/run/v.sock", source = "/srv" })
    end)

    it("every option it has", function()
      assert.are.same({
        "/usr/libexec/virtiofsd", "--socket-path", "/run/v.sock", "--shared-dir", "/srv", "--cache", "metadata",
        "--sandbox", "none", "--thread-pool-size", "8", "--xattr", "--xattrmap", ":map::user.virtiofs.:",
        "--posix-acl", "--no-announce-submounts", "--readonly", "--writeback", "--allow-direct-io",
        "--log-level", "debug", "--socket-group", "kvm", "--seccomp", "log", "--modcaps=+sys_admin",
        "--rlimit-nofile", "1000", "--inode-file-handles=prefer", "--tag", "vmlua", "--x",
      }, argv_of { path = "/usr/libexec/virtiofsd", flavor = "rust", socket = "/run/v.sock", source = "/srv",
                   cache = "metadata", sandbox = "none", thread_pool_size = 8, xattr = true,
                   xattrmap = ":map::user.virtiofs.:", posix_acl = true, announce_submounts = false, readonly = true,
                   writeback = true, allow_direct_io = true, log_level = "debug", socket_group = "kvm",
                   seccomp = "log", modcaps = "+sys_admin", rlimit_nofile = 1000, inode_file_handles = "prefer",
                   tag = "vmlua", extra_args = { "--x" } })
    end)

    it("maps cache names: none -> never; false flags are left out", function()
      assert.are.same({ "virtiofsd", "--fd", "3", "--shared-dir", "/d", "--cache", "never", "--announce-submounts",
                        "--syslog" },
        argv_of { flavor = "rust", fd = 3, source = "/d", cache = "none", xattr = false, readonly = false,
                  announce_submounts = true, syslog = true })
    end)

    it("a source with a comma is fine (no -o parsing)", function()
      assert.are.same({ "--shared-dir", "/srv/a,b" }, { table.unpack(argv_of {
        flavor = "rust", socket = "/s", source = "/srv/a,b" }, 4, 5) })
    end)
  end)

  describe("legacy (2019) virtiofsd", function()
    it("the seed's command line", function()
      assert.are.same({ "virtiofsd", "-f", "-o", "vhost_user_socket=/a/b/c/doit.sock", "-o", "source=/srv",
                        "-o", "cache=always" },
        argv_of { flavor = "legacy", socket = "/a/b/c/doit.sock", source = "/srv", cache = "always" })
    end)

    it("maps cache never -> none, takes xattr, writeback, the namespace sandbox and extra args", function()
      assert.are.same({ "virtiofsd", "-f", "-o", "vhost_user_socket=/s", "-o", "source=/d", "-o", "cache=none",
                        "-o", "xattr", "-o", "no_writeback", "-d" },
        argv_of { flavor = "legacy", socket = "/s", source = "/d", cache = "never", sandbox = "namespace",
                  xattr = true, writeback = false, extra_args = { "-d" } })
    end)
  end)
end)

describe("virtiofsd readiness and the builder protocol", function()
  it("waits for the ready line on stderr when virtiofsd creates its socket", function()
    for _, flavor in ipairs { "c", "rust", "legacy" } do
      assert.are.same({ line = "Waiting for vhost-user socket connection...", stream = "stderr" },
                      virtiofsd.config({ flavor = flavor, socket = "/s", source = "/d" }):ready())
    end
  end)

  it("is ready at once when the listening socket is passed as fd", function()
    assert.are.same({ immediate = true }, virtiofsd.config({ flavor = "rust", fd = 3, source = "/d" }):ready())
    assert.are.same({ immediate = true }, virtiofsd.config({ flavor = "c", fd = 4, source = "/d" }):ready())
  end)

  it("binary, socket_paths, socket_entries, validate, copy", function()
    local v = virtiofsd.config { flavor = "c", socket = "/run/v.sock", source = "/d", extra_args = { "-d" } }
    assert.are.equal("virtiofsd", v:binary())
    assert.are.equal("virtiofsd", v.helper)
    assert.are.same({ "/run/v.sock" }, v:socket_paths())
    assert.are.same({ { field = "socket", path = "/run/v.sock" } }, v:socket_entries())
    assert.are.same({}, virtiofsd.config({ flavor = "c", fd = 3, source = "/d" }):socket_paths())
    assert.are.same({}, virtiofsd.config({ flavor = "c", fd = 3, source = "/d" }):socket_entries())
    assert.is_true(v:validate())
    local c = v:copy()
    c.extra_args[1] = "-f"
    assert.are.equal("-d", v.extra_args[1])
    v.thread_pool_size = -1
    local ok, err = v:validate()
    assert.is_nil(ok)
    assert.are.equal("thread_pool_size: must be >= 0, got -1", err)
  end)

  it("config{} copies its input", function()
    local t = { flavor = "c", socket = "/s", source = "/d", extra_args = { "-d" } }
    local v = virtiofsd.config(t)
    t.extra_args[1] = "--changed"
    t.source = "/other"
    assert.are.same({ "virtiofsd", "--socket-path=/s", "-o", "source=/d", "-d" }, v:argv())
  end)

  it("find returns the first existing candidate", function()
    finally(function() H.cleanup_tmp() end)
    local d = H.tmpdir()
    H.write(d .. "/virtiofsd", "")
    assert.are.equal(d .. "/virtiofsd", virtiofsd.find { d .. "/missing", d .. "/virtiofsd" })
    assert.is_nil(virtiofsd.find { d .. "/missing" })
  end)
end)

-- A stand-in for vmlua.core's spawn: `outputs[flag]` is what `<binary> <flag>`
-- prints, or { err =, errno = } for a spawn failure, or { hang = true }.
local function fake_core(outputs)
  local log = { spawned = {}, closed = 0 }
  local clock = 0
  local core = {
    monotonic = function() return clock end,
    spawn = function(opts)
      log.spawned[#log.spawned + 1] = opts
      local out = outputs[opts.argv[2]]
      if type(out) == "table" and out.err then return nil, out.err, out.errno end
      local sent = false
      local stream = {
        read = function(_, timeout)
          if type(out) == "table" and out.hang then clock = clock + timeout return nil, "timeout", 110 end
          if not sent then sent = true return out end
          return nil, "eof"
        end,
        close = function() end,
      }
      return {
        pid = 4242, stdout = stream,
        wait = function() return "exited", 0 end,
        close = function() log.closed = log.closed + 1 end,
      }
    end,
  }
  return core, log
end

describe("virtiofsd flavor = \"auto\"", function()
  insulate("with a stubbed vmlua.core", function()
    before_each(function() virtiofsd.forget() end)
    after_each(function()
      package.loaded["vmlua.core"] = nil
      virtiofsd.forget()
    end)

    it("probes --help once per path and caches the answer", function()
      local core, log = fake_core { ["--help"] = fixture("rust-help.txt") }
      package.loaded["vmlua.core"] = core
      local v = virtiofsd.config { path = "/opt/virtiofsd", socket = "/s", source = "/d" }
      assert.are.same({ "/opt/virtiofsd", "--socket-path", "/s", "--shared-dir", "/d", "--log-level", "info" },
                      v:argv())
      assert.are.equal("rust", v:resolved_flavor())
      assert.are.equal("rust", virtiofsd.probe("/opt/virtiofsd"))
      assert.are.equal(1, #log.spawned)
      assert.are.same({ argv = { "/opt/virtiofsd", "--help" }, stdin = "null", stdout = "pipe", stderr = "stdout" },
                      log.spawned[1])
      assert.are.equal(1, log.closed)
    end)

    it("falls back to --version when --help does not tell", function()
      local core, log = fake_core { ["--help"] = "usage: virtiofsd [options]\n",
                                    ["--version"] = fixture("c-version.txt") }
      package.loaded["vmlua.core"] = core
      assert.are.equal("c", virtiofsd.probe("/usr/lib/qemu/virtiofsd"))
      assert.are.same({ "/usr/lib/qemu/virtiofsd", "--version" }, log.spawned[2].argv)
    end)

    it("detects the real C virtiofsd's help text", function()
      local core = fake_core { ["--help"] = fixture("c-help.txt") }
      package.loaded["vmlua.core"] = core
      local v = virtiofsd.config { path = "/usr/lib/qemu/virtiofsd", socket = "/s", source = "/d", cache = "never" }
      assert.are.same({ "/usr/lib/qemu/virtiofsd", "--socket-path=/s", "-o", "source=/d", "-o", "cache=none" },
                      v:argv())
    end)

    it("detects the legacy help text", function()
      package.loaded["vmlua.core"] = fake_core { ["--help"] = fixture("legacy-help.txt") }
      assert.are.equal("legacy", virtiofsd.probe("/old/virtiofsd"))
    end)

    it("returns nil and the spawn error when the binary cannot run; nothing is cached", function()
      local core, log = fake_core { ["--help"] = {
        err = "cannot execute /nope/virtiofsd: No such file or directory", errno = 2 } }
      package.loaded["vmlua.core"] = core
      local v = virtiofsd.config { path = "/nope/virtiofsd", socket = "/s", source = "/d" }
      local argv, err, errno = v:argv()
      assert.is_nil(argv)
      assert.are.equal("cannot execute /nope/virtiofsd: No such file or directory", err)
      assert.are.equal(2, errno)
      assert.is_nil((v:resolved_flavor()))
      assert.are.equal(2, #log.spawned)
    end)

    it("returns nil and a message for an unknown program", function()
      package.loaded["vmlua.core"] = fake_core { ["--help"] = "usage: true",
                                                 ["--version"] = "true (GNU coreutils) 9.1" }
      local f, err = virtiofsd.probe("/bin/true")
      assert.is_nil(f)
      assert.are.equal("/bin/true: cannot tell the virtiofsd flavour from its --help/--version output " ..
                       "(set flavor = \"c\", \"rust\" or \"legacy\")", err)
    end)

    it("gives up on a binary that does not answer, and kills it", function()
      local core, log = fake_core { ["--help"] = { hang = true } }
      package.loaded["vmlua.core"] = core
      local f, err = virtiofsd.probe("/hangs")
      assert.is_nil(f)
      assert.are.equal("/hangs --help: no answer within 5 s", err)
      assert.are.equal(1, log.closed)
    end)

    it("forget(path) drops one cached answer", function()
      local core, log = fake_core { ["--help"] = fixture("c-help.txt") }
      package.loaded["vmlua.core"] = core
      virtiofsd.probe("/a")
      virtiofsd.probe("/a")
      virtiofsd.forget("/a")
      virtiofsd.probe("/a")
      assert.are.equal(2, #log.spawned)
    end)
  end)
end)

describe("virtiofsd.default_sandbox", function()
  after_each(function() H.cleanup_tmp() end)

  -- mountinfo lines as the kernel writes them (proc(5)); a chroot's own
  -- view lists only what is mounted inside it
  local ROOT = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
  local PROC = "24 22 0:5 / /proc rw,nosuid shared:13 - proc proc rw\n"

  it("is the flavour's own (nil) where / is a mount point", function()
    local f = H.tmpdir() .. "/mountinfo"
    H.write(f, ROOT .. PROC)
    assert.is_true(virtiofsd.root_is_mount_point(f))
    assert.is_nil(virtiofsd.default_sandbox(f))
  end)

  it("is chroot where / is not a mount point (a plain chroot)", function()
    local f = H.tmpdir() .. "/mountinfo"
    H.write(f, PROC .. "25 22 0:6 / /sys rw - sysfs sysfs rw\n")
    assert.is_false(virtiofsd.root_is_mount_point(f))
    assert.are.equal("chroot", virtiofsd.default_sandbox(f))
  end)

  it("assumes a mount point when mountinfo cannot be read", function()
    assert.is_true(virtiofsd.root_is_mount_point("/nonexistent/mountinfo"))
  end)
end)
