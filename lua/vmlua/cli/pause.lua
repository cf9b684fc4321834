--- vmlua pause ID: pause a sandbox's VM (QMP stop / cloud-hypervisor vm.pause).
local ctl = require "vmlua.cli.control_socket"

return ctl.pause_resume_command("pause")
