-- The newcomer's entry points: the README's two commands as CI reads them
-- (.ci/readme-commands), ./bootstrap's usage, tests/deps.sh without root or
-- sudo, .ci/run without root; the message of each error. Installing into a
-- pristine Debian and running the two commands there is CI's job (.ci/run).
local core = require "vmlua.core"
local H = require "support.h"
local P = require "support.proc"

--- Run argv to completion: exit code (nil if it did not exit), stdout+stderr.
local function run(argv, opts)
  opts = opts or {}
  opts.stderr = "stdout"
  local out, how, code = P.output(argv, opts)
  return how == "exited" and code or nil, out
end

--- argv run as nobody when we are root (as ourselves otherwise): a user
-- without root.
local function as_user(argv)
  if core.getuid() ~= 0 then return argv end
  return { assert(core.fs.which("setpriv")), "--reuid=65534", "--regid=65534", "--clear-groups", table.unpack(argv) }
end

local MARKER = "<!-- .ci/run runs the lines of the next block, in order, as written -->"

describe(".ci/readme-commands", function()
  after_each(function() H.cleanup_tmp() end)

  it("prints the README's two commands: ./bootstrap with the demo and test-all make targets", function()
    local code, out = run({ H.root .. "/.ci/readme-commands" })
    assert.are.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(2, #lines, out)
    assert.truthy(lines[1]:find("^%./bootstrap demo "), lines[1])
    assert.truthy(lines[2]:find("^%./bootstrap test%-all "), lines[2])
    local makefile = assert(H.read(H.root .. "/Makefile"))
    for _, target in ipairs({ "demo", "test-all" }) do
      assert.truthy(makefile:find("\n" .. target .. ":", 1, true), target)
    end
    assert.is_true(core.fs.access(H.root .. "/bootstrap", "rx"))
  end)

  local cases = {
    { "no marker", "# Title\n```sh\na\nb\n```\n", 'no marker line "<!-- .ci/run runs the lines of the next block"' },
    { "no block", MARKER .. "\n\nthe end\n", "line 3: text between the marker and its block" },
    { "end of file after the marker", MARKER .. "\n", "no fenced block after the marker" },
    { "an unclosed block", MARKER .. "\n```sh\na\nb\n", "the block after the marker is not closed" },
    { "one command", MARKER .. "\n```sh\n./bootstrap demo\n```\n", "the block after the marker holds 1 commands, not 2" },
    { "three commands", MARKER .. "\n```sh\na\nb\nc\n```\n", "the block after the marker holds 3 commands, not 2" },
  }
  for _, c in ipairs(cases) do
    it("exits 1 naming the problem: " .. c[1], function()
      local readme = H.tmpdir() .. "/README.md"
      H.write(readme, c[2])
      local code, out = run({ H.root .. "/.ci/readme-commands", readme })
      assert.are.same({ 1, "readme-commands: " .. readme .. ": " .. c[3] .. "\n" }, { code, out })
    end)
  end

  it("exits 1 when the README cannot be read", function()
    local code, out = run({ H.root .. "/.ci/readme-commands", "/nonexistent/README.md" })
    assert.are.same({ 1, "readme-commands: cannot read /nonexistent/README.md\n" }, { code, out })
  end)
end)

describe("./bootstrap", function()
  it("without a target prints its usage and exits 2, installing nothing", function()
    local code, out = run({ H.root .. "/bootstrap" })
    assert.are.same({ 2, "usage: ./bootstrap TARGET...   (./bootstrap demo, ./bootstrap test-all)\n" }, { code, out })
  end)
end)

describe("tests/deps.sh", function()
  after_each(function() H.cleanup_tmp() end)

  it("without root and without sudo names the missing packages and exits 1", function()
    -- A PATH with what deps.sh uses but no sudo, readable by nobody.
    local bin = H.tmpdir()
    for _, tool in ipairs({ "dpkg-query", "grep", "id", "ls" }) do
      assert.are.equal(0, (run({ "ln", "-s", assert(core.fs.which(tool)), bin .. "/" .. tool })))
    end
    assert.are.equal(0, (run({ "chmod", "0755", bin })))
    local code, out = run(as_user({ "/bin/bash", H.root .. "/tests/deps.sh", "vmlua-no-such-package" }),
      { env_clear = true, env = { PATH = bin } })
    assert.are.equal(1, code, out)
    assert.truthy(out:find("^deps: missing packages: vmlua%-no%-such%-package\n"), out)
    assert.truthy(out:find("\ndeps: apt%-get needs root: run this again as root, or install sudo\n$"), out)
  end)
end)

describe(".ci/run", function()
  it("without root says it needs root and still ends with the summary line CI reads", function()
    local code, out = run(as_user({ H.root .. "/.ci/run" }))
    assert.are.same({ 1, "ci: error: needs root (debootstrap, chroot, mounts)\n0 passed, 1 failed\n" }, { code, out })
  end)
end)
