--- Helpers for the network and disk end-to-end tests: free TCP ports, a
-- host HTTP server and client (busybox httpd and wget, from busybox-static),
-- ext4 images made with mkfs.ext4 -d and read back with debugfs (e2fsprogs),
-- qemu-img (qemu-utils). Every program runs through core.spawn: no shell.
local core = require "vmlua.core"
local H = require "support.h"

local N = {}

--- Run argv to completion: exit code, stdout and stderr (nil code when it
-- was killed or did not finish within `timeout`). `input`: its stdin.
function N.run(argv, timeout, input)
  local dir = H.tmpdir()
  local stdin = "null"
  if input then
    H.write(dir .. "/in", input)
    stdin = { file = dir .. "/in" }
  end
  local p = assert(core.spawn { argv = argv, stdin = stdin, stdout = { file = dir .. "/out", append = false },
                                stderr = { file = dir .. "/err", append = false } })
  local how, code = p:wait(timeout or 60)
  if not how then p:terminate { signal = "SIGKILL", grace = 5 } end
  p:close()
  local err = H.read(dir .. "/err") or ""
  if how ~= "exited" then err = string.format("%s(%s %s)", err, tostring(how), tostring(code)) end
  return how == "exited" and code or nil, H.read(dir .. "/out") or "", err
end

-- The TCP ports someone listens on (IPv4 and IPv6).
local function listening()
  local used = {}
  for _, f in ipairs { "/proc/net/tcp", "/proc/net/tcp6" } do
    for line in (H.read(f) or ""):gmatch("[^\n]+") do
      local port, state = line:match("^%s*%d+: %x+:(%x+) %x+:%x+ (%x%x)")
      if port and state == "0A" then used[tonumber(port, 16)] = true end
    end
  end
  return used
end

--- A TCP port nobody listens on (20000-39999; random, so that flavours and
-- parallel runs do not pick the same one).
function N.free_port()
  local used = listening()
  math.randomseed(math.floor(core.monotonic() * 1e6) + core.getpid())
  for _ = 1, 200 do
    local p = math.random(20000, 39999)
    if not used[p] then return p end
  end
  error("no free TCP port")
end

--- busybox httpd serving `dir` on 127.0.0.1:port, in the foreground (a
-- Process: :terminate{} it).
function N.httpd(dir, port, addr)
  local p = assert(core.spawn { argv = { "busybox", "httpd", "-f", "-p", (addr or "127.0.0.1") .. ":" .. port, "-h", dir },
                                stdin = "null", stdout = "null", stderr = "null" })
  -- ready once it listens
  for _ = 1, 200 do
    if listening()[port] then return p end
    core.wait({ { exit = p } }, 0.02)
  end
  p:terminate { signal = "SIGKILL", grace = 5 }
  error("busybox httpd did not listen on port " .. port)
end

--- HTTP GET http://HOST:PORT/PATH with busybox nc (busybox-static's wget
-- crashes now and then: a static glibc loading NSS modules): the body, or
-- nil and what went wrong.
function N.http_get(url)
  local host, port, path = url:match("^http://([^:/]+):?(%d*)(/?.*)$")
  local req = string.format("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path ~= "" and path or "/", host)
  local code, out, err = N.run({ "busybox", "nc", "-w", "10", host, port ~= "" and port or "80" }, 30, req)
  local status, body = out:match("^HTTP/1%.%d (%d+)[^\n]*\n.-\r?\n\r?\n(.*)$")
  if code ~= 0 or status ~= "200" then
    return nil, string.format("GET %s: nc status %s: %s%s", url, tostring(code), err, out)
  end
  return body
end

--- An ext4 image of `size` (e.g. "8M") holding the files of `dir`.
function N.mkfs_ext4(path, dir, size)
  local code, out, err = N.run({ "mkfs.ext4", "-q", "-F", "-d", dir, path, size })
  assert(code == 0, "mkfs.ext4 failed: " .. out .. err)
end

--- The tests' base image: world `w`'s base.img, an 8 MiB ext4 holding
-- base.txt ("the base image").
function N.base_image(w)
  local src = w.dir .. "/base-src"
  assert(core.fs.mkdir(src, tonumber("755", 8)))
  H.write(src .. "/base.txt", "the base image\n")
  local img = w.dir .. "/base.img"
  N.mkfs_ext4(img, src, "8M")
  return img
end

--- `vmlua run RECIPE --set id=ID` with --set for each of `sets`; `-d`
-- unless `detach` is false.
function N.run_args(recipe, id, sets, detach)
  local args = { "run", recipe, "--set", "id=" .. id }
  if detach ~= false then table.insert(args, 2, "-d") end
  for _, s in ipairs(sets) do
    args[#args + 1] = "--set"
    args[#args + 1] = s
  end
  return args
end

--- A file's content inside an ext4 image (debugfs), or nil and why.
function N.ext4_cat(img, file)
  local code, out, err = N.run({ "debugfs", "-R", "cat /" .. file, img })
  if code ~= 0 or err:find("File not found", 1, true) then return nil, err end
  return out
end

--- qemu-img convert SRC (qcow2 with its backing chain) into a raw image.
function N.to_raw(src, dst)
  local code, out, err = N.run({ "qemu-img", "convert", "-O", "raw", src, dst })
  assert(code == 0, "qemu-img convert failed: " .. out .. err)
end

return N
