--- vmlua resume ID: resume a paused VM (QMP cont / cloud-hypervisor vm.resume).
local ctl = require "vmlua.cli.control_socket"

return ctl.pause_resume_command("resume")
