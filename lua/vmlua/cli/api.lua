--- vmlua api ID ENDPOINT [JSON-BODY]: one cloud-hypervisor REST call.
local cli = require "vmlua.cli"
local ctl = require "vmlua.cli.control_socket"

local function endpoint_names()
  local chapi = require "vmlua.chapi"
  local names = {}
  for _, e in ipairs(chapi.endpoints) do names[#names + 1] = e.path end
  for _, e in ipairs(chapi.endpoints) do names[#names + 1] = e.name end
  return names
end

local function endpoint_list()
  local chapi = require "vmlua.chapi"
  local lines, line = {}, " "
  for _, e in ipairs(chapi.endpoints) do
    local item = " " .. e.path .. (e.body and "*" or "")
    if #line + #item > 78 then lines[#lines + 1] = line; line = " " end
    line = line .. item
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

return {
  summary = "send one REST call to a cloud-hypervisor sandbox and print the reply",
  usage = "api {ID | --socket PATH} ENDPOINT [JSON-BODY]",
  description = table.concat({
    "Calls ENDPOINT on the sandbox's cloud-hypervisor API socket (GET for vmm.ping,",
    "vm.info and vm.counters, PUT for the rest) with JSON-BODY (a JSON object) and",
    "prints the JSON reply pretty; a reply without a body (204) prints nothing.",
    "ENDPOINT is a REST name (vm.info, vm.power-button) or the vmlua.chapi method",
    "name (info, power_button). Endpoints (* takes a JSON-BODY, required):",
    endpoint_list(),
    "",
    "Exit status: 0 on success; 1 when cloud-hypervisor answers with an error",
    "(printed as 'vm.boot: 500 Internal Server Error: ...'), the socket cannot be",
    "reached or no reply arrives in time; 2 for an unknown sandbox, a sandbox that",
    "is not cloud-hypervisor's, an unknown endpoint or malformed JSON-BODY.",
    "",
    "Examples:",
    "  vmlua api demo vm.info",
    "  vmlua api demo vm.resize '{\"desired_vcpus\":2}'",
    "  vmlua api --socket /run/vmlua/demo/api.sock vmm.ping",
  }, "\n"),
  args = {},
  variadic = true,
  options = ctl.options(),
  run = function(opts, pos)
    local chapi = require "vmlua.chapi"
    local t, rest = ctl.target("api", opts, pos, "api")
    local name, body_text = ctl.verb_and_json("api", rest, "ENDPOINT", "JSON-BODY")
    local e = chapi.endpoint(name)
    if not e then
      local near = ctl.suggest(name, endpoint_names())
      cli.usage(string.format("api: unknown endpoint '%s'%s", name,
                              near and (" (did you mean '" .. near .. "'?)") or " (see 'vmlua help api')"))
    end
    local body
    if body_text then
      if not e.body then cli.usage(string.format("api: %s takes no JSON-BODY", e.path)) end
      body = ctl.json_object("api", "JSON-BODY", body_text)
    elseif e.body then
      cli.usage(string.format("api: %s needs a JSON-BODY", e.path))
    end
    local api = chapi.new(t.socket, { timeout = t.timeout })
    local res, err = api:call(e.path, body)
    if res == nil then ctl.fail(t, err) end
    if res ~= true then ctl.print_json(res) end
    return 0
  end,
}
