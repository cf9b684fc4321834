-- End to end, real QEMU (TCG) and the guest kit: a sandbox's network.
--   * user mode with a forward and an overlay disk (the issue's "done when"):
--     the host gets an answer from the guest's httpd through the forward,
--     the guest reaches the host through 10.0.2.2, the guest writes to its
--     overlay and the base image stays byte for byte the same;
--   * isolated = true: no way out of the guest, the forward still works;
--   * a tap: the guest pings its host address and the host reaches the
--     guest; the tap goes when the sandbox stops, also after kill -9 of the
--     supervisor (vmlua stop) and of everything (vmlua gc);
--   * refusals: a host port in use, a tap without CAP_NET_ADMIN or without
--     /dev/net/tun (exit 2 before anything starts). Nothing is left behind.
-- One guest is shared by the assertions of each describe.
local core = require "vmlua.core"
local H = require "support.h"
local E = require "support.e2e"
local N = require "support.hostnet"

local RECIPE = H.root .. "/tests/e2e/recipes/netdisk.lua"

local vm = E.vmlua

local function run_args(id, sets) return N.run_args(RECIPE, id, sets) end

local function serial(w, id) return E.read(w.run .. "/" .. id .. "/serial.log") end

-- A base image with base.txt in it, made in the world's dir.

-- SIGKILL a process a state records, and wait until it is gone.
local function kill9(p)
  local h = assert(core.proc.attach(p.pid, p.start_time))
  assert(h:signal("SIGKILL"))
  assert(h:wait(30), "still alive after SIGKILL")
  h:close()
end

local function tap_exists(name)
  return core.net.link(name) ~= nil
end

describe("user-mode network with a forward, and an overlay disk (one guest)", function()
  local w, img, base_bytes, fport, hport, httpd
  local ID = "unet"

  setup(function()
    w = E.world()
    img = N.base_image(w)
    base_bytes = assert(H.read(img))
    H.write(w.dir .. "/hello.txt", "hello from the host\n")
    hport = N.free_port()
    httpd = N.httpd(w.dir, hport)
    fport = N.free_port()
    local code, out, err = vm(w, run_args(ID, {
      "net=user", "forward=tcp:127.0.0.1:" .. fport .. "-:80", "httpd=80",
      "fetch=http://10.0.2.2:" .. hport .. "/hello.txt", "disk=" .. img, "overlay=1", "keep_overlay=1",
      "mount=vda" }))
    assert.are.equal(0, code, err)
    assert.are.equal(ID .. "\n", out)
  end)

  teardown(function()
    if httpd then httpd:terminate { grace = 5 } end
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("the host gets an answer served from inside the guest through the forward", function()
    local body, err = N.http_get("http://127.0.0.1:" .. fport .. "/")
    assert.truthy(body, err)
    assert.truthy(body:find("vmlua guest httpd, kernel ", 1, true), body)
  end)

  it("the guest reaches the host through user mode's gateway 10.0.2.2", function()
    local s = serial(w, ID)
    assert.truthy(s:find("fetch http://10.0.2.2:" .. hport .. "/hello.txt: ok: hello from the host", 1, true), s)
  end)

  it("ps, inspect and plan show the forward", function()
    local code, out = vm(w, { "ps" })
    assert.are.equal(0, code)
    assert.truthy(out:find("PORTS", 1, true), out)
    assert.truthy(out:find("127.0.0.1:" .. fport .. "->80/tcp", 1, true), out)
    local _, js = vm(w, { "inspect", ID })
    local st = core.json.decode(js)
    assert.are.equal("user", st.network.mode)
    assert.are.equal("tcp:127.0.0.1:" .. fport .. "-:80", st.network.forwards[1].rule)
    assert.are.equal(fport, st.network.forwards[1].host_port)
    local _, text = vm(w, { "plan", RECIPE, "--set", "net=user", "--set", "forward=tcp:127.0.0.1:" .. fport .. "-:80" })
    assert.truthy(text:find("network: user-mode (mac 02:", 1, true), text)
    assert.truthy(text:find("forwards 127.0.0.1:" .. fport .. "->80/tcp", 1, true), text)
  end)

  it("the guest writes to its overlay; the base stays byte for byte the same; the overlay is kept", function()
    local s = serial(w, ID)
    assert.truthy(s:find("disk vda: base.txt: the base image", 1, true), s)
    assert.truthy(s:find("disk vda: wrote written-by-guest.txt", 1, true), s)
    local st = E.state(w, ID)
    local overlay = st.disks[1].overlay
    assert.are.equal(w.run .. "/" .. ID .. "/disk1-overlay.qcow2", overlay)
    assert.is_true(st.disks[1].created)
    local code, out, err = vm(w, { "stop", ID })
    assert.are.equal(0, code, err)
    assert.truthy(out:find(ID .. " stopped", 1, true), out)
    assert.truthy(out:find(ID .. ": kept disks[1]'s overlay " .. overlay .. " (keep_overlay)", 1, true), out)
    assert.is_true(H.read(img) == base_bytes, "the base image changed")
    -- what the guest wrote is in the overlay
    N.to_raw(overlay, w.dir .. "/merged.raw")
    local written = N.ext4_cat(w.dir .. "/merged.raw", "written-by-guest.txt")
    assert.truthy(written and written:find("written by the vmlua guest", 1, true), written)
    assert.is_nil(N.ext4_cat(img, "written-by-guest.txt"))
  end)

  it("gc keeps a kept overlay until it is removed, then collects the sandbox", function()
    httpd:terminate { grace = 5 }
    local code, out, err = vm(w, { "gc" })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("skipping " .. ID .. ": it keeps disks[1]'s overlay", 1, true), err)
    assert.truthy(out:find("nothing to remove", 1, true), out)
    assert(core.fs.remove(E.state(w, ID).disks[1].overlay))
    assert.are.same({}, E.leftovers(w))
  end)
end)

describe("isolated = true, the guest's address from the kernel command line (one guest)", function()
  local w, fport, hport, httpd
  local ID = "iso"

  setup(function()
    w = E.world()
    H.write(w.dir .. "/hello.txt", "hello from the host\n")
    hport = N.free_port()
    httpd = N.httpd(w.dir, hport)
    fport = N.free_port()
    local code, _, err = vm(w, run_args(ID, {
      "net=user", "isolated=1", "kernel_ip=1", "forward=tcp:127.0.0.1:" .. fport .. "-:80", "httpd=80",
      "fetch=http://10.0.2.2:" .. hport .. "/hello.txt" }))
    assert.are.equal(0, code, err)
  end)

  teardown(function()
    if httpd then httpd:terminate { grace = 5 } end
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("blocks the way out of the guest", function()
    local s = serial(w, ID)
    assert.truthy(s:find("fetch http://10.0.2.2:" .. hport .. "/hello.txt: failed", 1, true), s)
  end)

  it("the guest took QEMU's address from ip=, without DHCP", function()
    local st = E.state(w, ID)
    assert.are.equal("ip=10.0.2.15::10.0.2.2:255.255.255.0:::off", st.network.kernel_ip)
    assert.is_nil(serial(w, ID):find("no DHCP lease", 1, true))
  end)

  it("keeps the forwards (to the address it took)", function()
    local body, err = N.http_get("http://127.0.0.1:" .. fport .. "/")
    assert.truthy(body and body:find("vmlua guest httpd", 1, true), err)
  end)

  it("stops cleanly", function()
    httpd:terminate { grace = 5 }
    local code, _, err = vm(w, { "stop", ID })
    assert.are.equal(0, code, err)
    assert.are.same({}, E.leftovers(w))
  end)
end)

describe("a tap (host-only network)", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("the guest pings its host address, the host reaches the guest; the tap goes at the stop", function()
    local code, _, err = vm(w, run_args("tap1", { "net=tap", "ping=gateway", "httpd=80" }))
    assert.are.equal(0, code, err)
    local st = E.state(w, "tap1")
    local tap = st.network.tap
    assert.are.equal("vmlua", tap.by)
    local link = assert(core.net.link(tap.name))
    assert.are.equal(tap.index, link.index)
    assert.are.equal("tun", link.kind)
    assert.is_true(link.up)
    local host = tap.host:match("^([%d.]+)/")
    assert.truthy(serial(w, "tap1"):find("ping " .. host .. ": ok", 1, true), serial(w, "tap1"))
    local body, gerr = N.http_get("http://" .. tap.guest .. "/")
    assert.truthy(body and body:find("vmlua guest httpd", 1, true), gerr)
    code, _, err = vm(w, { "stop", "tap1" })
    assert.are.equal(0, code, err)
    assert.is_false(tap_exists(tap.name))
    assert.is_true(E.state(w, "tap1").network.tap.removed)
    assert.are.same({}, E.leftovers(w))
  end)

  it("after kill -9 of the supervisor, vmlua stop removes the tap from the state", function()
    local code, _, err = vm(w, run_args("tap2", { "net=tap" }))
    assert.are.equal(0, code, err)
    local st = E.state(w, "tap2")
    kill9(st.supervisor)
    assert.is_true(tap_exists(st.network.tap.name))
    code, _, err = vm(w, { "stop", "tap2" })
    assert.are.equal(0, code, err)
    assert.is_false(tap_exists(st.network.tap.name))
    assert.are.same({}, E.leftovers(w))
  end)

  it("after kill -9 of everything, vmlua gc removes the tap and the overlay", function()
    local img = N.base_image(w)
    local code, _, err = vm(w, run_args("tap3", { "net=tap", "disk=" .. img, "overlay=1" }))
    assert.are.equal(0, code, err)
    local st = E.state(w, "tap3")
    assert.is_true(core.fs.exists(st.disks[1].overlay))
    kill9(st.supervisor)
    kill9(st.processes.hypervisor)
    assert.is_true(tap_exists(st.network.tap.name))
    local out
    code, out, err = vm(w, { "gc" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("removed tap3", 1, true), out)
    assert.truthy(err:find("tap3: network: tap " .. st.network.tap.name .. " removed", 1, true), err)
    assert.is_false(tap_exists(st.network.tap.name))
    assert.are.same({}, E.leftovers(w))
  end)
end)

describe("refusals", function()
  local w
  before_each(function() w = E.world() end)
  after_each(function()
    if w then E.kill_strays(w.dir) end
    H.cleanup_tmp()
  end)

  it("a forward's host port in use: exit 1, the forward named, nothing left", function()
    local port = N.free_port()
    local busy = N.httpd(w.dir, port)
    local code, _, err = vm(w, { "run", RECIPE, "--set", "id=busy", "--set", "net=user",
                                 "--set", "forward=tcp:127.0.0.1:" .. port .. "-:80" })
    busy:terminate { grace = 5 }
    assert.are.equal(1, code)
    assert.truthy(err:find('network.forward[1] "tcp:127.0.0.1:' .. port .. '-:80": the host cannot listen on'
                           .. " 127.0.0.1 port " .. port .. " (tcp): the port is in use", 1, true), err)
    assert.are.equal("failed", E.state(w, "busy").status)
    assert.are.same({}, E.leftovers(w))
  end)

  it("a tap without CAP_NET_ADMIN: exit 2 before anything starts", function()
    local code, _, err = E.vmlua(w, { "run", RECIPE, "--set", "id=nocap", "--set", "net=tap" }, {
      wrap = { "setpriv", "--bounding-set=-net_admin", "--" } })
    assert.are.equal(2, code, err)
    assert.truthy(err:find('network.mode: "tap" needs CAP_NET_ADMIN: vmlua creates the tap vl', 1, true), err)
    assert.are.same({}, E.run_dir_entries(w))
    assert.are.same({}, E.leftovers(w))
  end)

  it("a tap without /dev/net/tun: vmlua check says so (exit 2)", function()
    -- a mount namespace of its own, with an empty /dev/net. Its mounts are
    -- made private there before the tmpfs goes on (so nothing reaches the
    -- host), /dev at least: in a chroot whose / is no mount point (as
    -- ../shared/tools/fresh-debian makes) / cannot be.
    local code, _, err = E.vmlua(w, { "check", RECIPE, "--set", "net=tap" }, {
      wrap = { "unshare", "--mount", "--propagation", "unchanged", "--", "sh", "-c",
               'mount --make-rprivate / 2>/dev/null; mount --make-rprivate /dev && '
               .. 'mount -t tmpfs none /dev/net && exec "$@"', "sh" } })
    assert.are.equal(2, code, err)
    assert.truthy(err:find('network.mode: "tap" needs /dev/net/tun, which this host lacks (load the tun module:', 1,
                           true), err)
    assert.are.same({}, E.leftovers(w))
  end)
end)
