-- A sandbox's network (vmlua.sandbox.network, docs/networks-and-disks.md):
-- the forward and address syntax, the recipe field and what each driver
-- can do, the plan (the command line through the driver, stable names),
-- the checks of `vmlua check`, the state, and the release that removes only
-- a tap the state proves is the sandbox's. Creating a real tap is in
-- tests/c/test_net.c and the end-to-end tests.
local core = require "vmlua.core"
local sandbox = require "vmlua.sandbox"
local plan_mod = require "vmlua.sandbox.plan"
local check = require "vmlua.sandbox.check"
local network = require "vmlua.sandbox.network"
local hostfwd = require "vmlua.hostfwd"
local ipv4 = require "vmlua.ipv4"
local qemu = require "vmlua.qemu"
local clh = require "vmlua.clh"

local function q(extra)
  local spec = { id = "n1", hypervisor = qemu.config { machine = { type = "q35", accel = "tcg" },
                                                       memory = { size = "256M" },
                                                       kernel = { path = "/k/vmlinux", params = "console=ttyS0" } } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end

local function c(extra)
  local spec = { id = "c1", hypervisor = clh.config { kernel = "/k/vmlinux", cmdline = "console=ttyS0",
                                                      memory = { size = "256M" } } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end

local function err_of(spec)
  local ok, err = pcall(sandbox.new, spec, {}, "r.lua:3")
  assert.is_false(ok)
  return err
end

local function plan_of(spec, run_dir)
  local sb = sandbox.new(spec, {})
  return plan_mod.plan(sb, { run_dir = run_dir or "/run/t" }), sb
end

local function argv_text(plan)
  return table.concat(plan.hypervisor.argv, " ")
end

describe("forward rules (vmlua.hostfwd)", function()
  it("parses QEMU's hostfwd syntax", function()
    assert.are.same({ rule = "tcp:127.0.0.1:2222-:22", proto = "tcp", host_addr = "127.0.0.1", host_port = 2222,
                      guest_addr = "", guest_port = 22 }, hostfwd.parse("tcp:127.0.0.1:2222-:22"))
    local f = assert(hostfwd.parse("udp::5353-10.0.2.15:53"))
    assert.are.same({ "udp", "", 5353, "10.0.2.15", 53 }, { f.proto, f.host_addr, f.host_port, f.guest_addr,
                                                            f.guest_port })
    assert.are.equal("tcp", hostfwd.parse(":127.0.0.1:80-:80").proto)
  end)

  it("says what is wrong with a bad rule", function()
    local function e(rule) return select(2, hostfwd.parse(rule)) end
    assert.truthy(e("2222:22"):find("is not a forward: write [tcp|udp]:", 1, true))
    assert.are.equal('"sctp::1-:2": the protocol must be tcp or udp, got "sctp"', e("sctp::1-:2"))
    assert.are.equal('"tcp:1.2.3:1-:2": "1.2.3" is not an IPv4 address', e("tcp:1.2.3:1-:2"))
    assert.are.equal('"tcp::70000-:22": ports must be 1-65535, got 70000 and 22', e("tcp::70000-:22"))
    assert.are.equal('"tcp::0-:22": ports must be 1-65535, got 0 and 22', e("tcp::0-:22"))
    assert.truthy(e(42):find("expected a string", 1, true))
  end)

  it("describes a forward as ps shows it, and tells clashes", function()
    assert.are.equal("127.0.0.1:2222->22/tcp", hostfwd.describe(hostfwd.parse("tcp:127.0.0.1:2222-:22")))
    assert.are.equal("0.0.0.0:5353->10.0.2.15:53/udp", hostfwd.describe(hostfwd.parse("udp::5353-10.0.2.15:53")))
    local a, b = hostfwd.parse("tcp:127.0.0.1:80-:80"), hostfwd.parse("tcp::80-:81")
    assert.is_true(hostfwd.clash(a, b))
    assert.is_false(hostfwd.clash(a, hostfwd.parse("udp::80-:80")))
    assert.is_false(hostfwd.clash(a, hostfwd.parse("tcp:127.0.0.2:80-:80")))
  end)
end)

describe("IPv4 arithmetic (vmlua.ipv4)", function()
  it("parses and formats addresses; refuses leading zeros and big parts", function()
    assert.are.equal(0x0a000001, ipv4.parse("10.0.0.1"))
    assert.are.equal("10.213.0.1", ipv4.format(ipv4.parse("10.213.0.1")))
    assert.is_nil(ipv4.parse("10.0.0.010"))
    assert.is_nil(ipv4.parse("256.0.0.1"))
    assert.is_nil(ipv4.parse("10.0.0"))
    assert.are.same({ 0x0a000001, 24 }, { ipv4.parse_cidr("10.0.0.1/24") })
    assert.is_nil(ipv4.parse_cidr("10.0.0.1/33"))
    assert.are.equal("255.255.255.252", ipv4.format(ipv4.mask(30)))
    assert.is_true(ipv4.overlaps(ipv4.parse("10.0.0.5"), 30, ipv4.parse("10.0.0.1"), 24))
    assert.is_false(ipv4.overlaps(ipv4.parse("10.0.1.5"), 30, ipv4.parse("10.0.0.1"), 24))
  end)
end)

describe("stable names", function()
  it("a locally administered unicast MAC per sandbox id", function()
    local m = network.mac_for("demo")
    assert.are.equal(m, network.mac_for("demo"))
    assert.are_not.equal(m, network.mac_for("demo2"))
    assert.truthy(m:match("^02:%x%x:%x%x:%x%x:%x%x:%x%x$"), m)
  end)

  it("a tap name per sandbox dir, fit for an interface", function()
    local t = network.tap_for("/run/vmlua/demo")
    assert.are.equal(t, network.tap_for("/run/vmlua/demo"))
    assert.are_not.equal(t, network.tap_for("/tmp/x/demo"))
    assert.truthy(t:match("^vl%x%x%x%x%x%x%x%x$") and #t <= 15, t)
  end)
end)

describe("the network field", function()
  it("none by default; user and tap on QEMU", function()
    assert.are.equal("none", sandbox.new(q(), {}).network.mode)
    local sb = sandbox.new(q { network = { mode = "user", forward = { "tcp:127.0.0.1:2222-:22" }, isolated = true } },
                           {})
    assert.are.equal("user", sb.network.mode)
    assert.are.equal(2222, sb.network.forwards[1].host_port)
    assert.are.equal("tap", sandbox.new(q { network = { mode = "tap" } }, {}).network.mode)
  end)

  it("cloud-hypervisor refuses user mode, naming the mode, the hypervisor and why", function()
    assert.are.equal('r.lua:3: network.mode: "user" networking is not available on cloud-hypervisor: it has no'
                     .. ' user-mode network stack (QEMU\'s slirp); use mode = "tap"',
                     err_of(c { network = { mode = "user" } }))
  end)

  it("fields that belong to another mode are refused", function()
    assert.are.equal('r.lua:3: network.forward: only with mode = "user" (the mode is "tap")',
                     err_of(q { network = { mode = "tap", forward = { "tcp::80-:80" } } }))
    assert.are.equal('r.lua:3: network.tap: only with mode = "tap" (the mode is "user")',
                     err_of(q { network = { mode = "user", tap = "vl0" } }))
    assert.are.equal('r.lua:3: network.isolated: only with mode = "user" (the mode is "none")',
                     err_of(q { network = { isolated = true } }))
    assert.are.equal('r.lua:3: network.mac: only with a network (mode "user" or "tap")',
                     err_of(q { network = { mac = "02:00:00:00:00:01" } }))
    assert.are.equal('r.lua:3: network.kernel_ip: only with a network (mode "user" or "tap")',
                     err_of(q { network = { kernel_ip = true } }))
  end)

  it("bad values name the field", function()
    assert.truthy(err_of(q { network = { mode = "user", forward = { "22" } } })
      :find('^r.lua:3: network.forward%[1%]: "22" is not a forward'))
    assert.are.equal("r.lua:3: network.forward[2]: host port 80/tcp is already forwarded by forward[1]",
                     err_of(q { network = { mode = "user", forward = { "tcp::80-:80", "tcp:127.0.0.1:80-:81" } } }))
    assert.are.equal('r.lua:3: network.mac: must be a unicast address, got "03:00:00:00:00:01"',
                     err_of(q { network = { mode = "user", mac = "03:00:00:00:00:01" } }))
    assert.are.equal('r.lua:3: network.mode: must be one of none, user, tap; got "bridge"',
                     err_of(q { network = { mode = "bridge" } }))
    assert.are.equal("r.lua:3: network.tap: must be at most 15 bytes (an interface name), got 16",
                     err_of(q { network = { mode = "tap", tap = "abcdefghijklmnop" } }))
    assert.are.equal("r.lua:3: network.guest: 10.9.0.2 is not in the host's subnet 10.8.0.1/24",
                     err_of(q { network = { mode = "tap", address = "10.8.0.1/24", guest = "10.9.0.2" } }))
    assert.are.equal("r.lua:3: network.address: 10.8.0.0/24 is the subnet's network or broadcast address",
                     err_of(q { network = { mode = "tap", address = "10.8.0.0/24" } }))
    assert.are.equal("r.lua:3: network.guest: only with address (the host's side of the same subnet)",
                     err_of(q { network = { mode = "tap", guest = "10.9.0.2" } }))
    assert.are.equal("r.lua:3: network.fd: a tap given as open files is set up by whoever opened it: drop tap",
                     err_of(q { network = { mode = "tap", tap = "vl0", fd = 0 } }))
  end)
end)

describe("the plan", function()
  it("user mode: -netdev user with the forwards and restrict=on on a virtio-net with the sandbox's MAC", function()
    local plan = plan_of(q { network = { mode = "user", forward = { "tcp:127.0.0.1:2222-:22" }, isolated = true } })
    assert.are.same({}, plan.errors)
    local argv = argv_text(plan)
    assert.truthy(argv:find("-netdev user,id=vmlua-net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22", 1, true), argv)
    assert.truthy(argv:find("virtio-net-pci,netdev=vmlua-net0,mac=" .. network.mac_for("n1"), 1, true), argv)
    local rec = network.record(plan)
    assert.are.equal("127.0.0.1:2222->22/tcp", rec.forwards[1].text)
    assert.are.equal("127.0.0.1:2222->22/tcp", network.ports({ network = rec }))
    assert.are.equal("", network.ports({}))
  end)

  it("user mode: the guest asks DHCP, or with kernel_ip gets QEMU's address on its command line", function()
    assert.is_nil(argv_text(plan_of(q { network = { mode = "user" } })):find("ip=", 1, true))
    local plan = plan_of(q { network = { mode = "user", kernel_ip = true } })
    assert.truthy(argv_text(plan):find("ip=10.0.2.15::10.0.2.2:255.255.255.0:::off", 1, true), argv_text(plan))
    assert.are.equal("ip=10.0.2.15::10.0.2.2:255.255.255.0:::off", network.record(plan).kernel_ip)
  end)

  it("user mode on microvm: virtio-net-device", function()
    local spec = q { network = { mode = "user" } }
    spec.hypervisor = qemu.config { machine = { type = "microvm" }, memory = { size = "256M" },
                                    kernel = { path = "/k/vmlinux" } }
    assert.truthy(argv_text(plan_of(spec)):find("driver=virtio-net-device,netdev=vmlua-net0", 1, true))
  end)

  it("tap on QEMU: vmlua makes the tap; QEMU opens it by name, no scripts; the guest gets ip=", function()
    local plan = plan_of(q { network = { mode = "tap" } })
    assert.are.same({}, plan.errors)
    local n = plan.network
    assert.are.equal("vmlua", n.tap_by)
    assert.are.equal(network.tap_for("/run/t/n1"), n.tap)
    assert.are.equal(30, n.prefix)
    assert.truthy(n.host:match("^10%.213%.") and n.guest:match("^10%.213%."), n.host)
    assert.are.equal(ipv4.parse(n.host) + 1, ipv4.parse(n.guest))
    local argv = argv_text(plan)
    assert.truthy(argv:find("-netdev tap,id=vmlua-net0,ifname=" .. n.tap .. ",downscript=no,script=no", 1, true), argv)
    assert.truthy(argv:find("ip=" .. n.guest .. "::" .. n.host .. ":255.255.255.252:::off", 1, true), argv)
    local rec = network.record(plan)
    assert.are.same({ name = n.tap, by = "vmlua", host = n.host .. "/30", guest = n.guest }, rec.tap)
  end)

  it("tap with the recipe's addresses, and without the kernel parameter", function()
    local plan = plan_of(q { network = { mode = "tap", tap = "vlmine", address = "10.77.0.1/24", guest = "10.77.0.9",
                                         kernel_ip = false } })
    assert.are.same({ "vlmine", "10.77.0.1", 24, "10.77.0.9" },
                    { plan.network.tap, plan.network.host, plan.network.prefix, plan.network.guest })
    assert.is_nil(argv_text(plan):find("ip=", 1, true))
    local guessed = plan_of(q { network = { mode = "tap", address = "10.77.0.1/24" } }).network
    assert.are.equal("10.77.0.2", guessed.guest)
  end)

  it("kernel_ip = true without a kernel to pass it to is a problem; by default it is left out", function()
    local spec = q { network = { mode = "tap", kernel_ip = true } }
    spec.hypervisor = qemu.config { memory = { size = "256M" } }
    assert.are.same({ "network.kernel_ip: set_kernel_param: no kernel to pass parameters to (kernel.path is not set)" },
                    plan_of(spec).errors)
    spec.network.kernel_ip = nil
    assert.are.same({}, plan_of(spec).errors)
  end)

  it("tap on cloud-hypervisor: it creates the tap from --net tap=,ip=,mask=,mac=", function()
    local spec = c { network = { mode = "tap" }, flow = "cli" }
    local plan = plan_of(spec)
    assert.are.same({}, plan.errors)
    local n = plan.network
    assert.are.equal("hypervisor", n.tap_by)
    local argv = argv_text(plan)
    assert.truthy(argv:find(string.format("--net tap=%s,ip=%s,mask=255.255.255.252,mac=%s", n.tap, n.host,
                                          network.mac_for("c1")), 1, true), argv)
    assert.truthy(argv:find("ip=" .. n.guest .. "::" .. n.host, 1, true), argv)
  end)

  it("a tap given as open files (Kata's way) goes through the driver: fds for QEMU, vm.add-net for clh", function()
    local f = assert(io.open("/dev/null", "r"))
    local plan = plan_of(q { network = { mode = "tap", fd = f } })
    assert.are.equal("caller", plan.network.tap_by)
    assert.truthy(argv_text(plan):find("-netdev tap,id=vmlua-net0,fds=3", 1, true), argv_text(plan))
    assert.are.equal(f, plan.hypervisor.fds[1])
    local cplan = plan_of(c { network = { mode = "tap", fd = { f } } })
    assert.are.equal(1, #cplan.net_hotplug)
    assert.are.equal(f, cplan.net_hotplug[1].fds[1])
    assert.is_nil(network.record(cplan).tap.name)
    f:close()
  end)
end)

describe("vmlua check on a tap", function()
  local saved_admin, saved_tun
  before_each(function() saved_admin, saved_tun = core.net.can_admin, network.TUN end)
  after_each(function() core.net.can_admin, network.TUN = saved_admin, saved_tun end)

  local function problems(spec)
    local plan, sb = plan_of(spec)
    return table.concat(check.problems(sb, plan), "\n")
  end

  it("without CAP_NET_ADMIN or without /dev/net/tun the check says so", function()
    core.net.can_admin = function() return false end
    network.TUN = "/nonexistent/tun"
    local p = problems(q { network = { mode = "tap" } })
    assert.truthy(p:find('network.mode: "tap" needs CAP_NET_ADMIN: vmlua creates the tap vl', 1, true), p)
    assert.truthy(p:find("(run vmlua as root)", 1, true), p)
    assert.truthy(p:find('network.mode: "tap" needs /nonexistent/tun, which this host lacks (load the tun module:'
                         .. " modprobe tun)", 1, true), p)
    p = problems(c { network = { mode = "tap" } })
    assert.truthy(p:find('"tap" needs CAP_NET_ADMIN: cloud-hypervisor creates the tap', 1, true), p)
  end)

  it("an interface of the tap's name and a subnet the host has are problems", function()
    local p = problems(q { network = { mode = "tap", tap = "lo", address = "127.0.0.2/24" } })
    assert.truthy(p:find("network.tap: an interface named lo exists already", 1, true), p)
    assert.truthy(p:find("network.address: 127.0.0.2/24 overlaps 127.0.0.1/8 of the host's interface lo", 1, true), p)
  end)

  it("no problem for user mode or a tap given as a file", function()
    core.net.can_admin = function() return false end
    assert.is_nil(problems(q { network = { mode = "user" } }):find("network", 1, true))
    assert.is_nil(problems(q { network = { mode = "tap", fd = 0 } }):find("network", 1, true))
  end)
end)

describe("releasing a tap from the state", function()
  local said
  local function say(fmt, ...) said[#said + 1] = string.format(fmt, ...) end
  before_each(function() said = {} end)

  it("leaves alone an interface that is not the recorded tap", function()
    local st = { network = { tap = { name = "vlgone0", by = "vmlua", index = 1 } } }
    network.release(st, say)
    assert.is_true(core.net.link(1) ~= nil)
    assert.truthy(said[1]:find("interface 1 is now lo (no kind), not the sandbox's tap vlgone0: left alone", 1, true),
                  said[1])
  end)

  it("a tap that is gone counts as removed; taps vmlua did not create are not its to remove", function()
    local st = { network = { tap = { name = "vlgone0", by = "vmlua", index = 2147483000 } } }
    network.release(st, say)
    assert.is_true(st.network.tap.removed)
    local other = { network = { tap = { name = "lo", by = "hypervisor", index = 1 } } }
    network.release(other, say)
    assert.is_nil(other.network.tap.removed)
    assert.are.equal(0, #said)
  end)
end)

describe("a start that failed because of a forward", function()
  it("is explained naming the forward", function()
    local plan = plan_of(q { network = { mode = "user", forward = { "udp::5353-:53", "tcp:127.0.0.1:2222-:22" } } })
    local findings = plan.driver.start_failures(
      "qemu-system-x86_64: -netdev user,id=vmlua-net0,hostfwd=...: Could not set up host forwarding rule"
      .. " 'tcp:127.0.0.1:2222-:22'\n")
    assert.are.same({ { kind = "forward", rule = "tcp:127.0.0.1:2222-:22" } }, findings)
    assert.are.equal('network.forward[2] "tcp:127.0.0.1:2222-:22": the host cannot listen on 127.0.0.1 port 2222'
                     .. " (tcp): the port is in use, or the address is not one of the host's; QEMU could not set up"
                     .. " the forward", network.explain(plan, findings[1]))
    assert.is_nil(network.explain(plan, { kind = "forward", rule = "tcp::1-:1" }))
  end)
end)
