--- vmlua cp ID:PATH LOCAL | vmlua cp LOCAL ID:PATH: copy a file out of or
-- into a running sandbox through its guest agent.
local core = require "vmlua.core"
local cli = require "vmlua.cli"
local control = require "vmlua.sandbox.control"

local M = {}

--- `ID:/path` as id, path; nil for a local path (one that does not start
-- with a sandbox id and a colon followed by an absolute path: write a local
-- file with a colon in its name as ./a:b).
function M.guest_path(arg)
  local id, path = arg:match("^([A-Za-z0-9][A-Za-z0-9_.%-]*):(.*)$")
  if not id then return nil end
  if path:sub(1, 1) ~= "/" then
    cli.usage(string.format("cp: %s: the guest path must be absolute (%s:/...)", arg, id))
  end
  return id, path
end

local function basename(p)
  return p:match("([^/]+)/*$") or p
end

local function attach(id)
  local sb, err, code = control.attach(id)
  if not sb then cli.fail(err, code) end
  return sb
end

-- Guest file to a local path ("-": stdout; a directory: the file keeps its name).
local function copy_out(id, path, dst)
  local sb = attach(id)
  if dst == "-" then
    local c, err = sb:agent()
    if not c then cli.fail(err) end
    local n, perr = c:pull(path, function(chunk) return io.stdout:write(chunk) end)
    c:close()
    io.stdout:flush()
    if not n then cli.fail(string.format("cp: %s:%s: %s", id, path, perr)) end
    return 0
  end
  if core.fs.is_dir(dst) then dst = dst .. "/" .. basename(path) end
  local n, err = sb:pull(path, dst)
  if not n then cli.fail(string.format("cp: %s:%s: %s", id, path, err)) end
  return 0
end

-- A local file ("-": stdin) to a guest path (ending in "/": a directory,
-- the file keeps its name).
local function copy_in(src, id, path)
  if path:sub(-1) == "/" then
    if src == "-" then cli.usage("cp: copying stdin into the guest needs a file name, not a directory") end
    path = path .. basename(src)
  end
  if src ~= "-" and core.fs.is_dir(src) then cli.usage("cp: " .. src .. ": is a directory (cp copies one file)") end
  if src ~= "-" and not core.fs.exists(src) then cli.fail("cp: " .. src .. ": No such file or directory") end
  local sb = attach(id)
  local n, err
  if src == "-" then
    local c, cerr = sb:agent()
    if not c then cli.fail(cerr) end
    n, err = c:push(function() return io.stdin:read(require("vmlua.qga").CHUNK) end, path)
    c:close()
  else
    n, err = sb:push(src, path)
  end
  if not n then cli.fail(string.format("cp: %s -> %s:%s: %s", src, id, path, err)) end
  return 0
end

M.summary = "copy a file out of or into a sandbox through its guest agent"
M.usage = "cp ID:PATH LOCAL | cp LOCAL ID:PATH"
M.description = table.concat({
  "Copies one file between the host and the guest of a running sandbox (qemu-ga's",
  "guest-file-* commands, 1 MiB at a time; the sandbox needs agent = true). PATH is",
  "absolute in the guest; ending in '/' it names a directory and the file keeps its",
  "name. LOCAL may be a directory, and '-' is stdout (out) or stdin (in). A file",
  "copied out is written to a temporary file next to LOCAL and renamed: a failed copy",
  "leaves nothing. Files the agent creates get its umask's mode (0666 in the guest",
  "kit); set another with vmlua exec ID -- chmod.",
  "",
  "Exit status: 0 copied; 1 when the copy failed (no such guest file, the agent does",
  "not answer, the sandbox is not running); 2 for a usage error (not exactly one",
  "ID:PATH, an unknown sandbox, one without a guest agent).",
  "",
  "Examples:",
  "  vmlua cp demo:/etc/os-release .",
  "  vmlua cp ./tool demo:/tmp/",
}, "\n")
M.args = { "SRC", "DST" }

function M.run(_, pos)
  local sid, spath = M.guest_path(pos[1])
  local did, dpath = M.guest_path(pos[2])
  if sid and did then cli.usage("cp: copy between the host and a guest: only one of SRC and DST is ID:PATH") end
  if sid then return copy_out(sid, spath, pos[2]) end
  if did then return copy_in(pos[1], did, dpath) end
  cli.usage("cp: one of SRC and DST must be ID:PATH (a guest path; a local file with a colon: ./a:b)")
end

return M
