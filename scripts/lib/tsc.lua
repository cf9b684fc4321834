--- The host's TSC frequency in kHz, for `tsc_early_khz=` on guests that
-- run under TCG: there the guest TSC ticks at the host's rate, and a
-- microvm guest without a PIT-calibrated TSC can hang at boot on a busy host
-- (see tests/guest/README.md). Returns nil when /proc/cpuinfo does not say.
local M = {}

function M.host_khz(cpuinfo)
  local text = cpuinfo
  if not text then
    local f = io.open("/proc/cpuinfo", "r")
    if not f then return nil end
    text = f:read("a")
    f:close()
  end
  local mips = text:match("\nbogomips%s*:%s*([%d%.]+)") or text:match("^bogomips%s*:%s*([%d%.]+)")
  if not mips then return nil end
  -- BogoMIPS on x86 is 2 * the calibrated TSC frequency in MHz
  return math.floor(tonumber(mips) * 500)
end

return M
