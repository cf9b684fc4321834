-- The tails of log files that error messages, state.json's `error` and
-- sb:serial_tail() show: the last lines, with nothing a terminal would act on.
local H = require "support.h"
local logs = require "vmlua.sandbox.logs"

describe("sandbox logs", function()
  after_each(H.cleanup_tmp)

  it("tail: the last n lines, one string", function()
    local p = H.tmpdir() .. "/a.log"
    H.write(p, "one\ntwo\nthree\n\n")
    assert.are.equal("two\nthree", logs.tail(p, 2))
    assert.are.equal("one\ntwo\nthree", logs.tail(p, 20))
    assert.are.equal("", logs.tail(H.tmpdir() .. "/missing.log", 5))
    assert.are.equal("", logs.tail(nil, 5))
  end)

  it("tail: SeaBIOS's screen reset and clear never reach the terminal or the state", function()
    -- the first bytes QEMU's q35 writes to the serial log (SeaBIOS 1.16)
    local p = H.tmpdir() .. "/serial.log"
    H.write(p, "\27c\27[?7l\27[2J\27[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from ROM..\r\n")
    local t = logs.tail(p, 20)
    assert.are.equal("SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from ROM..", t)
  end)

  it("printable: escape sequences go, other control bytes but tab are shown as \\xNN", function()
    assert.are.equal("red plain", logs.printable("\27[1;31mred\27[0m plain"))
    assert.are.equal("title gone", logs.printable("\27]0;my title\7title gone"))
    assert.are.equal("st gone", logs.printable("\27]2;t\27\\st gone"))
    assert.are.equal("charset", logs.printable("\27(Bcharset"))
    assert.are.equal("a\tb", logs.printable("a\tb"))
    assert.are.equal("bell\\x07 nul\\x00 bs\\x08 del\\x7f cr\\x0d mid", logs.printable("bell\7 nul\0 bs\8 del\127 cr\r mid"))
    assert.are.equal("lone esc \\x1b", logs.printable("lone esc \27"))
    assert.are.equal("crlf", logs.printable("crlf\r\r"))
    assert.are.equal("héllo ✓", logs.printable("héllo ✓")) -- UTF-8 stays as it is
  end)

  it("printable: whatever the bytes, no control byte but tab comes out (10000 random lines)", function()
    -- a serial log is the guest's to write: any bytes at all
    math.randomseed(13)
    local alphabet = { "\27", "[", "]", "\7", "\\", "(", "0", "m", "\r", "\0", "a", "\t", "\127", "\200", "?" }
    for _ = 1, 10000 do
      local parts = {}
      for i = 1, math.random(0, 24) do
        parts[i] = math.random(4) == 1 and string.char(math.random(0, 255)) or alphabet[math.random(#alphabet)]
      end
      local line = table.concat(parts):gsub("\n", "")
      local out = logs.printable(line)
      assert.falsy(out:find("[%z\1-\8\10-\31\127]"), string.format("%q -> %q", line, out))
    end
  end)
end)
