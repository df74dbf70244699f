-- Reports what the sandbox lets a hook reach.
return function(_)
  local bin_ok = load(string.dump(function() return 1 end))
  local text_ok = load("return 41 + 1")
  local util = require("kmsmig.util")
  local helper = require("helper_mod")
  local bad_ok, bad_err = pcall(require, "..etc.passwd")
  local far_ok = pcall(require, "socket")
  local gc_ok = pcall(collectgarbage, "stop")
  return {
    io = io == nil,
    os_execute = os.execute == nil,
    os_getenv = os.getenv == nil,
    os_time = type(os.time) == "function",
    dofile = dofile == nil,
    loadfile = loadfile == nil,
    debug = debug == nil,
    package = package == nil,
    binary_chunk = bin_ok == nil,
    text_chunk = text_ok(),
    util = type(util.by) == "function",
    helper = helper.answer,
    bad_name = not bad_ok and bad_err:find("bad module name") ~= nil,
    outside = not far_ok,
    gc_stop = not gc_ok,
  }
end
