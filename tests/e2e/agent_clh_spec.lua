-- The guest agent through cloud-hypervisor's hybrid vsock, against the fake
-- cloud-hypervisor (tests/fakes/fake-cloud-hypervisor: its vsock muxer and
-- a QEMU guest agent behind it, docs/fakes.md) with the project's
-- cloud-hypervisor recipe, scripts/recipes/clh-kata.lua: the one-shot run,
-- exec and cp on a detached sandbox, vmlua.testing, the CONNECT handshake
-- while the guest does not listen yet, and a guest without an agent.
local core = require "vmlua.core"
local E = require "support.e2e"
local H = require "support.h"

local RECIPE = H.root .. "/scripts/recipes/clh-kata.lua"
local FAKE = H.fakes .. "/fake-cloud-hypervisor"

-- A world whose fake guest keeps its files under guestroot/.
local function world()
  local w = E.world()
  w.root = w.dir .. "/guestroot"
  assert(core.fs.mkdir(w.root))
  assert(core.fs.mkdir(w.root .. "/tmp"))
  w.env.FAKE_CLH_AGENT_ROOT = w.root
  return w
end

local function recipe_args(w, first, extra)
  local args = first
  for _, a in ipairs { RECIPE, "--set", "clh=" .. FAKE, "--set", "share=" .. w.share, "--set", "guest=" .. H.guest } do
    args[#args + 1] = a
  end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return args
end

local function vmlua(w, ...)
  return E.vmlua(w, { ... })
end

describe("cloud-hypervisor (fake): the one-shot run", function()
  after_each(H.cleanup_tmp)

  it("prints the command's output and exits with its status", function()
    local w = world()
    local code, out, err = E.vmlua(w, recipe_args(w, { "run" }, { "--", "sh", "-c", "echo hi; exit 3" }))
    assert.are.same({ 3, "hi\n" }, { code, out }, err)
    assert.are.equal("agent", E.state(w, "kata").stop.step)
    assert.are.same({}, E.leftovers(w))
  end)

  it("waits through CONNECTs closed without OK until the guest listens", function()
    local w = world()
    local code, out, err = E.vmlua(w, recipe_args(w, { "run" }, { "--", "echo", "late" }),
                                   { env = { FAKE_CLH_AGENT_DELAY_MS = "800" } })
    assert.are.same({ 0, "late\n" }, { code, out }, err)
    assert.is_true(E.state(w, "kata").ready_seconds >= 0.8)
    assert.are.same({}, E.leftovers(w))
  end)

  for _, case in ipairs {
    { agent = "off", what = "nothing listens on the vsock port: the CONNECTs are closed" },
    { agent = "hang", what = "the agent takes the connection and never answers" },
  } do
    it("a guest whose agent never answers (" .. case.what .. "): the probe's hint, 125, nothing left", function()
      local w = world()
      local code, out, err = E.vmlua(w, recipe_args(w, { "run", "--timeout", "1.5" }, { "--", "true" }),
                                     { env = { FAKE_CLH_AGENT = case.agent } })
      assert.are.same({ 125, "" }, { code, out })
      assert.truthy(err:find("ready: agent probe (guest-sync) did not pass within 1.5 s\nhint: is qemu-ga in the "
                             .. "guest, listening on the vsock port", 1, true), err)
      assert.are.same({}, E.leftovers(w))
    end)
  end
end)

describe("cloud-hypervisor (fake): a detached sandbox", function()
  local w
  setup(function()
    w = world()
    local code, out, err = E.vmlua(w, recipe_args(w, { "run", "--detach" }))
    assert.are.same({ 0, "kata\n" }, { code, out }, err)
  end)
  teardown(function()
    vmlua(w, "stop", "kata")
    assert.are.same({}, E.leftovers(w))
    H.cleanup_tmp()
  end)

  it("vmlua exec: output, status, input, not found, timeout", function()
    assert.are.same({ 4, "out\n", "err\n" }, { vmlua(w, "exec", "kata", "--", "sh", "-c", "echo out; echo err >&2; exit 4") })
    local input = w.dir .. "/in"
    H.write(input, "abc\n")
    local r = E.start(w, { "exec", "kata", "-i", "tr", "a-z", "A-Z" }, { stdin = { file = input } })
    assert.are.same({ 0, "ABC\n", "" }, { r:finish() })
    local code, _, err = vmlua(w, "exec", "kata", "no-such-command")
    assert.are.equal(127, code)
    assert.truthy(err:find("not found in the guest", 1, true), err)
    code, _, err = vmlua(w, "exec", "kata", "--timeout", "0.5", "sleep", "30")
    assert.are.same({ 124, "vmlua: exec: 'sleep' did not finish within 0.5 s (killed in the guest)\n" }, { code, err })
  end)

  it("vmlua cp: in and out (under the fake guest's root), and a missing guest file", function()
    H.write(w.dir .. "/f", "through the hybrid vsock\n")
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", w.dir .. "/f", "kata:/tmp/f") })
    assert.are.equal("through the hybrid vsock\n", H.read(w.root .. "/tmp/f"))
    assert.are.same({ 0, "", "" }, { vmlua(w, "cp", "kata:/tmp/f", w.dir .. "/back") })
    assert.are.equal("through the hybrid vsock\n", H.read(w.dir .. "/back"))
    local code, _, err = vmlua(w, "cp", "kata:/nope", w.dir .. "/x")
    assert.are.equal(1, code)
    assert.truthy(err:find("failed to open file '/nope' (mode: 'r'): No such file or directory", 1, true), err)
    assert.is_nil(H.read(w.dir .. "/x"))
  end)

  it("vmlua console: cloud-hypervisor has none, and says why (2)", function()
    local code, out, err = vmlua(w, "console", "kata")
    assert.are.same({ 2, "" }, { code, out })
    assert.truthy(err:find("has no console socket: cloud-hypervisor writes the serial port to a file or serves it",
                           1, true), err)
  end)
end)

describe("cloud-hypervisor (fake): vmlua.testing", function()
  after_each(H.cleanup_tmp)

  it("starts the recipe, execs and copies, and stops it leaving nothing", function()
    local w = world()
    local testing = require "vmlua.testing"
    local sb = testing.sandbox(RECIPE, { set = { clh = FAKE, share = w.share, guest = H.guest },
                                         env = { FAKE_CLH_AGENT_ROOT = w.root }, vmlua = H.bin })
    sb:start()
    local ok, err = pcall(function()
      local r = assert(sb:exec { "sh", "-c", "echo from the fake guest" })
      assert.are.equal("from the fake guest\n", r.stdout)
      H.write(w.dir .. "/p", "pushed")
      assert.are.equal(6, sb:push(w.dir .. "/p", "/tmp/p"))
      assert.are.equal(6, sb:pull("/tmp/p", w.dir .. "/pulled"))
      assert.are.equal("pushed", H.read(w.dir .. "/pulled"))
    end)
    local run_dir = sb.run_dir
    sb:stop()
    assert(ok, err)
    assert.is_false(core.fs.exists(run_dir))
    assert.are.same({}, E.strays(run_dir))
  end)
end)

describe("a sandbox without a guest agent", function()
  after_each(H.cleanup_tmp)

  it("vmlua exec and cp say to add agent = true (2)", function()
    local w = world()
    local code, _, err = vmlua(w, "run", "--detach", H.root .. "/tests/fixtures/recipes/fake-clh.lua", "--set",
                               "fake=" .. FAKE, "--set", "keep=1", "--set", "id=plain")
    assert.are.equal(0, code, err)
    assert.are.same({ 2, "", "vmlua: sandbox 'plain' has no guest agent: add agent = true to its recipe\n" },
                    { vmlua(w, "exec", "plain", "true") })
    assert.are.same({ 2, "", "vmlua: sandbox 'plain' has no guest agent: add agent = true to its recipe\n" },
                    { vmlua(w, "cp", "plain:/etc/hostname", w.dir) })
    vmlua(w, "stop", "plain")
    assert.are.same({}, E.leftovers(w))
  end)
end)
