-- The benchmark scripts (bench/*.lua) must not rot: each runs once in its
-- --quick mode (one iteration, small N) against the build under test and
-- must finish, print Markdown tables and write well-formed JSON results.
-- No number is checked: a benchmark measures, it never fails on a time.
local core = require "vmlua.core"
local H = require "support.h"

local SCRIPTS = { "launch", "stop", "memory", "scale", "guest", "agent", "templates", "core_process", "core_io" }

--- Run bench/NAME.lua --quick --json FILE; returns status, stdout, stderr, json text.
local function run_quick(name)
  local dir = H.tmpdir()
  local json, out, err = dir .. "/" .. name .. ".json", dir .. "/out", dir .. "/err"
  -- the asan flavour: a lua5.4 that loads the asan core.so needs the
  -- runtime preloaded (the script drops it again for its children)
  local preload = os.getenv("VMLUA_ASAN_PRELOAD")
  local p = assert(core.spawn {
    argv = { "lua5.4", H.root .. "/bench/" .. name .. ".lua", "--quick", "--json", json },
    env = { LD_PRELOAD = preload or false, VMLUA_RUN_DIR = false, VMLUA_LOG = false },
    cwd = H.root, stdin = "null",
    stdout = { file = out, append = false }, stderr = { file = err, append = false },
  })
  local how, code = p:wait(600)
  p:close()
  return how == "exited" and code, H.read(out) or "", H.read(err) or "", H.read(json)
end

local function is_number(v) return math.type(v) ~= nil and v == v and v ~= math.huge and v ~= -math.huge end

local function check_results(name, text)
  assert.is_string(text, "no JSON file written")
  local res, err = core.json.decode(text)
  assert.is_table(res, err)
  assert.are.equal(name, res.bench)
  assert.is_true(res.quick)
  assert.are.equal(1, res.runs)
  assert.is_true(#res.sections >= 1)
  assert.is_true(#res.metrics >= 1, "no metrics")
  for _, m in ipairs(res.metrics) do
    local what = tostring(m.name)
    assert.is_string(m.name)
    assert.is_string(m.unit, what)
    assert.is_true(math.type(m.n) == "integer" and m.n >= 1, what)
    assert.are.equal(m.n, #m.samples, what)
    for _, k in ipairs({ "median", "min", "max" }) do assert.is_true(is_number(m[k]), what .. "." .. k) end
    assert.is_true(m.min <= m.median and m.median <= m.max, what)
    for _, v in ipairs(m.samples) do assert.is_true(is_number(v) and v >= m.min and v <= m.max, what) end
  end
end

describe("bench scripts (--quick)", function()
  after_each(H.cleanup_tmp)

  for _, name in ipairs(SCRIPTS) do
    it(name .. ".lua runs and writes well-formed results", function()
      local code, out, err, json = run_quick(name)
      assert.are.equal(0, code, err)
      assert.truthy(out:find("\n### ", 1, true), out)
      assert.truthy(out:find("\n|---|", 1, true), out)
      check_results(name, json)
    end)
  end

  it("an unknown option is refused before anything runs", function()
    local dir = H.tmpdir()
    local p = assert(core.spawn { argv = { "lua5.4", H.root .. "/bench/launch.lua", "--fast" },
                                  env = { LD_PRELOAD = os.getenv("VMLUA_ASAN_PRELOAD") or false },
                                  stdout = "null", stderr = { file = dir .. "/err" } })
    local how, code = p:wait(60)
    p:close()
    assert.are.same({ "exited", 1 }, { how, code })
    assert.truthy(H.read(dir .. "/err"):find("unknown option --fast", 1, true))
  end)
end)
