--- vmlua.chapi: a client for cloud-hypervisor's REST API (HTTP/1.1 on its
-- API unix socket, root /api/v1).
--
--     local chapi = require "vmlua.chapi"
--     local api = chapi.new("/run/vmlua/x/api.sock", { timeout = 5 })
--     assert(api:create(cfg:vm_config()))
--     assert(api:boot())
--     local info = assert(api:info())             -- info.state == "Running"
--     local ok, err, status = api:pause()         -- nil, "vm.pause: 500 Internal Server Error: ...", 500
--
-- Every request opens its own connection (vmlua.http): nothing is held
-- between calls, so a client never goes stale when cloud-hypervisor
-- restarts, and `chapi.new` never fails for an environmental reason.
--
-- Endpoint methods return the decoded JSON body for "200 + body", `true`
-- for 204 (or a 200 without a body). Failures return nil, message, and:
-- the HTTP status (a number) when cloud-hypervisor answered with an error
-- ("vm.boot: 500 Internal Server Error: The VM could not boot: VM is not
-- created" — the body's error chain joined with ": ", without the leading
-- "Error from API"), or a string for the transport: "connect", "timeout",
-- "closed", "protocol" (not HTTP, or a 2xx body that is not JSON).
local core = require "vmlua.core"
local http = require "vmlua.http"
local json = core.json

local M = {}

M.DEFAULT_TIMEOUT = 30
M.ROOT = "/api/v1/"

--- Every endpoint of the REST API: method name, REST name, HTTP method,
-- whether it takes a body, the body member a plain string argument fills,
-- and whether fds may travel with it (SCM_RIGHTS).
M.endpoints = {
  { name = "ping", path = "vmm.ping", method = "GET" },
  { name = "vmm_shutdown", path = "vmm.shutdown", method = "PUT" },
  { name = "create", path = "vm.create", method = "PUT", body = true },
  { name = "delete", path = "vm.delete", method = "PUT" },
  { name = "boot", path = "vm.boot", method = "PUT" },
  { name = "info", path = "vm.info", method = "GET" },
  { name = "counters", path = "vm.counters", method = "GET" },
  { name = "pause", path = "vm.pause", method = "PUT" },
  { name = "resume", path = "vm.resume", method = "PUT" },
  { name = "shutdown", path = "vm.shutdown", method = "PUT" },
  { name = "reboot", path = "vm.reboot", method = "PUT" },
  { name = "power_button", path = "vm.power-button", method = "PUT" },
  { name = "nmi", path = "vm.nmi", method = "PUT" },
  { name = "resize", path = "vm.resize", method = "PUT", body = true },
  { name = "resize_zone", path = "vm.resize-zone", method = "PUT", body = true },
  { name = "resize_disk", path = "vm.resize-disk", method = "PUT", body = true },
  { name = "add_device", path = "vm.add-device", method = "PUT", body = true, fds = true },
  { name = "remove_device", path = "vm.remove-device", method = "PUT", body = true, shorthand = "id" },
  { name = "add_disk", path = "vm.add-disk", method = "PUT", body = true },
  { name = "add_fs", path = "vm.add-fs", method = "PUT", body = true },
  { name = "add_net", path = "vm.add-net", method = "PUT", body = true, fds = true },
  { name = "add_pmem", path = "vm.add-pmem", method = "PUT", body = true },
  { name = "add_vsock", path = "vm.add-vsock", method = "PUT", body = true },
  { name = "add_vdpa", path = "vm.add-vdpa", method = "PUT", body = true },
  { name = "add_user_device", path = "vm.add-user-device", method = "PUT", body = true },
  { name = "add_generic_vhost_user", path = "vm.add-generic-vhost-user", method = "PUT", body = true },
  { name = "snapshot", path = "vm.snapshot", method = "PUT", body = true, shorthand = "destination_url" },
  { name = "restore", path = "vm.restore", method = "PUT", body = true, fds = true, shorthand = "source_url" },
  { name = "coredump", path = "vm.coredump", method = "PUT", body = true, shorthand = "destination_url" },
  { name = "send_migration", path = "vm.send-migration", method = "PUT", body = true,
    shorthand = "destination_url" },
  { name = "receive_migration", path = "vm.receive-migration", method = "PUT", body = true,
    shorthand = "receiver_url" },
}

local by_key = {}
for _, e in ipairs(M.endpoints) do
  by_key[e.name] = e
  by_key[e.path] = e
end

--- The endpoint named by its REST name ("vm.power-button", also with a
-- leading "/" or "/api/v1/") or its method name ("power_button"), or nil.
function M.endpoint(name)
  if type(name) ~= "string" then return nil end
  local short = name:gsub("^/api/v1/", ""):gsub("^/", "")
  return by_key[name] or by_key[short]
end

