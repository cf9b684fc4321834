-- A serial-console set for small QEMU guests (a busybox initramfs), tuned
-- for TCG, where every probe and calibration costs real time.
--
--   params.load("qemu-serial"):set("quiet")
return {
  -- Kernel messages and /dev/console on the first 8250 UART, which QEMU's
  -- -serial / -nographic connect to stdio, a file or a socket.
  { "console", "ttyS0" },
  -- Reboot at once on a panic instead of hanging; with QEMU's -no-reboot the
  -- reboot becomes an exit, so a crashed guest ends the VM.
  { "panic", "-1" },
  -- Reboot by triple fault: works on every machine type without ACPI or the
  -- keyboard controller, so a `reboot` in the guest reliably ends the VM.
  { "reboot", "t" },
  -- Skip the IO-APIC timer check: under TCG the timer interrupt can arrive
  -- late enough to fail it (then the kernel falls back to slower paths).
  "no_timer_check",
  -- Register only the one UART that exists instead of probing four.
  { "8250.nr_uarts", "1" },
  -- Trust the TSC and skip the clocksource watchdog, whose comparisons
  -- misfire under emulation and log "clocksource unstable" warnings.
  { "tsc", "reliable" },
  -- Do not probe for a PS/2 mouse (AUX port): the probe waits for timeouts.
  "i8042.noaux",
  -- Skip the crypto self-tests at boot: pure CPU work, slow under TCG.
  "cryptomgr.notests",
}
