-- The real QEMU accepts what vmlua.qemu builds: every x86 (q35, microvm)
-- argv of tests/support/qemu_cases.lua — the same argvs tests/unit/qemu_spec
-- asserts byte for byte — is given to qemu-system-x86_64 with accel=tcg,
-- paused (-S), without a display, with QMP on stdio; the spec waits for the
-- QMP greeting (QEMU has parsed the command line, created every device and
-- backend), sends `quit`, and checks that QEMU exits 0 and leaves nothing
-- behind.
--
-- What runs for real, besides QEMU: /usr/lib/qemu/virtiofsd for the
-- vhost-user-fs cases, qemu-storage-daemon (a vhost-user-blk export) for the
-- vhost-user-blk case; the tap case makes QEMU create (and on exit remove) a
-- tap interface with a unique name, with no up/down scripts.
--
-- Cases excluded from the real run carry their reason in the case table
-- (`skip`); each excluded case still has a test below that builds its argv
-- and states why it cannot start on this host:
--   * multiqueue tap by fds + vhost fds: needs open tap fds (TUNSETIFF on
--     /dev/net/tun, which Lua cannot do) and /dev/vhost-net (absent here);
--   * vhost-user scsi and net: no vhost-user scsi/net backend on this host
--     (SPDK, DPDK/OVS);
--   * xio3130-downstream with *-reserve: the properties exist only in a
--     kata-patched QEMU;
--   * VFIO: needs a host PCI device bound to vfio-pci;
--   * vhost-vsock (q35 and microvm): needs /dev/vhost-vsock (run for real when
--     the host has it);
--   * hugepage-backed RAM: needs hugetlbfs at /dev/hugepages with free pages;
--   * SGX EPC: needs /dev/sgx_vepc and KVM;
--   * TDX/SEV/SEV-SNP: need the hardware and KVM; QEMU 7.2 has neither
--     tdx-guest nor sev-snp-guest;
--   * incoming migration from a command: QEMU runs it through /bin/sh and
--     reads a migration stream from it; a command that waits would outlive
--     QEMU, one that ends makes QEMU fail.
local H = require "support.h"
local core = require "vmlua.core"
local cases = require "support.qemu_cases"

local QEMU = "qemu-system-x86_64"
local VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
local STORAGE_DAEMON = "qemu-storage-daemon"
local TIMEOUT = 60

-- Cases that run for real when the host has what they need.
local host_needs = {
  ["q35: vsock"] = "/dev/vhost-vsock",
  ["microvm: vsock over mmio"] = "/dev/vhost-vsock",
}

