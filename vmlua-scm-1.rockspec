rockspec_format = "3.0"
package = "vmlua"
version = "scm-1"
source = {
   url = "git+file:///vmlua.git",
}
description = {
   summary = "A Lua-scriptable VM launcher for QEMU and cloud-hypervisor",
   detailed = [[
vmlua launches and supervises QEMU or cloud-hypervisor virtual machines and
their helpers (virtiofsd) from Lua recipes. A small C core (vmlua.core) does
process spawning, signals, socket waits and crash-safe state files; the Lua
library provides the hypervisor builders, QMP and REST clients and the
sandbox lifecycle. This rock installs the vmlua executable, vmlua.core and
the Lua modules.
]],
   license = "Apache-2.0",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   JSONC = { header = "json-c/json.h", library = "json-c" },
   LIBBSD = { header = "bsd/string.h", library = "bsd" },
}
build = {
   type = "make",
   build_target = "lib",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LIBFLAG = "$(LIBFLAG)",
      LUA_INCDIR = "$(LUA_INCDIR)",
   },
   install_target = "install",
   install_variables = {
      PREFIX = "$(PREFIX)",
      BINDIR = "$(BINDIR)",
      LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
   },
}
test_dependencies = {
   "busted",
}
test = {
   type = "busted",
}
