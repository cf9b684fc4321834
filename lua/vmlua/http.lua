--- vmlua.http: a minimal HTTP/1.1 client over a unix socket, for
-- cloud-hypervisor's REST API (vmlua.chapi builds on it).
--
--     local http = require "vmlua.http"
--     local res, err, kind = http.request("/run/vmlua/x/api.sock", {
--       method = "PUT", target = "/api/v1/vm.boot", timeout = 5 })
--     -- res = { status = 204, reason = "", version = "1.1", headers = {...}, body = "" }
--
-- One connection per request: it is opened, the request is written (with
-- fds by SCM_RIGHTS in the same sendmsg when asked), one response is read
-- and the connection is closed. The timeout covers all of it.
--
-- Responses: the body is framed by "Transfer-Encoding: chunked", else by
-- Content-Length, else by the end of the connection; none for HEAD, 1xx, 204
-- and 304. Interim 1xx responses are skipped. Header names are lower-cased;
-- repeated headers are joined with ", ".
--
-- Failures return nil, message, kind: "connect" (plus errno), "timeout",
-- "closed" (the connection ended before a whole response) or "protocol"
-- (what came back is not HTTP/1.x).
local core = require "vmlua.core"

local M = {}

M.DEFAULT_TIMEOUT = 30
--- Limits on what a server can make us hold: a body (however it is framed;
-- cloud-hypervisor's replies are a few KiB), a status, header, chunk-size
-- or trailer line, and the header or trailer lines of one response.
M.MAX_BODY = 8 * 1024 * 1024
M.MAX_HEADER_LINE = 16 * 1024
M.MAX_HEADERS = 128

local deadline_mod = require "vmlua.deadline"
local remaining = deadline_mod.remaining

local function excerpt(s, max)
  max = max or 80
  if #s > max then s = s:sub(1, max) .. "..." end
  return (s:gsub("[%c]", "?"))
end

--- A reader that turns the core Socket's failures into this module's.
-- Every read checks the deadline first, so a server that keeps sending
-- (interim responses, trailers, chunks) cannot keep us past it, and none
-- buffers more than its limit.
local function reader(sock, deadline, seconds)
  local r = {}
  local function fail(err, errno)
    if err == "timeout" then
      return nil, string.format("no complete response within %g s", seconds), "timeout"
    end
    if err == "eof" then
      return nil, "the server closed the connection before a complete response", "closed"
    end
    if errno == core.errno.EMSGSIZE then
      return nil, string.format("a body of more than %d bytes", M.MAX_BODY), "protocol"
    end
    return nil, "reading the response: " .. tostring(err), "closed"
  end
  local function overdue()
    return deadline_mod.expired(deadline)
  end
  function r.line()
    if overdue() then return fail("timeout") end
    local line, err = sock:read_line(remaining(deadline), M.MAX_HEADER_LINE + 1)
    if not line then return fail(err) end
    if #line > M.MAX_HEADER_LINE then
      return nil, string.format("a response line of more than %d bytes", M.MAX_HEADER_LINE), "protocol"
    end
    return line
  end
  function r.bytes(n)
    if n == 0 then return "" end
    if overdue() then return fail("timeout") end
    local data, err = sock:read(n, remaining(deadline))
    if not data then return fail(err) end
    return data
  end
  function r.rest()
    if overdue() then return fail("timeout") end
    local data, err, errno = sock:read_all(remaining(deadline), M.MAX_BODY)
    if not data then return fail(err, errno) end
    return data
  end
  return r
end

--- Status line: version, status, reason; or nil, message, "protocol".
local function parse_status(line)
  local major, minor, code, reason = line:match("^HTTP/(%d)%.(%d) (%d%d%d)(.*)$")
  if not major or major ~= "1" or (reason ~= "" and reason:sub(1, 1) ~= " ") then
    return nil, string.format("not an HTTP/1.x response: '%s'", excerpt(line)), "protocol"
  end
  return major .. "." .. minor, tonumber(code), reason:gsub("^ ", "")
end

local function read_headers(r)
  local headers, count = {}, 0
  while true do
    local line, err, kind = r.line()
    if not line then return nil, err, kind end
    if line == "" then return headers end
    count = count + 1
    if count > M.MAX_HEADERS then
      return nil, string.format("more than %d response headers", M.MAX_HEADERS), "protocol"
    end
    local name, value = line:match("^([!#$%%&'*+%-.^_`|~%w]+):[ \t]*(.-)[ \t]*$")
    if not name then
      return nil, string.format("malformed response header line: '%s'", excerpt(line)), "protocol"
    end
    name = name:lower()
    if headers[name] and name == "content-length" and headers[name] ~= value then
      return nil, "conflicting Content-Length headers", "protocol"
    end
    headers[name] = headers[name] and name ~= "content-length" and (headers[name] .. ", " .. value) or value
  end
end

local function read_chunked(r)
  local parts, total = {}, 0
  while true do
    local line, err, kind = r.line()
    if not line then return nil, err, kind end
    local hex = line:match("^(%x+)[ \t]*;") or line:match("^(%x+)[ \t]*$")
    if not hex or #hex > 15 then
      return nil, string.format("malformed chunk size line: '%s'", excerpt(line)), "protocol"
    end
    local n = tonumber(hex, 16)
    if n == 0 then break end
    total = total + n
    if total > M.MAX_BODY then
      return nil, string.format("a chunked body over %d bytes", M.MAX_BODY), "protocol"
    end
    local data, derr, dkind = r.bytes(n)
    if not data then return nil, derr, dkind end
    parts[#parts + 1] = data
    local crlf, cerr, ckind = r.line()
    if not crlf then return nil, cerr, ckind end
    if crlf ~= "" then return nil, "a chunk not followed by CRLF", "protocol" end
  end
  -- Trailer fields (ignored) up to the empty line.
  for count = 1, math.huge do
    local line, err, kind = r.line()
    if not line then return nil, err, kind end
    if line == "" then break end
    if count > M.MAX_HEADERS then
      return nil, string.format("more than %d trailer lines", M.MAX_HEADERS), "protocol"
    end
  end
  return table.concat(parts)
end

local function read_body(r, method, status, headers)
  if method == "HEAD" or status < 200 or status == 204 or status == 304 then return "" end
  local te = headers["transfer-encoding"]
  if te then
    if te:lower():match("chunked%s*$") then return read_chunked(r) end
    return r.rest()
  end
  local cl = headers["content-length"]
  if cl then
    if not cl:match("^%d+$") or #cl > 15 then
      return nil, string.format("invalid Content-Length '%s'", excerpt(cl)), "protocol"
    end
    local n = tonumber(cl)
    if n > M.MAX_BODY then
      return nil, string.format("a body of %d bytes (more than %d)", n, M.MAX_BODY), "protocol"
    end
    return r.bytes(n)
  end
  return r.rest()
end

--- Read one final response with reader r (skipping interim 1xx ones).
local function read_response(r, method)
  while true do
    local line, err, kind = r.line()
    if not line then return nil, err, kind end
    local version, status, reason = parse_status(line)
    if not version then return nil, status, reason end
    local headers, herr, hkind = read_headers(r)
    if not headers then return nil, herr, hkind end
    if status >= 200 then
      local body, berr, bkind = read_body(r, method, status, headers)
      if not body then return nil, berr, bkind end
      return { status = status, reason = reason, version = version, headers = headers, body = body }
    end
  end
end

--- The request's text.
local function render(req)
  local lines = { string.format("%s %s HTTP/1.1", req.method, req.target), "Host: localhost" }
  local body = req.body
  for _, h in ipairs(req.headers or {}) do lines[#lines + 1] = h end
  if body ~= nil then
    lines[#lines + 1] = "Content-Length: " .. #body
  elseif req.method == "PUT" or req.method == "POST" then
    lines[#lines + 1] = "Content-Length: 0"
  end
  lines[#lines + 1] = "Connection: close"
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local REQUEST_KEYS = { method = true, target = true, headers = true, body = true, fds = true, timeout = true }

local function check_request(req)
  if type(req) ~= "table" then error("bad argument #2 to 'request' (table expected)", 3) end
  for k in pairs(req) do
    if not REQUEST_KEYS[k] then
      error(string.format("bad argument #2 to 'request' (unknown field '%s')", tostring(k)), 3)
    end
  end
  if type(req.method) ~= "string" or not req.method:match("^[A-Z]+$") then
    error("bad argument #2 to 'request' (method must be an upper-case word)", 3)
  end
  if type(req.target) ~= "string" or not req.target:match("^/[^%s%c]*$") then
    error("bad argument #2 to 'request' (target must be a path starting with '/', without spaces)", 3)
  end
  if req.body ~= nil and type(req.body) ~= "string" then
    error("bad argument #2 to 'request' (body must be a string)", 3)
  end
  if req.headers ~= nil then
    if type(req.headers) ~= "table" then error("bad argument #2 to 'request' (headers must be an array)", 3) end
    for _, h in ipairs(req.headers) do
      if type(h) ~= "string" or not h:match("^[%w%-]+: [^\r\n]*$") then
        error("bad argument #2 to 'request' (headers must be 'Name: value' strings)", 3)
      end
    end
  end
  if req.fds ~= nil and (type(req.fds) ~= "table" or #req.fds == 0) then
    error("bad argument #2 to 'request' (fds must be a non-empty array)", 3)
  end
  local t = req.timeout
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then
    error("bad argument #2 to 'request' (timeout must be a number >= 0)", 3)
  end
end

--- Send one request on a new connection to the unix socket `path` and read
-- the response. req: method, target, headers (array of "Name: value"),
-- body (string), fds (array sent by SCM_RIGHTS with the request), timeout.
-- Returns { status, reason, version, headers, body } or nil, message, kind[, errno].
function M.request(path, req)
  if type(path) ~= "string" then error("bad argument #1 to 'request' (socket path expected)", 2) end
  check_request(req)
  local seconds = req.timeout or M.DEFAULT_TIMEOUT
  local deadline = deadline_mod.after(seconds)
  local sock, cerr, errno = core.socket.connect(path, seconds)
  if not sock then
    if cerr == "timeout" then
      return nil, string.format("connect %s: no answer within %g s", path, seconds), "timeout"
    end
    return nil, tostring(cerr), "connect", errno
  end
  local text = render(req)
  local ok, serr
  if req.fds then
    ok, serr = sock:send_fds(text, req.fds, remaining(deadline))
  else
    ok, serr = sock:send(text, remaining(deadline))
  end
  if not ok then
    sock:close()
    if serr == "timeout" then
      return nil, string.format("the request could not be sent within %g s", seconds), "timeout"
    end
    return nil, "sending the request: " .. tostring(serr), "closed"
  end
  local r = reader(sock, deadline, seconds)
  local res, err, kind = read_response(r, req.method)
  sock:close()
  return res, err, kind
end

M.excerpt = excerpt

return M
