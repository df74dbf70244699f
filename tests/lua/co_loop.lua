-- An endless loop inside a coroutine the hook made: the budget still
-- counts it (coroutines inherit the count hook).
return function(_)
  local spin = coroutine.wrap(function()
    while true do end
  end)
  spin()
  return {}
end