--- Reason phrases (micro_http sends none).
M.REASONS = {
  [200] = "OK", [201] = "Created", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [501] = "Not Implemented", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

local Client = {}
local Client_mt = { __index = Client, __name = "vmlua.CHAPI" }

local argcheck = require "vmlua.argcheck"
local check_opts = argcheck.opts

local function check_client(self, fname)
  if getmetatable(self) ~= Client_mt then
    error(string.format("bad argument to '%s' (chapi client expected; use ':' to call methods)", fname), 3)
  end
end

--- "400 Bad Request"
local function status_text(status, reason)
  local phrase = M.REASONS[status] or reason or ""
  return phrase ~= "" and (status .. " " .. phrase) or tostring(status)
end

--- The detail of an error body: cloud-hypervisor's error chain (a JSON
-- array of strings), micro_http's { "error": "..." }, or the raw text.
local function error_detail(decoded, text)
  if type(decoded) == "table" and #decoded > 0 then
    local parts = {}
    for i, v in ipairs(decoded) do
      if not (i == 1 and v == "Error from API") then parts[#parts + 1] = tostring(v) end
    end
    return table.concat(parts, ": ")
  elseif type(decoded) == "table" and type(decoded.error) == "string" then
    return (decoded.error:gsub("%s+", " "))
  elseif type(decoded) == "string" then
    return decoded
  end
  text = text:gsub("^%s+", ""):gsub("%s+$", "")
  if text ~= "" then return http.excerpt(text, 200) end
  return nil
end

--- One HTTP request. `endpoint` is a REST name ("vm.info") or a path
-- starting with "/"; `body` a table (sent as JSON), a string (sent as is)
-- or nil. opts: timeout, fds. Returns status, decoded body (nil when empty
-- or not JSON), the body text — or nil, message, kind for the transport.
function Client:request(method, endpoint, body, opts)
  check_client(self, "request")
  if type(method) ~= "string" then error("bad argument #1 to 'request' (HTTP method expected)", 2) end
  if type(endpoint) ~= "string" then error("bad argument #2 to 'request' (endpoint expected)", 2) end
  if body ~= nil and type(body) ~= "table" and type(body) ~= "string" then
    error("bad argument #3 to 'request' (body must be a table, a string or nil)", 2)
  end
  opts = check_opts(opts, { timeout = true, fds = true }, "request")
  local target = endpoint:sub(1, 1) == "/" and endpoint or (M.ROOT .. endpoint)
  local text = type(body) == "table" and json.encode(body) or body
  local res, err, kind = http.request(self.path, {
    method = method, target = target, body = text, fds = opts.fds,
    headers = text and { "Accept: application/json", "Content-Type: application/json" }
                    or { "Accept: application/json" },
    timeout = opts.timeout or self.timeout,
  })
  if not res then return nil, err, kind end
  local decoded
  if res.body:find("%S") then decoded = json.decode(res.body) end
  return res.status, decoded, res.body
end

--- Call an endpoint (REST or method name) and apply the result rules:
-- decoded body | true, or nil, message, status | kind.
function Client:call(endpoint, body, opts)
  check_client(self, "call")
  local e = M.endpoint(endpoint)
  if not e then error(string.format("bad argument #1 to 'call' (unknown endpoint '%s')", tostring(endpoint)), 2) end
  if body ~= nil and type(body) ~= "table" then
    error(string.format("bad argument #2 to '%s' (body must be a table)", e.name), 2)
  end
  opts = check_opts(opts, { timeout = true, fds = true }, e.name)
  return self:_call(e, body, opts)
end

function Client:_call(e, body, opts)
  local status, decoded, text = self:request(e.method, e.path, body, opts)
  if not status then
    local err, kind = decoded, text
    return nil, e.path .. ": " .. err, kind
  end
  if status >= 200 and status < 300 then
    if status == 204 or not text:find("%S") then return true end
    if decoded == nil then
      local _, jerr = json.decode(text)
      return nil, string.format("%s: %s with a body that is not JSON (%s): '%s'", e.path,
                                status_text(status), jerr, http.excerpt(text)), "protocol"
    end
    return decoded
  end
  local detail = error_detail(decoded, text)
  local msg = e.path .. ": " .. status_text(status)
  if detail and detail ~= "" then msg = msg .. ": " .. detail end
  return nil, msg, status
end

local function define(e)
  if not e.body then
    Client[e.name] = function(self, opts)
      check_client(self, e.name)
      opts = check_opts(opts, { timeout = true }, e.name)
      return self:_call(e, nil, opts)
    end
    return
  end
  Client[e.name] = function(self, body, a, b)
    check_client(self, e.name)
    if type(body) == "string" and e.shorthand then body = { [e.shorthand] = body } end
    if type(body) ~= "table" then
      error(string.format("bad argument #1 to '%s' (%s expected, got %s)", e.name,
                          e.shorthand and ("a table or the " .. e.shorthand) or "a table", type(body)), 2)
    end
    local opts
    if e.fds then
      -- (body, fds, opts): fds is an array (or nil)
      opts = check_opts(b, { timeout = true }, e.name)
      if a ~= nil then
        if type(a) ~= "table" or #a == 0 then
          error(string.format("bad argument #2 to '%s' (fds must be a non-empty array)", e.name), 2)
        end
        opts = { timeout = opts.timeout, fds = a }
      end
    else
      opts = check_opts(a, { timeout = true }, e.name)
    end
    return self:_call(e, body, opts)
  end
end

for _, e in ipairs(M.endpoints) do define(e) end

--- Nothing is held between requests; close exists for symmetry (and <close>).
function Client.close()
  return true
end

Client_mt.__close = function() end
Client_mt.__tostring = function(self)
  return string.format("vmlua.CHAPI (%s)", self.path)
end

--- A client for the API socket at `path`. opts: timeout (seconds per
-- request, default DEFAULT_TIMEOUT). No connection is made here.
function M.new(path, opts)
  if type(path) ~= "string" or path == "" then
    error(string.format("bad argument #1 to 'new' (socket path expected, got %s)", type(path)), 2)
  end
  opts = check_opts(opts, { timeout = true }, "new")
  return setmetatable({ path = path, timeout = opts.timeout or M.DEFAULT_TIMEOUT }, Client_mt)
end

return M
