--- The former name of vmlua.sandbox.plan, kept for recipes' specs that call
-- `require("vmlua.sandbox.wiring").plan(sb, opts)`.
return require "vmlua.sandbox.plan"
