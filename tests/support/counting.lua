-- busted output handler: gtest-style output, plus a counts file that
-- tests/run adds up (VMLUA_TEST_COUNTS). Pending tests count as failed:
-- a skipped case is a defect.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.gtest")(options)
  busted.subscribe({ "suite", "end" }, function()
    local path = os.getenv("VMLUA_TEST_COUNTS")
    if path then
      local f = assert(io.open(path, "w"))
      local failed = handler.failuresCount + handler.errorsCount + handler.pendingsCount
      f:write(string.format("%d %d\n", handler.successesCount, failed))
      f:close()
    end
    return nil, true
  end)
  return handler
end
