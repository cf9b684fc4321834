--- A tiny fake HTTP server for tests/unit/chapi_spec.lua, run as a child:
--
--     lua5.4 tests/support/fake_http_server.lua SOCKET MODE
--
-- It listens on SOCKET, prints "ready", then answers every request the
-- same way, by MODE (what cloud-hypervisor's micro_http never does):
--   echo          200, JSON: { method, target, headers, body, fds } of the request
--   not-json      200 with a text body
--   empty-200     200, Content-Length: 0
--   chunked       200, a chunked JSON body in several writes (extension, trailer)
--   chunked-error 500, a chunked error chain
--   no-length     200, a JSON body ended by closing the connection
--   continue      100 Continue, then 204
--   text-error    500 with a text body
--   object-error  400 with micro_http's { "error": "..." } body
--   not-http      a line that is not HTTP, then close
--   bad-header    a malformed header line
--   bad-length    Content-Length: abc
--   huge-length   a Content-Length over the client's limit
--   bad-chunk     a chunk size that is not hex
--   close-early   half a body, then close
--   close-before  reads the request, closes without a response
--   hang          reads the request, never answers
-- Hostile servers, which never stop sending (until the client leaves):
--   endless-continue   "100 Continue" responses
--   endless-trailers   a chunked 200 whose trailer lines never end
--   endless-header     a header line that never ends
--   endless-body       a 200 without Content-Length whose body never ends
--   endless-body-te    the same with "Transfer-Encoding: gzip" (not chunked)
--   endless-chunks     a chunked body of small chunks that never ends
--   max-body           a 200 whose body, ended by the close, is 8 MiB (the limit)
local core = require "vmlua.core"
local json = core.json

local path, mode = arg[1], arg[2]

local idle = core.socket.pair()
local function pause(t) idle:recv(1, t) end

--- Read one request: method, target, headers, body, number of fds.
local function read_request(s)
  local buf, nfds = "", 0
  local function more()
    local data, fds = s:recv_fds(65536)
    if not data then return false end
    for _, fd in ipairs(fds) do core.fs.close(fd) end
    nfds = nfds + #fds
    buf = buf .. data
    return true
  end
  while not buf:find("\r\n\r\n", 1, true) do
    if not more() then return nil end
  end
  local head_end = buf:find("\r\n\r\n", 1, true)
  local head = buf:sub(1, head_end - 1)
  buf = buf:sub(head_end + 4)
  local lines = {}
  for l in (head .. "\r\n"):gmatch("(.-)\r\n") do lines[#lines + 1] = l end
  local method, target = lines[1]:match("^(%S+) (%S+) HTTP/1%.1$")
  local headers = {}
  for i = 2, #lines do
    local k, v = lines[i]:match("^([^:]+): (.*)$")
    headers[#headers + 1] = k .. ": " .. v
    if k:lower() == "content-length" then headers.length = tonumber(v) end
  end
  local n = headers.length or 0
  while #buf < n do
    if not more() then return nil end
  end
  headers.length = nil
  return { method = method, target = target, headers = headers, body = buf:sub(1, n), fds = nfds }
end

local function respond(s, status, body, extra)
  local h = { "HTTP/1.1 " .. status .. " " }
  for _, x in ipairs(extra or {}) do h[#h + 1] = x end
  if body then h[#h + 1] = "Content-Length: " .. #body end
  s:send(table.concat(h, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

--- Send head once, then chunk until the client leaves.
local function flood(s, head, chunk)
  if s:send(head) then
    while s:send(chunk) do end
  end
end

local FLOODS = {
  ["endless-continue"] = { "", string.rep("HTTP/1.1 100 Continue\r\n\r\n", 2000) },
  ["endless-trailers"] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n",
                           string.rep("X-Trailer: more\r\n", 4000) },
  ["endless-header"] = { "HTTP/1.1 200 OK\r\nX-Long: ", string.rep("a", 65536) },
  ["endless-body"] = { "HTTP/1.1 200 OK\r\n\r\n", string.rep("b", 65536) },
  ["endless-body-te"] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", string.rep("c", 65536) },
  ["endless-chunks"] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", string.rep("1\r\nd\r\n", 8000) },
}

local function serve(s)
  local req = read_request(s)
  if not req then return end
  if FLOODS[mode] then
    flood(s, FLOODS[mode][1], FLOODS[mode][2])
  elseif mode == "max-body" then
    if s:send("HTTP/1.1 200 OK\r\n\r\n") then
      for _ = 1, 128 do s:send(string.rep("m", 65536)) end
    end
  elseif mode == "echo" then
    respond(s, 200, json.encode(req), { "Content-Type: application/json" })
  elseif mode == "not-json" then
    respond(s, 200, "hello, this is not JSON", { "Content-Type: text/plain" })
  elseif mode == "empty-200" then
    respond(s, 200, "")
  elseif mode == "chunked" or mode == "chunked-error" then
    local body = mode == "chunked" and '{"state": "Running", "list": [1, 2, 3]}'
                 or '["Error from API", "The VM could not boot", "VM is not created"]'
    s:send("HTTP/1.1 " .. (mode == "chunked" and "200 OK" or "500 Internal Server Error")
           .. "\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    local a, b = body:sub(1, 10), body:sub(11)
    s:send(string.format("%x;ext=1\r\n%s\r\n", #a, a))
    pause(0.05)
    s:send(string.format("%X\r\n%s\r\n", #b, b))
    pause(0.05)
    s:send("0\r\nX-Trailer: yes\r\n\r\n")
  elseif mode == "no-length" then
    s:send('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"until": "close"}')
  elseif mode == "continue" then
    s:send("HTTP/1.1 100 Continue\r\n\r\n")
    pause(0.02)
    s:send("HTTP/1.1 204 No Content\r\n\r\n")
  elseif mode == "text-error" then
    respond(s, 500, "boom\n", { "Content-Type: text/plain" })
  elseif mode == "object-error" then
    respond(s, 400, '{ "error": "Invalid request.\\nAll previous unanswered requests will be dropped." }')
  elseif mode == "not-http" then
    s:send("SSH-2.0-OpenSSH_9.2\r\n")
  elseif mode == "bad-header" then
    s:send("HTTP/1.1 200 OK\r\nthis is no header\r\n\r\n")
  elseif mode == "bad-length" then
    s:send("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n")
  elseif mode == "huge-length" then
    s:send("HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n")
  elseif mode == "bad-chunk" then
    s:send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
  elseif mode == "close-early" then
    s:send('HTTP/1.1 200 \r\nContent-Length: 100\r\n\r\n{"partial')
  elseif mode == "close-before" then -- luacheck: ignore 542
  elseif mode == "hang" then
    while s:recv(65536) do end
  end
end

local listener = assert(core.socket.listen(path))
io.stdout:write("ready\n")
io.stdout:flush()
while true do
  local s = listener:accept()
  if s then
    serve(s)
    s:close()
  end
end
