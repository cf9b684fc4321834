--- The real guest: `vmlua run --detach scripts/recipes/qemu-demo.lua` (the
-- guest kit under QEMU/TCG with a virtio-fs share) to ready, then `vmlua
-- stop`, against a plain shell script that starts the very same virtiofsd
-- and QEMU command lines (taken from `vmlua plan --json`) and polls their
-- logs with `sleep 0.05` as tests/guest/smoke.sh does
-- (bench/baselines/guest-launch.sh).
--
--   lua5.4 bench/guest.lua [--quick] [--runs N] [--json FILE]   (bench/run sets the paths)
--
-- Both sides are timed by this process in the same way: launch = from
-- starting the launcher to it reporting ready (vmlua: `run --detach`
-- returns; shell: it prints "ready"), both after the marker is in the
-- serial log and the greeting in the share; stop = from the request to the
-- guest powered off and everything ended (vmlua: `vmlua stop` returns;
-- shell: it prints "stopped"). This process also follows the serial log
-- itself (inotify) and notes when the marker line arrives, which splits
-- launch → ready into the boot (the same QEMU on both sides) and marker →
-- ready (what the launcher adds after the guest is up).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lib/?.lua;" .. package.path
local core = require "vmlua.core"
local B = require "benchlib"

local o = B.options(arg, { runs = 10 })
local guard <close> = B.guard() -- luacheck: ignore guard
local tmp = B.tmpdir("vbg")
local run = tmp .. "/run"
local share = tmp .. "/share"
local venv = B.vmlua_env(run)
local recipe = B.root .. "/scripts/recipes/qemu-demo.lua"
local greeting = share .. "/hello-from-guest.txt"
local m0 = core.monotonic()
assert(core.fs.mkdir(share, tonumber("755", 8)))

