-- Shared set-up for every spec (loaded by busted through .busted "helper").
-- Specs reach these functions with `local H = require "support.h"`.
local core = require "vmlua.core"

-- Under the asan flavour the sanitizer runtime is preloaded into lua5.4;
-- children (QEMU, virtiofsd, fakes) must not inherit it.
if os.getenv("VMLUA_ASAN_PRELOAD") and core.setenv then
  core.setenv("LD_PRELOAD", nil)
end
