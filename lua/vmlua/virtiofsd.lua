--- virtiofsd builder: one `config{}` for the three command-line dialects
-- of the virtio-fs daemon.
--
--   "c"      QEMU's C virtiofsd (QEMU 5.0-7.2, /usr/lib/qemu/virtiofsd):
--            --socket-path=P -o source=DIR -o cache=auto|always|none
--   "rust"   the Rust virtiofsd (gitlab.com/virtio-fs/virtiofsd):
--            --socket-path P --shared-dir DIR --cache auto|always|never|metadata
--   "legacy" the 2019 virtio-fs tree Kata's first cloud-hypervisor driver ran:
--            -f -o vhost_user_socket=P -o source=DIR -o cache=...
--   "auto"   (default) run the binary's --help (and --version) once per path
--            and tell them apart (`virtiofsd.detect_flavor`).
--
--     local vfs = virtiofsd.config { path = "/usr/lib/qemu/virtiofsd",
--       socket = "/run/vmlua/demo/vfsd.sock", source = "./share", cache = "auto" }
--     vfs:argv()   --> { "/usr/lib/qemu/virtiofsd", "--socket-path=/run/...", "-o", "source=./share", ... }
--     vfs:ready()  --> { line = "Waiting for vhost-user socket connection...", stream = "stderr" }
--
-- Cache names are accepted in either spelling and mapped: "never" and
-- "none" are the same mode; "metadata" exists only in the Rust daemon.

local S = require "vmlua.schema"

local virtiofsd = {}

