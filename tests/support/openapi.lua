-- A small checker for values against the OpenAPI schemas of
-- tests/fixtures/reference/cloud-hypervisor-openapi.yaml: $ref, type, required,
-- enum, minimum, properties (strict: a key the schema does not list is an
-- error, so a misspelt JSON key is caught), items, additionalProperties.
--
-- The YAML is read with lyaml, which Debian's lua-yaml package provides; it
-- is installed with lua-busted (lua-busted -> lua-cliargs -> lua-yaml), so
-- the packages in tests/deps.sh bring it.
local lyaml = require "lyaml"

local M = {}

function M.load(path)
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  local doc = lyaml.load(f:read("a"))
  f:close()
  return doc
end

local is_array = require("vmlua.schema").is_array

local function resolve(doc, ref)
  local name = ref:match("^#/components/schemas/(.+)$")
  assert(name, "unsupported $ref " .. ref)
  return assert(doc.components.schemas[name], "no schema " .. name), name
end

local function check(doc, schema, value, path, errs)
  if schema["$ref"] then schema = resolve(doc, schema["$ref"]) end
  local function err(fmt, ...) errs[#errs + 1] = path .. ": " .. string.format(fmt, ...) end
  if schema.enum then
    local found = false
    for _, e in ipairs(schema.enum) do if e == value then found = true end end
    if not found then err("%s is not one of %s", tostring(value), table.concat(schema.enum, ", ")) end
  end
  local t = schema.type
  if t == "object" then
    if type(value) ~= "table" or (next(value) ~= nil and is_array(value)) then
      return err("expected an object, got %s", type(value))
    end
    for _, k in ipairs(schema.required or {}) do
      if value[k] == nil then err("required key %s missing", k) end
    end
    for k, v in pairs(value) do
      local p = schema.properties and schema.properties[k]
      if p then
        check(doc, p, v, path .. "." .. tostring(k), errs)
      elseif schema.additionalProperties then
        check(doc, schema.additionalProperties, v, path .. "." .. tostring(k), errs)
      else
        err("key %s is not in the schema", tostring(k))
      end
    end
  elseif t == "array" then
    if type(value) ~= "table" or not is_array(value) then return err("expected an array, got %s", type(value)) end
    if #value == 0 then err("empty array (would encode as {} without marking)") end
    for i, v in ipairs(value) do check(doc, schema.items, v, path .. "[" .. i .. "]", errs) end
  elseif t == "integer" then
    if math.type(value) ~= "integer" then return err("expected an integer, got %s", math.type(value) or type(value)) end
    if schema.minimum and value < schema.minimum then err("%d is below the minimum %d", value, schema.minimum) end
  elseif t == "string" then
    if type(value) ~= "string" then err("expected a string, got %s", type(value)) end
  elseif t == "boolean" then
    if type(value) ~= "boolean" then err("expected a boolean, got %s", type(value)) end
  elseif t ~= nil then
    err("unsupported schema type %s", t)
  end
end

--- Errors (a list of "path: message") of `value` against schema `name`.
function M.errors(doc, name, value)
  local errs = {}
  check(doc, { ["$ref"] = "#/components/schemas/" .. name }, value, name, errs)
  return errs
end

return M
