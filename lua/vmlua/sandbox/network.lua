--- A sandbox's network: `network = { mode = "none" | "user" | "tap", ... }`
-- in a recipe. This module holds the field's schema and normal form, wires
-- the network into the hypervisor config through the driver (plan), checks
-- what `vmlua check` can check (CAP_NET_ADMIN, /dev/net/tun, a free tap
-- name and subnet), creates the tap before the start (provision), removes
-- it when the sandbox ends (release: also from state.json, for `vmlua stop`
-- and `gc` after a supervisor was killed), and rewords a start failure a
-- forward explains. The user's guide is docs/networks-and-disks.md.
--
-- Names and addresses are stable: the MAC comes from a hash of the sandbox
-- id, the tap's name and subnet from a hash of its dir (run dir + id), so
-- two run dirs with the same id do not clash.
local S = require "vmlua.schema"
local core = require "vmlua.core"
local ipv4 = require "vmlua.ipv4"
local hostfwd = require "vmlua.hostfwd"
local openfile = require "vmlua.openfile"

local M = {}

M.MODES = { "none", "user", "tap" }
M.TUN = "/dev/net/tun"
--- Tap subnets are /30s (the host .1, the guest .2) from 10.213.0.0/16.
M.POOL = assert(ipv4.parse("10.213.0.0"))
M.SLOTS, M.SLOT_PREFIX = 16384, 30

-- ------------------------------------------------------------ names

-- FNV-1a, 64 bits (Lua integers wrap).
local function hash(s)
  local h = 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
  return h
end

--- The MAC address of sandbox `id`'s NIC: locally administered, unicast.
function M.mac_for(id)
  local h = hash(id)
  return string.format("02:%02x:%02x:%02x:%02x:%02x", (h >> 32) & 255, (h >> 24) & 255, (h >> 16) & 255,
                       (h >> 8) & 255, h & 255)
end

--- The name of the tap of the sandbox in `dir`: "vl" and 8 hex digits.
function M.tap_for(dir)
  return string.format("vl%08x", (hash(dir) >> 16) & 0xffffffff)
end

-- The first free /30 of the pool from the dir's slot on: the host's and
-- the guest's address (integers). `taken` is the host's IPv4 addresses.
local function free_slot(dir, taken)
  local start = hash(dir) % M.SLOTS
  for i = 0, 63 do
    local net = M.POOL + ((start + i) % M.SLOTS) * 4
    local clash = false
    for _, a in ipairs(taken) do
      if ipv4.overlaps(net, M.SLOT_PREFIX, a.address, a.prefix) then clash = true end
    end
    if not clash then return net + 1, net + 2 end
  end
  local net = M.POOL + start * 4
  return net + 1, net + 2
end