-- core.fs.exists, or (while vmlua.core lacks it) whether the path opens.
local function exists(path)
  if core.fs and core.fs.exists then return core.fs.exists(path) end
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A string of `len` zero bytes with `patches` ({ offset, bytes }) applied.
local function image(len, patches)
  table.sort(patches, function(a, b) return a[1] < b[1] end)
  local out, pos = {}, 0
  for _, p in ipairs(patches) do
    out[#out + 1] = string.rep("\0", p[1] - pos)
    out[#out + 1] = p[2]
    pos = p[1] + #p[2]
  end
  out[#out + 1] = string.rep("\0", len - pos)
  return table.concat(out)
end

-- Just enough of a bzImage for QEMU's x86 loader (setup header, boot
-- protocol 2.15); the guest never runs (-S).
local function fake_bzimage()
  return image(1024 + 4096, {
    { 0x1f1, "\1" },                             -- setup_sects
    { 0x1fe, string.pack("<I2", 0xAA55) },       -- boot_flag
    { 0x202, "HdrS" },
    { 0x206, string.pack("<I2", 0x020f) },       -- protocol version
    { 0x211, "\1" },                             -- loadflags: LOADED_HIGH
    { 0x22c, string.pack("<I4", 0x7fffffff) },   -- initrd_addr_max
    { 0x238, string.pack("<I4", 2048) },         -- cmdline_size
  })
end

-- An ELF64 with one 16-byte PT_LOAD at 3 MiB, for the generic loader.
local function small_elf()
  local eh = string.pack("<c16I2I2I4I8I8I8I4I2I2I2I2I2I2", "\127ELF\2\1\1" .. string.rep("\0", 9),
                         2, 62, 1, 0x300000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
  local ph = string.pack("<I4I4I8I8I8I8I8I8", 1, 5, 120, 0x300000, 0x300000, 16, 16, 0x1000)
  return eh .. ph .. string.rep("\144", 16)
end

local function prepare(D)
  H.write(D .. "/vmlinuz", fake_bzimage())
  H.write(D .. "/initrd", string.rep("\0", 1024))
  H.write(D .. "/disk.img", string.rep("\0", 1 << 20))
  H.write(D .. "/nvdimm.img", string.rep("\0", 16 << 20))
  H.write(D .. "/blob.bin", "vmlua\n")
  H.write(D .. "/loader.elf", small_elf())
  H.write(D .. "/flash0.img", string.rep("\0", 64 << 10))
  H.write(D .. "/flash1.img", string.rep("\0", 64 << 10))
  assert(core.fs.mkdir(D .. "/share"))
  assert(core.fs.mkdir(D .. "/mem"))
end

-- What a process wrote on its stderr pipe (until eof, or 2 s of silence).
local function stderr_of(p)
  local chunks = {}
  while p.stderr do
    local s = p.stderr:read(2)
    if not s then break end
    chunks[#chunks + 1] = s
  end
  return table.concat(chunks)
end

-- virtiofsd on D/share, ready when it says it waits for QEMU.
local function start_virtiofsd(D)
  local p = assert(core.spawn {
    argv = { VIRTIOFSD, "--socket-path=" .. D .. "/vfs.sock", "-o", "source=" .. D .. "/share", "-o", "cache=auto",
             "-o", "sandbox=chroot" },
    stdin = "null", stdout = "null", stderr = "pipe", die_with_parent = true,
  })
  local i, ev = core.wait({ { line = p.stderr, find = "Waiting for vhost-user socket connection" }, { exit = p } }, TIMEOUT)
  assert(i == 1, "virtiofsd did not get ready: " .. tostring(ev and ev.kind) .. " " .. stderr_of(p))
  return p
end

-- qemu-storage-daemon exporting D/disk.img as vhost-user-blk on D/vub.sock.
local function start_storage_daemon(D)
  local sock = D .. "/vub.sock"
  local p = assert(core.spawn {
    argv = { STORAGE_DAEMON, "--blockdev", "driver=file,node-name=disk,filename=" .. D .. "/disk.img",
             "--export", "type=vhost-user-blk,id=exp0,node-name=disk,addr.type=unix,addr.path=" .. sock .. ",writable=on" },
    stdin = "null", stdout = "null", stderr = "pipe", die_with_parent = true,
  })
  local i = core.wait({ { socket = sock }, { exit = p } }, TIMEOUT)
  assert(i == 1, "qemu-storage-daemon did not get ready: " .. stderr_of(p))
  return p
end

local starters = { virtiofsd = start_virtiofsd, vhost_user_blk = start_storage_daemon }

local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- Start QEMU paused with QMP on stdio, wait for the greeting, quit.
local function accept(argv, fds)
  local run = table.move(argv, 1, #argv, 1, {})
  if not has(run, "-nographic") then run[#run + 1] = "-display"; run[#run + 1] = "none" end
  for _, a in ipairs { "-S", "-qmp", "stdio" } do run[#run + 1] = a end
  local p = assert(core.spawn { argv = run, stdin = "pipe", stdout = "pipe", stderr = "pipe", fds = fds,
                                die_with_parent = true })
  local i, ev = core.wait({ { line = p.stdout, find = '"QMP"' }, { exit = p } }, TIMEOUT)
  if i ~= 1 then
    local err = stderr_of(p)
    p:close()
    error(string.format("QEMU refused the argv (%s): %s\n%s", ev and ev.kind or tostring(ev), err, table.concat(argv, " ")), 0)
  end
  assert(p.stdin:write('{"execute":"qmp_capabilities"}\n'))
  local j, reply = core.wait({ { line = p.stdout, find = '"return"' }, { exit = p } }, TIMEOUT)
  assert.are.equal(1, j, "no reply to qmp_capabilities")
  assert.is_truthy(reply.line)
  assert(p.stdin:write('{"execute":"quit"}\n'))
  local how, code = p:wait(TIMEOUT)
  local err = stderr_of(p)
  p:close()
  return how, code, err
end

describe("the real QEMU accepts vmlua.qemu's argvs", function()
  local tap_seq = 0

  after_each(function() H.cleanup_tmp() end)

  for _, c in ipairs(cases) do
    local needed = host_needs[c.name]
    local runnable = not c.skip or (needed and exists(needed))
    if runnable then
      it(c.name, function()
        assert(core.spawn and core.wait, "this vmlua.core lacks core.spawn/core.wait (docs/api/core.md)")
        local D = H.tmpdir()
        prepare(D)
        tap_seq = tap_seq + 1
        -- the sockets passed as fds are made only for the cases that use them
        local owned = {}
        local P = setmetatable({ D = D, tap = string.format("vt%dx%d", core.getpid() % 100000, tap_seq) }, {
          __index = function(t, k)
            if k == "listener" or k == "stream" then
              assert(core.socket, "this vmlua.core lacks core.socket (docs/api/core.md), needed to pass a socket as an fd")
            end
            if k == "listener" then
              t.listener = assert(core.socket.listen(D .. "/passed.sock"))
              owned[#owned + 1] = t.listener
            elseif k == "stream" then
              local a, b = assert(core.socket.pair())
              t.stream = a
              owned[#owned + 1] = a
              owned[#owned + 1] = b
            end
            return rawget(t, k)
          end,
        })
        local helpers = {}
        for _, n in ipairs(c.needs or {}) do helpers[#helpers + 1] = starters[n](D) end

        local cfg = cases.build(c, P)
        local argv = cfg:argv()
        assert.are.equal(cases.expand(c.expect, P), table.concat(argv, " ", 2))
        local ok, how, code, err = pcall(accept, argv, cfg:fds())
        for _, h in ipairs(helpers) do h:terminate { grace = 5 } end
        for _, s in ipairs(owned) do s:close() end
        if not ok then error(how, 0) end
        assert.are.same({ "exited", 0 }, { how, code }, err)

        -- nothing left behind: no process, no server socket QEMU made, no tap
        for _, h in ipairs(helpers) do assert.is_false(h:alive()) end
        for _, path in ipairs(cfg:socket_paths()) do
          if not path:find("/vfs.sock", 1, true) and not path:find("/vub.sock", 1, true) then
            assert.is_false(core.fs.exists(path), path .. " left behind")
          end
        end
        assert.is_false(core.fs.exists("/sys/class/net/" .. P.tap))
      end)
    else
      it(c.name .. " — excluded from the real run", function()
        assert.is_string(c.skip)
        assert.is_true(#c.skip > 20)
        if needed then assert.is_false(exists(needed), needed .. " exists: the case should run") end
        local P = { D = "/d", tap = "tap0", listener = io.stdin, stream = io.stdout }
        local argv = cases.build(c, P):argv()
        assert.are.equal(QEMU, argv[1])
        assert.are.equal(cases.expand(c.expect, P), table.concat(argv, " ", 2))
      end)
    end
  end
end)
