-- Kernel parameters of Kata Containers' 2019 cloud-hypervisor driver
-- (virtcontainers/clh.go, clhKernelParams), for a guest whose root file
-- system is the first virtio-blk disk.
--
--   params.load("kata-clh"):merge(params.load("kata-clh-debug"))
return {
  { "root", "/dev/vda1" },       -- the root file system: first partition of the first virtio-blk disk
  { "panic", "1" },              -- on a kernel panic, reboot after 1 second
  "no_timer_check",              -- do not check for broken timer IRQ routing (slow and unreliable in a VM)
  "noreplace-smp",               -- do not patch SMP instructions to UP ones (vCPUs may be hot-added)
  { "agent.log_vport", "1025" }, -- the Kata agent sends its logs to vsock port 1025
}
