--- The error object of QEMU's QAPI protocols (QMP and the guest agent):
-- `{ "class": "GenericError", "desc": "..." }`, read without trusting the
-- peer that sent it.
local M = {}

--- `desc, class` of an error reply. QEMU's classes are CamelCase words;
-- anything else is "GenericError", so a peer can never pass for vmlua's own
-- failure classes ("timeout", "disconnected", "notfound", ...).
function M.error(err)
  if type(err) ~= "table" then return "malformed error reply", "GenericError" end
  local class = type(err.class) == "string" and err.class:match("^%u%w*$") or "GenericError"
  local desc = type(err.desc) == "string" and err.desc or "(no description)"
  return desc, class
end

return M
