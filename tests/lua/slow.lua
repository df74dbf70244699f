-- Waits for the cloud over and over: the wall-clock budget must end it
-- even though no single stretch of Lua code runs long.
return function(_)
  while true do
    kms.call("Echo", {})
  end
end