-- The host's IPv4 addresses as { address = integer, prefix =, index = }.
local function host_addresses()
  local out = {}
  for _, a in ipairs(core.net.addresses() or {}) do
    local n = a.family == "inet" and ipv4.parse(a.address)
    if n then out[#out + 1] = { address = n, prefix = a.prefix, index = a.index, text = a.address } end
  end
  return out
end

-- ------------------------------------------------------------ the schema

local MAC = S.string { pattern = "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$",
                       pattern_help = "must be a MAC address such as \"02:00:00:00:00:01\"",
                       check = function(v, path)
  if tonumber(v:sub(1, 2), 16) & 1 == 1 then return S.fail(path, "must be a unicast address, got %s", S.show(v)) end
  return true
end }

local IFNAME = S.string { pattern = "^[%w_.%-]+$", pattern_help = "must be an interface name (letters, digits, _ . -)",
                          check = function(v, path)
  if #v > 15 then return S.fail(path, "must be at most 15 bytes (an interface name), got %d", #v) end
  return true
end }

local CIDR = S.string { check = function(v, path)
  local a, prefix = ipv4.parse_cidr(v)
  if not a then return S.fail(path, "expected an IPv4 address with a prefix length such as \"10.0.3.1/24\", got %s",
                              S.show(v)) end
  if prefix < 8 or prefix > 30 then return S.fail(path, "the prefix length must be 8-30, got %d", prefix) end
  return true
end }

local ADDRESS = S.string { check = function(v, path)
  if not ipv4.parse(v) then return S.fail(path, "expected an IPv4 address such as \"10.0.3.2\", got %s", S.show(v)) end
  return true
end }

local FDS = S.either({ openfile.entry, S.array(openfile.entry, { min = 1 }) },
                     { describe = "an open tap file, a file descriptor number or a list of them" })

local ONLY = {
  forward = "user", isolated = "user", tap = "tap", address = "tap", guest = "tap", fd = "tap",
}

local function check_forwards(list, path)
  local parsed = {}
  for i, rule in ipairs(list or {}) do
    local f = assert(hostfwd.parse(rule))
    for j, g in ipairs(parsed) do
      if hostfwd.clash(f, g) then
        return S.fail(S.join(S.join(path, "forward"), i), "host port %d/%s is already forwarded by forward[%d]",
                      f.host_port, f.proto, j)
      end
    end
    parsed[i] = f
  end
  return true
end

local function check_addresses(v, path)
  if v.fd ~= nil and (v.tap ~= nil or v.address ~= nil or v.guest ~= nil) then
    return S.fail(S.join(path, "fd"), "a tap given as open files is set up by whoever opened it: drop %s",
                  v.tap ~= nil and "tap" or (v.address ~= nil and "address" or "guest"))
  end
  if v.guest ~= nil and v.address == nil then
    return S.fail(S.join(path, "guest"), "only with address (the host's side of the same subnet)")
  end
  if v.address == nil then return true end
  local host, prefix = ipv4.parse_cidr(v.address)
  local mask = ipv4.mask(prefix)
  local hostbits, all = host & ~mask & 0xffffffff, ~mask & 0xffffffff
  if hostbits == 0 or hostbits == all then
    return S.fail(S.join(path, "address"), "%s is the subnet's network or broadcast address", v.address)
  end
  if v.guest ~= nil then
    local g = ipv4.parse(v.guest)
    if g == host then return S.fail(S.join(path, "guest"), "must differ from the host's address %s", v.address) end
    if (g & mask) ~= (host & mask) then
      return S.fail(S.join(path, "guest"), "%s is not in the host's subnet %s", v.guest, v.address)
    end
  end
  return true
end

--- The schema of `network` for sandboxes of `driver`: a mode the driver
-- cannot do is refused here, naming the mode, the hypervisor and why.
function M.schema(driver)
  return S.record({
    mode = S.string { enum = M.MODES },
    forward = S.array(hostfwd.schema),
    isolated = S.boolean {},
    mac = MAC,
    tap = IFNAME,
    address = CIDR,
    guest = ADDRESS,
    kernel_ip = S.boolean {},
    fd = FDS,
  }, { check = function(v, path)
    local mode = v.mode or "none"
    for _, k in ipairs { "forward", "isolated", "tap", "address", "guest", "fd" } do
      if v[k] ~= nil and ONLY[k] ~= mode then
        return S.fail(S.join(path, k), "only with mode = %q (the mode is %q)", ONLY[k], mode)
      end
    end
    if mode == "none" then
      for _, k in ipairs { "mac", "kernel_ip" } do
        if v[k] ~= nil then return S.fail(S.join(path, k), "only with a network (mode \"user\" or \"tap\")") end
      end
      return true
    end
    local how = (driver.network_modes or {})[mode]
    if how ~= true then
      return S.fail(S.join(path, "mode"), "%q networking is not available on %s: %s", mode, driver.title,
                    type(how) == "string" and how or "its driver has no such mode")
    end
    local ok, err = check_forwards(v.forward, path)
    if ok then ok, err = check_addresses(v, path) end
    return ok, err
  end })
end

-- --------------------------------------------------------- normalising

--- The recipe's `network` (checked) in normal form.
function M.normalize(v)
  if v == nil then return { mode = "none" } end
  local n = { mode = v.mode or "none", mac = v.mac, isolated = v.isolated, tap = v.tap, address = v.address,
              guest = v.guest, kernel_ip = v.kernel_ip, rules = {}, forwards = {} }
  for i, rule in ipairs(v.forward or {}) do
    n.rules[i] = rule
    n.forwards[i] = assert(hostfwd.parse(rule))
  end
  if v.fd ~= nil then
    n.fds = (type(v.fd) == "table" and not openfile.is_file(v.fd)) and v.fd or { v.fd }
  end
  return n
end

-- ------------------------------------------------------------ the plan

-- The tap's host and guest addresses: the recipe's, or a free /30 of the pool.
local function tap_addresses(net, plan)
  if net.address then
    local host, prefix = ipv4.parse_cidr(net.address)
    local mask = ipv4.mask(prefix)
    local guest = net.guest and ipv4.parse(net.guest) or (host & mask) + ((host & ~mask) == 1 and 2 or 1)
    return host, prefix, guest
  end
  local host, guest = free_slot(plan.dir, host_addresses())
  return host, M.SLOT_PREFIX, guest
end

--- Wire the sandbox's network into plan.config through the driver and
-- describe it in plan.network: { mode, mac, forwards, isolated, tap, host,
-- prefix, netmask, guest, tap_by = "vmlua" | "hypervisor" | "caller",
-- kernel_ip }.
function M.wire(sb, plan)
  local net = sb.network
  if net.mode == "none" then
    plan.network = { mode = "none" }
    return
  end
  local n = { mode = net.mode, mac = net.mac or M.mac_for(plan.id), isolated = net.isolated, rules = net.rules,
              forwards = net.forwards, fds = net.fds }
  if net.mode == "user" then
    -- the addresses of the driver's user-mode network (QEMU: 10.0.2.15 and
    -- the host 10.0.2.2 on a /24), for kernel_ip = true
    local u = plan.driver.user_network or {}
    n.guest, n.host, n.prefix = u.guest, u.host, u.prefix
    n.netmask = u.prefix and ipv4.format(ipv4.mask(u.prefix))
  elseif net.mode == "tap" and net.fds then
    n.tap_by = "caller"
  elseif net.mode == "tap" then
    n.tap = net.tap or M.tap_for(plan.dir)
    local host, prefix, guest = tap_addresses(net, plan)
    n.host, n.prefix, n.guest = ipv4.format(host), prefix, ipv4.format(guest)
    n.netmask = ipv4.format(ipv4.mask(prefix))
    n.tap_by = plan.driver.creates_tap and "hypervisor" or "vmlua"
  end
  plan.network = n
  local add = plan.driver.add_network or function()
    return nil, string.format("%s's driver cannot wire a network (it has no add_network)", plan.driver.title)
  end
  local ok, err = add(plan.config, n)
  if not ok then plan.errors[#plan.errors + 1] = "network: " .. tostring(err) end
  -- tap: on by default; user mode: on request (the guest asks DHCP otherwise)
  if n.guest and (net.kernel_ip == true or (net.mode == "tap" and net.kernel_ip ~= false)) then
    -- the kernel's ip=<client>::<gateway>:<netmask>::<device>:off; the
    -- guest kit's /init reads it too
    local value = string.format("%s::%s:%s:::off", n.guest, n.host, n.netmask)
    local set, serr = plan.config:set_kernel_param("ip", value)
    if set then
      n.kernel_ip = "ip=" .. value
    elseif net.kernel_ip == true then
      plan.errors[#plan.errors + 1] = "network.kernel_ip: " .. tostring(serr)
    end
  end
end

--- What state.json records of the network (plain data: no open files).
function M.record(plan)
  local n = plan.network
  if not n or n.mode == "none" then return nil end
  local forwards = {}
  for i, f in ipairs(n.forwards or {}) do
    forwards[i] = { rule = f.rule, proto = f.proto, host_addr = f.host_addr, host_port = f.host_port,
                    guest_addr = f.guest_addr, guest_port = f.guest_port, text = hostfwd.describe(f) }
  end
  local r = { mode = n.mode, mac = n.mac, isolated = n.isolated, forwards = #forwards > 0 and forwards or nil,
              kernel_ip = n.kernel_ip }
  if n.tap_by then
    r.tap = { name = n.tap, by = n.tap_by, host = n.host and (n.host .. "/" .. n.prefix), guest = n.guest }
  end
  return r
end

--- The forwards of a state (for `vmlua ps`): "127.0.0.1:2222->22/tcp, ...".
function M.ports(st)
  local out = {}
  local n = type(st.network) == "table" and st.network or {}
  for _, f in ipairs(type(n.forwards) == "table" and n.forwards or {}) do
    if type(f) == "table" and type(f.text) == "string" then out[#out + 1] = f.text end
  end
  return table.concat(out, ",")
end

-- ------------------------------------------------------------ checks

--- Problems `vmlua check` reports: `{ field, message }` pairs.
function M.problems(sb, plan)
  local out = {}
  local n = plan.network
  if not n or (n.tap_by ~= "vmlua" and n.tap_by ~= "hypervisor") then return out end
  local function add(field, fmt, ...) out[#out + 1] = { field, string.format(fmt, ...) } end
  local who = n.tap_by == "vmlua" and "vmlua" or plan.driver.title
  if not core.net.can_admin() then
    add("network.mode", "\"tap\" needs CAP_NET_ADMIN: %s creates the tap %s (run vmlua as root)", who, n.tap)
  end
  if not core.fs.exists(M.TUN) then
    add("network.mode", "\"tap\" needs %s, which this host lacks (load the tun module: modprobe tun)", M.TUN)
  elseif not core.fs.access(M.TUN, "rw") then
    add("network.mode", "\"tap\" needs %s, which this user cannot open for reading and writing", M.TUN)
  end
  if core.net.link(n.tap) then
    add(sb.network.tap and "network.tap" or "network", "an interface named %s exists already (is sandbox '%s'"
        .. " running? one that is gone: 'vmlua gc' removes its tap; or give network.tap another name)",
        n.tap, plan.id)
  end
  if sb.network.address then
    local host = ipv4.parse(n.host)
    for _, a in ipairs(host_addresses()) do
      if ipv4.overlaps(host, n.prefix, a.address, a.prefix) then
        local link = core.net.link(a.index)
        add("network.address", "%s overlaps %s/%d of the host's interface %s (give another subnet)",
            sb.network.address, a.text, a.prefix, link and link.name or tostring(a.index))
        break
      end
    end
  end
  return out
end

-- ------------------------------------------------------------ the tap's life

--- Create the tap when vmlua is its creator (before the hypervisor starts):
-- the tap, its host address, up. Its index is in state.json from the
-- moment it exists (only a kill in the few microseconds between the two can
-- leave a tap the state does not prove ours). true, or nil and a message.
function M.provision(rt)
  local n = rt.plan.network
  if not n or n.tap_by ~= "vmlua" then return true end
  local rec = rt.state.network.tap
  local index, err = core.net.tap_create(n.tap, { owner = core.getuid() })
  if not index then return nil, string.format("network: cannot create the tap: %s", err) end
  rec.index = index
  local saved, serr = rt:save(nil)
  if not saved then return nil, "cannot save the sandbox's state: " .. tostring(serr) end
  local ok, aerr = core.net.addr_add(index, n.host .. "/" .. n.prefix)
  if ok then ok, aerr = core.net.link_up(index) end
  if not ok then return nil, string.format("network: cannot set up the tap %s: %s", n.tap, aerr) end
  rt:progress("network: tap %s created (host %s/%d, guest %s)", n.tap, n.host, n.prefix, n.guest)
  return true
end

--- Remove the tap the state says vmlua created, if the interface with the
-- recorded index is still that tap (a tun device of the recorded name);
-- anything else is left alone. Marks it removed in `st` (the caller saves).
-- `say(fmt, ...)` reports what happened.
function M.release(st, say)
  local t = type(st.network) == "table" and st.network.tap
  if type(t) ~= "table" or t.by ~= "vmlua" or math.type(t.index) ~= "integer" or t.removed then return end
  local link, err, errno = core.net.link(t.index)
  if not link then
    if errno == core.errno.ENODEV then t.removed = true else say("network: tap %s: %s", tostring(t.name), err) end
    return
  end
  if link.name ~= t.name or link.kind ~= "tun" then
    say("network: interface %d is now %s (%s), not the sandbox's tap %s: left alone", t.index, link.name,
        link.kind ~= "" and link.kind or "no kind", tostring(t.name))
    t.removed = true
    return
  end
  local ok, derr = core.net.link_delete(t.index)
  if ok then
    t.removed = true
    say("network: tap %s removed", t.name)
  else
    say("network: cannot remove the tap %s: %s", t.name, derr)
  end
end

--- A start failure a forward explains (a driver's `start_failures` finding
-- `{ kind = "forward", rule = }`), in words naming the field; else nil.
function M.explain(plan, finding)
  if finding.kind ~= "forward" then return nil end
  for i, f in ipairs((plan.network or {}).forwards or {}) do
    if f.rule == finding.rule then
      return string.format("network.forward[%d] %q: the host cannot listen on %s port %d (%s): the port is in use,"
                           .. " or the address is not one of the host's; %s could not set up the forward",
                           i, f.rule, f.host_addr ~= "" and f.host_addr or "every address", f.host_port, f.proto,
                           plan.driver.title)
    end
  end
  return nil
end

return M
