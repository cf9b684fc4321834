-- The default x86 command line of the newest Kata Containers
-- cloud-hypervisor driver (non-debug, ext4 root image, no IOMMU):
-- root parameters, clhKernelParams, then `quiet`.
return {
  { "root", "/dev/vda1" },                            -- root file system on the first virtio-blk disk
  { "rootflags", "data=ordered,errors=remount-ro" },  -- ext4: ordered journaling; remount read-only on errors
  "ro",                                               -- mount the root read-only
  { "rootfstype", "ext4" },                           -- do not probe file system types
  { "panic", "1" },                                   -- on a kernel panic, reboot after 1 second
  "no_timer_check",                                   -- skip the timer IRQ routing check
  "noreplace-smp",                                    -- keep SMP instructions (vCPU hot-plug)
  "quiet",                                            -- only warnings and errors on the console
}
