--- vmlua snapshot ID DIR: save a running sandbox into DIR
-- (vmlua.sandbox.control.snapshot does it; this prints how it went).
local cli = require "vmlua.cli"
local common = require "vmlua.cli.common"
local control = require "vmlua.sandbox.control"

return {
  summary = "save a running sandbox (without shares) into a dir, to start it again with run --restore",
  usage = "snapshot ID DIR [--stop] [--timeout SEC]",
  description = table.concat({
    "Pauses the VM, saves it into DIR (a new or empty dir: the hypervisor's files and",
    "vmlua-snapshot.json, with the fingerprint of the sandbox's config), then resumes it; with",
    "--stop the VM ends instead. 'vmlua run RECIPE --restore DIR' starts it again, from where",
    "it was, in a sandbox of the same config (ids and socket paths may differ).",
    "",
    "A sandbox with shares cannot be saved: virtio-fs needs the guest RAM shared with virtiofsd,",
    "and a vhost-user-fs device cannot be migrated.",
    "",
    "Exit status: 0 saved; 1 the save failed (the sandbox runs on as it was); 2 for an unknown",
    "or stopped sandbox, a sandbox with shares, or a DIR that is not empty.",
  }, "\n"),
  args = { "ID", "DIR" },
  options = {
    { long = "--stop", help = "end the VM once it is saved, instead of resuming it" },
    { long = "--timeout", arg = "SEC", number = true, help = "give up after SEC seconds (default 120)" },
  },
  run = function(opts, pos)
    local res = common.check(control.snapshot(pos[1], pos[2], { stop = opts.stop, timeout = opts.timeout }))
    io.stdout:write(string.format("%s saved in %s (%.1f MiB, %.2f s); %s\n", pos[1], res.dir, res.bytes / 1048576,
                                  res.seconds, res.stopped and "stopped" or "running"))
    return cli.EXIT_OK
  end,
}
