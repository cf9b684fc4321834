-- The debug additions of Kata's 2019 cloud-hypervisor driver
-- (clhDebugKernelParams): merge them into a base set.
--
--   params.load("kata-clh"):merge(params.load("kata-clh-debug"))
return {
  { "console", "ttyS0,115200n8" },     -- kernel console on the first serial port
  { "systemd.log_level", "debug" },    -- systemd's debug output
  { "systemd.log_target", "console" }, -- ... sent to the console
  { "initcall_debug", "1" },           -- print the timing of every kernel init call
}
