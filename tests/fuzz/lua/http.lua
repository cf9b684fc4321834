--- Fuzz target: vmlua.http reading one HTTP/1.1 response (status line,
-- headers, interim 1xx responses, bodies framed by chunked encoding,
-- Content-Length or the close), and vmlua.chapi turning it into a result.
-- The input is the server's whole reply.
-- cloud-hypervisor replies are short:
-- fuzz-options: -max_len=4096
local http = require "vmlua.http"
local chapi = require "vmlua.chapi"
local peer = require "support.peer"

local KINDS = { closed = true, protocol = true, timeout = true }

local function check_response(res)
  assert(math.type(res.status) == "integer" and res.status >= 200 and res.status <= 999, "status")
  assert(type(res.reason) == "string" and type(res.version) == "string")
  assert(type(res.body) == "string" and #res.body <= http.MAX_BODY, "body within MAX_BODY")
  for k, v in pairs(res.headers) do
    assert(type(k) == "string" and k == k:lower() and type(v) == "string", "headers are lower-case strings")
  end
end

return function(data)
  local server = peer.serve(data)
  local res, err, kind = http.request("@fuzz", { method = "GET", target = "/api/v1/vm.info", timeout = 5 })
  if res then
    check_response(res)
  else
    assert(type(err) == "string" and KINDS[kind], "a failure is nil, message, kind")
  end
  server:close()

  server = peer.serve(data)
  local api = chapi.new("@fuzz", { timeout = 5 })
  local v, cerr, status = api:info()
  if v == nil then
    assert(type(cerr) == "string" and cerr:sub(1, 9) == "vm.info: ", "chapi names the endpoint")
    assert(math.type(status) == "integer" or KINDS[status], "status or transport kind")
  else
    assert(v == true or type(v) == "table" or type(v) == "string" or type(v) == "number" or type(v) == "boolean"
           or v == require("vmlua.core").json.null, "a decoded body")
  end
  server:close()
end