virtiofsd.DEFAULT_BINARY = "virtiofsd"
virtiofsd.FLAVORS = { "c", "rust", "legacy" }
--- The line every flavour logs (at level info, on stderr) once its socket
-- listens; the 2019 Kata driver waited for it too.
virtiofsd.READY_LINE = "Waiting for vhost-user socket connection..."
--- Where virtiofsd is looked for when none is named, in order: on PATH,
-- then where distributions install it outside PATH (the Rust virtiofsd in
-- /usr/libexec, QEMU's C virtiofsd in /usr/lib/qemu or /usr/libexec/qemu).
virtiofsd.CANDIDATES = { "virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd",
                         "/usr/libexec/qemu/virtiofsd" }
--- Seconds a probe (--help, --version) may take.
virtiofsd.PROBE_TIMEOUT = 5

local FLAVOR_NAMES = { c = "the C virtiofsd (QEMU's)", rust = "the Rust virtiofsd",
                       legacy = "the legacy (2019) virtiofsd" }

local Config = {}
Config.__index = Config
Config.__name = "vmlua.virtiofsd.config"
Config.helper = "virtiofsd"

-- ------------------------------------------------------------ schema

local FIELDS = {
  path = S.string { nonempty = true },
  flavor = S.string { enum = { "auto", "c", "rust", "legacy" } },
  socket = S.string { nonempty = true },
  fd = S.integer { min = 0 },
  source = S.string { nonempty = true, required = true },
  cache = S.string { enum = { "auto", "always", "never", "none", "metadata" } },
  sandbox = S.string { enum = { "namespace", "chroot", "none" } },
  thread_pool_size = S.integer { min = 0, max = 1 << 20 },
  xattr = S.boolean(),
  xattrmap = S.string { nonempty = true },
  posix_acl = S.boolean(),
  announce_submounts = S.boolean(),
  readonly = S.boolean(),
  writeback = S.boolean(),
  allow_direct_io = S.boolean(),
  log_level = S.string { enum = { "error", "warn", "info", "debug", "trace", "off" } },
  syslog = S.boolean(),
  socket_group = S.string { nonempty = true },
  seccomp = S.string { enum = { "none", "kill", "log", "trap" } },
  modcaps = S.string { check = function(v, path)
    for piece in (v .. ":"):gmatch("([^:]*):") do
      if not piece:match("^[+-][%w_]+$") then
        return S.fail(path, "must look like \"+sys_admin:-chown\", got %s", S.show(v))
      end
    end
    return true
  end },
  rlimit_nofile = S.integer { min = 0 },
  inode_file_handles = S.string { enum = { "never", "prefer", "mandatory" } },
  tag = S.string { nonempty = true, check = function(v, path)
    if #v > 36 then return S.fail(path, "must be at most 36 bytes (the virtio-fs tag size), got %d", #v) end
    return true
  end },
  extra_args = S.array(S.string()),
}

local QUIET = { error = true, warn = true, off = true }

local function cross_check(t)
  if t.socket ~= nil and t.fd ~= nil then
    return S.fail("socket", "give either socket or fd (a listening socket passed to virtiofsd), not both")
  end
  if t.socket == nil and t.fd == nil then
    return S.fail("socket", "missing (required; or give fd, a listening socket passed to virtiofsd)")
  end
  if t.fd == nil then
    -- vmlua learns that the socket listens from the ready line on stderr
    if t.syslog then
      return S.fail("syslog", "the ready line %q would go to syslog, so vmlua could not tell when virtiofsd " ..
                    "listens; drop syslog or pass a listening socket as fd", virtiofsd.READY_LINE)
    end
    if t.log_level ~= nil and QUIET[t.log_level] then
      return S.fail("log_level", "must be info, debug or trace while vmlua waits for the ready line " ..
                    "(logged at info), got %q; or pass a listening socket as fd", t.log_level)
    end
  end
  return true
end

local RECORD = S.record(FIELDS, { check = cross_check })
local FIELD_NAMES = RECORD.field_names

-- Option names of the daemons themselves, mistaken for ours.
local HINTS = { sock = "socket", socket_path = "socket", vhost_user_socket = "socket", shared_dir = "source",
                cache_mode = "cache" }

local SCHEMA = S.custom(function(t, path)
  if type(t) == "table" then
    local names = {}
    for k in pairs(t) do if HINTS[k] then names[#names + 1] = k end end
    table.sort(names)
    if names[1] then return S.fail(names[1], "unknown field (did you mean '%s'?)", HINTS[names[1]]) end
  end
  return RECORD:check(t, path)
end)

-- ------------------------------------------------------------ flavours

local function onoff(name, v) return v and name or ("no_" .. name) end

-- Each flavour: field -> function(value, t) returning argv words, or a
-- string explaining why the flavour cannot do it.
local emit = {}

emit.c = {
  order = { "socket", "fd", "source", "cache", "sandbox", "thread_pool_size", "xattr", "xattrmap", "posix_acl",
            "announce_submounts", "writeback", "allow_direct_io", "log_level", "syslog", "socket_group",
            "modcaps", "rlimit_nofile" },
  socket = function(v) return { "--socket-path=" .. v } end,
  fd = function(v) return { "--fd=" .. v } end,
  source = function(v)
    if v:find(",", 1, true) then return "must not contain ',' for the C virtiofsd (its -o options split at ',')" end
    return { "-o", "source=" .. v }
  end,
  cache = function(v)
    if v == "metadata" then return "\"metadata\" is a Rust virtiofsd mode; the C one has auto, always and none" end
    return { "-o", "cache=" .. (v == "never" and "none" or v) }
  end,
  sandbox = function(v)
    if v == "none" then return "\"none\" is a Rust virtiofsd mode; the C one has namespace and chroot" end
    return { "-o", "sandbox=" .. v }
  end,
  thread_pool_size = function(v) return { "--thread-pool-size=" .. v } end,
  xattr = function(v) return { "-o", onoff("xattr", v) } end,
  xattrmap = function(v)
    if v:find(",", 1, true) then return "must not contain ',' for the C virtiofsd (its -o options split at ',')" end
    return { "-o", "xattrmap=" .. v }
  end,
  posix_acl = function(v) return { "-o", onoff("posix_acl", v) } end,
  announce_submounts = function(v) return v and { "-o", "announce_submounts" } or {} end,
  writeback = function(v) return { "-o", onoff("writeback", v) } end,
  allow_direct_io = function(v) return { "-o", onoff("allow_direct_io", v) } end,
  log_level = function(v)
    local map = { error = "err", warn = "warn", info = "info", debug = "debug" }
    if not map[v] then return string.format("%q is not a C virtiofsd level (err, warn, info, debug)", v) end
    return { "-o", "log_level=" .. map[v] }
  end,
  syslog = function(v) return v and { "--syslog" } or {} end,
  socket_group = function(v) return { "--socket-group=" .. v } end,
  modcaps = function(v) return { "-o", "modcaps=" .. v } end,
  rlimit_nofile = function(v) return { "--rlimit-nofile=" .. v } end,
}

emit.rust = {
  order = { "socket", "fd", "source", "cache", "sandbox", "thread_pool_size", "xattr", "xattrmap", "posix_acl",
            "announce_submounts", "readonly", "writeback", "allow_direct_io", "log_level", "syslog",
            "socket_group", "seccomp", "modcaps", "rlimit_nofile", "inode_file_handles", "tag" },
  socket = function(v) return { "--socket-path", v } end,
  fd = function(v) return { "--fd", tostring(v) } end,
  source = function(v) return { "--shared-dir", v } end,
  cache = function(v) return { "--cache", v == "none" and "never" or v } end,
  sandbox = function(v) return { "--sandbox", v } end,
  thread_pool_size = function(v) return { "--thread-pool-size", tostring(v) } end,
  xattr = function(v) return v and { "--xattr" } or {} end,
  xattrmap = function(v) return { "--xattrmap", v } end,
  posix_acl = function(v) return v and { "--posix-acl" } or {} end,
  announce_submounts = function(v) return { v and "--announce-submounts" or "--no-announce-submounts" } end,
  readonly = function(v) return v and { "--readonly" } or {} end,
  writeback = function(v) return v and { "--writeback" } or {} end,
  allow_direct_io = function(v) return v and { "--allow-direct-io" } or {} end,
  log_level = function(v) return { "--log-level", v } end,
  syslog = function(v) return v and { "--syslog" } or {} end,
  socket_group = function(v) return { "--socket-group", v } end,
  seccomp = function(v) return { "--seccomp", v } end,
  modcaps = function(v) return { "--modcaps=" .. v } end,
  rlimit_nofile = function(v) return { "--rlimit-nofile", tostring(v) } end,
  inode_file_handles = function(v) return { "--inode-file-handles=" .. v } end,
  tag = function(v) return { "--tag", v } end,
}

emit.legacy = {
  order = { "socket", "source", "cache", "sandbox", "xattr", "writeback" },
  prefix = { "-f" },
  socket = function(v)
    if v:find(",", 1, true) then
      return "must not contain ',' for the legacy virtiofsd (its -o options split at ',')"
    end
    return { "-o", "vhost_user_socket=" .. v }
  end,
  source = emit.c.source,
  cache = function(v)
    if v == "metadata" then return "\"metadata\" is a Rust virtiofsd mode; the legacy one has auto, always and none" end
    return { "-o", "cache=" .. (v == "never" and "none" or v) }
  end,
  -- the 2019 daemon always sandboxed with namespaces and had no option for it
  sandbox = function(v)
    if v ~= "namespace" then return "the legacy virtiofsd always uses namespaces and has no other mode" end
    return {}
  end,
  xattr = emit.c.xattr,
  writeback = emit.c.writeback,
}

-- Fields a flavour's table does not mention are unsupported there.
local function flavor_argv(t, flavor, binary)
  local e = emit[flavor]
  local argv = { binary }
  for _, w in ipairs(e.prefix or {}) do argv[#argv + 1] = w end
  local known = {}
  for _, name in ipairs(e.order) do known[name] = true end
  for _, name in ipairs(FIELD_NAMES) do
    if t[name] ~= nil and not known[name] and name ~= "path" and name ~= "flavor" and name ~= "extra_args" then
      return nil, string.format("%s: not supported by %s", name, FLAVOR_NAMES[flavor])
    end
  end
  for _, name in ipairs(e.order) do
    local v = t[name]
    if v ~= nil then
      local words = e[name](v, t)
      if type(words) == "string" then return nil, string.format("%s: %s", name, words) end
      for _, w in ipairs(words) do argv[#argv + 1] = w end
    end
  end
  -- Older Rust releases defaulted to --log-level error, which hides the ready line.
  if flavor == "rust" and t.log_level == nil and t.fd == nil then
    argv[#argv + 1] = "--log-level"
    argv[#argv + 1] = "info"
  end
  for _, a in ipairs(t.extra_args or {}) do argv[#argv + 1] = a end
  return argv
end

-- ------------------------------------------------------------ detection

--- Tell the flavour from `--help` and `--version` output (either may be
-- nil). Returns "c" | "rust" | "legacy", or nil and a message.
function virtiofsd.detect_flavor(help_text, version_text)
  local h, v = help_text or "", version_text or ""
  if type(h) ~= "string" or type(v) ~= "string" then
    error("detect_flavor: expected the --help and --version output as strings", 2)
  end
  if h:find("--shared-dir", 1, true) or v:match("^%s*virtiofsd%s+v?%d+%.%d+") then
    return "rust"
  end
  if h:find("--socket-path=", 1, true) or v:find("virtiofsd version", 1, true) then
    return "c"
  end
  if h:find("vhost_user_socket", 1, true) then
    return "legacy"
  end
  return nil, "cannot tell the virtiofsd flavour from its --help/--version output " ..
              "(set flavor = \"c\", \"rust\" or \"legacy\")"
end

local probe_cache = {}

-- Run `argv` with stdout and stderr on one pipe; everything it printed.
local function capture(core, argv, timeout)
  local p, err, errno = core.spawn { argv = argv, stdin = "null", stdout = "pipe", stderr = "stdout" }
  if not p then return nil, err, errno end
  local chunks = {}
  -- (os.time when the core lacks monotonic: a coarser deadline, never a wrong one)
  local now = core.monotonic or os.time
  local deadline = now() + timeout
  while true do
    local left = deadline - now()
    if left <= 0 then
      p:close()
      return nil, string.format("%s: no answer within %g s", table.concat(argv, " "), timeout)
    end
    local data, rerr = p.stdout:read(left)
    if data then
      chunks[#chunks + 1] = data
    elseif rerr == "eof" then
      break
    else
      p:close()
      return nil, string.format("%s: %s", table.concat(argv, " "), rerr == "timeout"
        and string.format("no answer within %g s", timeout) or tostring(rerr))
    end
  end
  p:wait(math.max(0.05, deadline - now()))
  p.stdout:close()
  p:close()
  return table.concat(chunks)
end

--- Run `path --help` (and `--version` if needed) and detect the flavour.
-- The answer is cached per path. Returns the flavour or nil, message.
function virtiofsd.probe(path)
  path = path or virtiofsd.DEFAULT_BINARY
  if type(path) ~= "string" or path == "" then error("probe: expected a path", 2) end
  if probe_cache[path] then return probe_cache[path] end
  local core = require "vmlua.core"
  local help, err, errno = capture(core, { path, "--help" }, virtiofsd.PROBE_TIMEOUT)
  if not help then return nil, err, errno end
  local flavor = virtiofsd.detect_flavor(help)
  if not flavor then
    local version = capture(core, { path, "--version" }, virtiofsd.PROBE_TIMEOUT)
    flavor, err = virtiofsd.detect_flavor(help, version)
    if not flavor then return nil, path .. ": " .. err end
  end
  probe_cache[path] = flavor
  return flavor
end

--- Forget cached probe results (all, or one path).
function virtiofsd.forget(path)
  if path then probe_cache[path] = nil else probe_cache = {} end
end

--- Is this process's root a mount point? It is on a machine and in most
-- containers, not in a plain chroot: /proc/self/mountinfo then lists no
-- mount at "/". `mountinfo` (a path) is for tests.
function virtiofsd.root_is_mount_point(mountinfo)
  local f = io.open(mountinfo or "/proc/self/mountinfo", "r")
  if not f then return true end -- cannot tell: assume the usual case
  for line in f:lines() do
    if line:match("^%S+ %S+ %S+ %S+ (%S+)") == "/" then
      f:close()
      return true
    end
  end
  f:close()
  return false
end

--- The sandbox virtiofsd gets when a share names none: its flavour's own
-- (nil), except where "/" is not a mount point (a chroot): the namespace
-- sandbox makes "/" a slave mount, which fails there ("mount(/,
-- MS_REC|MS_SLAVE): Invalid argument"), so it is "chroot".
function virtiofsd.default_sandbox(mountinfo)
  if virtiofsd.root_is_mount_point(mountinfo) then return nil end
  return "chroot"
end

--- The first of `candidates` (default CANDIDATES) that exists: a bare name
-- is looked up on PATH (its full path is returned), a path must be a file.
function virtiofsd.find(candidates)
  local core = require "vmlua.core"
  for _, p in ipairs(candidates or virtiofsd.CANDIDATES) do
    if not p:find("/", 1, true) then
      local found = core.fs.which(p)
      if found then return found end
    else
      local st = core.fs.stat(p)
      if st and st.type ~= "dir" then return p end
    end
  end
  return nil
end

-- ------------------------------------------------------------ builder

--- Check `t` and return a builder, or nil and "field: message" for a value
-- it cannot take (the plan reports that against the recipe's field).
function virtiofsd.new(t)
  if type(t) ~= "table" then
    error(string.format("virtiofsd.new: expected a table, got %s", type(t)), 2)
  end
  local ok, err = SCHEMA:check(t)
  if not ok then return nil, err end
  local self = {}
  for k, v in pairs(t) do
    if type(v) == "table" then
      local c = {}
      for i, x in ipairs(v) do c[i] = x end
      v = c
    end
    self[k] = v
  end
  return setmetatable(self, Config)
end

--- Check `t` and return a builder. Raises at the caller's line.
function virtiofsd.config(t)
  if type(t) ~= "table" then
    error(string.format("virtiofsd.config: expected a table, got %s", type(t)), 2)
  end
  local self, err = virtiofsd.new(t)
  if not self then error(err, 2) end
  return self
end

function Config:validate()
  return SCHEMA:check(self)
end

function Config:binary()
  return self.path or virtiofsd.DEFAULT_BINARY
end

function Config:copy()
  return virtiofsd.config(self)
end

--- The flavour in use: the configured one, or the probed one for "auto".
-- Returns the flavour or nil, message (when probing fails).
function Config:resolved_flavor()
  if self.flavor ~= nil and self.flavor ~= "auto" then return self.flavor end
  return virtiofsd.probe(self:binary())
end

--- The command line (argv[1] = binary), or nil and a message: "field:
-- message" for a bad configuration or an option the flavour lacks, or why
-- "auto" cannot probe the binary. Never raises (the plan reports these
-- against the recipe's fields).
function Config:command()
  local ok, err = self:validate()
  if not ok then return nil, err end
  local flavor, perr, errno = self:resolved_flavor()
  if not flavor then return nil, perr, errno end
  return flavor_argv(self, flavor, self:binary())
end

--- The command line (argv[1] = binary). Raises for a bad configuration or
-- an option the flavour lacks; returns nil, message when "auto" cannot
-- probe the binary.
function Config:argv()
  local ok, err = self:validate()
  if not ok then error(err, 2) end
  local flavor, perr, errno = self:resolved_flavor()
  if not flavor then return nil, perr, errno end
  local argv, ferr = flavor_argv(self, flavor, self:binary())
  if not argv then error(ferr, 2) end
  return argv
end

--- How to tell that virtiofsd is ready for the VMM:
--   { line = READY_LINE, stream = "stderr" }  wait for this text on stderr;
--   { immediate = true }  a listening socket is passed as fd, the VMM can
--                         connect at once (Kata's way).
-- Never a connect() probe: virtiofsd serves exactly one connection, and a
-- probe would be taken for the VMM (it exits when that "client" leaves).
function Config:ready()
  local ok, err = self:validate()
  if not ok then error(err, 2) end
  if self.fd ~= nil then return { immediate = true } end
  return { line = virtiofsd.READY_LINE, stream = "stderr" }
end

--- Unix socket paths this daemon creates, with the field naming each.
function Config:socket_entries()
  if self.socket then return { { field = "socket", path = self.socket } } end
  return {}
end

--- Unix socket paths this daemon creates (strings).
function Config:socket_paths()
  if self.socket then return { self.socket } end
  return {}
end

return virtiofsd