local function recipe_args(id, net)
  local a = { "--set", "id=" .. id, "--set", "keep=1", "--set", "share=" .. share, "--set", "guest=" .. B.guest }
  if net then
    for _, x in ipairs { "--set", "net=user", "--set", "port=" .. net.port } do a[#a + 1] = x end
    if net.kernel_ip then a[#a + 1] = "--set"; a[#a + 1] = "kernel_ip=1" end
  end
  return a
end

local MARKER = "VMLUA-GUEST-READY"

--- Wait for `done` (a core.wait condition) while noting when the marker
-- arrives in the serial log; returns the time of each.
local function watch(serial, done, timeout)
  local s = assert(core.follow(serial))
  local deadline = core.monotonic() + timeout
  local t_marker
  local conds = { { line = s, find = MARKER }, done }
  while true do
    local i, ev = core.wait(conds, math.max(0, deadline - core.monotonic()))
    if not i then s:close(); error("no marker and no ready within " .. timeout .. " s (" .. tostring(ev) .. ")") end
    local t = core.monotonic()
    if #conds == 2 and i == 1 then
      t_marker = t
      table.remove(conds, 1)
    else
      s:close()
      return t_marker, t, ev
    end
  end
end

local function vmlua_side(id, net)
  local store = assert(core.state.open(run))
  local dir = assert(store:dir_of(id)) -- exists, so that the serial log can be followed
  store:close()
  local argv = { B.vmlua, "run", "--detach", recipe }
  for _, a in ipairs(recipe_args(id, net)) do argv[#argv + 1] = a end
  local h = B.start(argv, { env = venv })
  -- t_done: when its exit was seen, before watch() closes its follower
  -- (which can take a while: an RCU grace period)
  local t_marker, t_done = watch(dir .. "/serial.log", { exit = h.proc }, 180)
  local up = h:finish(10)
  assert(up.how == "exited" and up.code == 0, "vmlua run --detach failed: " .. up.err)
  assert(t_marker, "the marker was not seen")
  local down = B.check({ B.vmlua, "stop", id }, { env = venv, timeout = 60 })
  local st = assert(assert(core.state.open(run)):load(id))
  assert(st.stop.step == "powerdown", "vmlua stop: " .. tostring(st.stop.step))
  return { up = t_done - h.t0, down = down.seconds, boot = t_marker - h.t0, after = t_done - t_marker }
end

-- The shell side runs the command lines of the plan for sandbox `id`.
local function write_argv(path, argv)
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(argv, "\0"), "\0")
  f:close()
end

local function shell_side(id)
  local argv = { B.vmlua, "plan", recipe, "--json" }
  for _, a in ipairs(recipe_args(id)) do argv[#argv + 1] = a end
  local plan = core.json.decode(B.check(argv, { env = venv }).out)
  assert(#plan.problems == 0, "plan has problems")
  local vfs, hv
  for _, p in ipairs(plan.processes) do
    if p.role == "share" then vfs = p elseif p.role == "hypervisor" then hv = p end
  end
  assert(vfs and hv, "plan without virtiofsd or QEMU")
  core.fs.remove_tree(plan.dir)
  assert(core.fs.mkdir(plan.dir, tonumber("700", 8)))
  write_argv(plan.dir .. "/vfs.argv", vfs.argv)
  write_argv(plan.dir .. "/qemu.argv", hv.argv)
  os.remove(greeting)
  local t0 = core.monotonic()
  local p = assert(core.spawn {
    argv = { B.baselines .. "/guest-launch.sh", hv.cwd, plan.dir .. "/vfs.argv", vfs.log, vfs.ready[1].text,
             plan.dir .. "/qemu.argv", hv.log, hv.ready[1].path, hv.ready[1].text, greeting, plan.control_socket },
    stdin = "pipe", stdout = "pipe",
  })
  local ok, t_marker, t1 = pcall(watch, hv.ready[1].path, { line = p.stdout, find = "ready" }, 180)
  if not ok or not t_marker then
    p:close()
    error("guest-launch.sh did not get ready: " .. tostring(t_marker))
  end
  local t2 = core.monotonic()
  assert(p.stdin:write("stop\n"))
  local line = p.stdout:read_line(60)
  local how, code = p:wait(30)
  local t3 = core.monotonic()
  p:close()
  assert(line == "stopped" and how == "exited" and code == 0, "guest-launch.sh did not stop cleanly")
  core.fs.remove_tree(plan.dir)
  return { up = t1 - t0, down = t3 - t2, boot = t_marker - t0, after = t1 - t_marker }
end

-- Four sides per iteration, rotating which goes first: vmlua, the shell,
-- and vmlua with a user-mode network (a virtio-net NIC on slirp with one
-- forward), the guest kit taking its address by DHCP before its marker, or
-- from the kernel command line (network.kernel_ip).
local NET_PORT = 20000 + core.getpid() % 20000
local v, sh, vn, vk = {}, {}, {}, {}
for i = 1, o.runs do
  local sides = { function() v[i] = vmlua_side("g" .. i) end, function() sh[i] = shell_side("b" .. i) end,
                  function() vn[i] = vmlua_side("n" .. i, { port = NET_PORT }) end,
                  function() vk[i] = vmlua_side("k" .. i, { port = NET_PORT, kernel_ip = true }) end }
  for k = 0, 3 do sides[(i + k - 1) % 4 + 1]() end
end

local function col(list, f) local t = {} for i, x in ipairs(list) do t[i] = x[f] end return t end
B.section(string.format("Real guest: qemu-demo (q35, TCG, virtio-fs share) (%d runs)", o.runs),
          "Median (min–max) in seconds. *launch → ready*: from starting the launcher to it reporting " ..
          "ready (the marker in the serial log, the greeting in the share); *stop*: from the request " ..
          "(QMP system_powerdown) to the guest off and QEMU and virtiofsd gone. *launch → marker*: " ..
          "to the marker line arriving in the serial log, as this process sees it (inotify); " ..
          "*marker → ready* (ms): from there to the launcher reporting ready.")
B.table({ "launcher", "launch → ready", "launch → marker", "marker → ready", "stop" }, {
  { "vmlua run --detach / vmlua stop", { col(v, "up"), "s", name = "vmlua guest launch" },
    { col(v, "boot"), "s", name = "vmlua guest launch->marker" },
    { col(v, "after"), "ms", name = "vmlua guest marker->ready" },
    { col(v, "down"), "s", name = "vmlua guest stop" } },
  { "shell (same command lines, `sleep 0.05` polls)", { col(sh, "up"), "s", name = "shell guest launch" },
    { col(sh, "boot"), "s", name = "shell guest launch->marker" },
    { col(sh, "after"), "ms", name = "shell guest marker->ready" },
    { col(sh, "down"), "s", name = "shell guest stop" } },
  { "**ratio vmlua / shell**", { B.ratios(col(v, "up"), col(sh, "up")), "x", name = "ratio guest launch vmlua/shell" },
    { B.ratios(col(v, "boot"), col(sh, "boot")), "x", name = "ratio guest launch->marker vmlua/shell" },
    { B.ratios(col(v, "after"), col(sh, "after")), "x", name = "ratio guest marker->ready vmlua/shell" },
    { B.ratios(col(v, "down"), col(sh, "down")), "x", name = "ratio guest stop vmlua/shell" } },
})

B.section(string.format("Real guest with a user-mode network: qemu-demo --set net=user (%d runs)", o.runs),
          "Median (min–max). The same runs as above, interleaved: vmlua with and without " ..
          "`network = { mode = \"user\", forward = { \"tcp:127.0.0.1:PORT-:22\" } }` " ..
          "(QEMU's slirp on a virtio-net), the guest kit taking its address by DHCP (busybox udhcpc) " ..
          "or from the kernel's ip= parameter (`kernel_ip = true`) before its marker.")
B.table({ "vmlua run --detach", "launch → ready", "launch → marker" }, {
  { "no network", { col(v, "up"), "s", name = "vmlua guest launch, no network" },
    { col(v, "boot"), "s", name = "vmlua guest launch->marker, no network" } },
  { "user-mode network, address by DHCP", { col(vn, "up"), "s", name = "vmlua guest launch, user network, DHCP" },
    { col(vn, "boot"), "s", name = "vmlua guest launch->marker, user network, DHCP" } },
  { "user-mode network, address from ip=", { col(vk, "up"), "s", name = "vmlua guest launch, user network, ip=" },
    { col(vk, "boot"), "s", name = "vmlua guest launch->marker, user network, ip=" } },
  { "**ratio DHCP / no network**", { B.ratios(col(vn, "up"), col(v, "up")), "x",
                                     name = "ratio guest launch user DHCP/none" },
    { B.ratios(col(vn, "boot"), col(v, "boot")), "x", name = "ratio guest launch->marker user DHCP/none" } },
  { "**ratio ip= / no network**", { B.ratios(col(vk, "up"), col(v, "up")), "x",
                                    name = "ratio guest launch user ip=/none" },
    { B.ratios(col(vk, "boot"), col(v, "boot")), "x", name = "ratio guest launch->marker user ip=/none" } },
})

B.assert_no_strays(tmp)
B.note(string.format("guest benchmark: %.1f s", core.monotonic() - m0))
core.fs.remove_tree(tmp)
B.cleanup()
B.finish("guest")
