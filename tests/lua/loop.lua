-- An endless loop: the instruction budget must end it.
local function spin()
  local x = 0
  while true do
    x = x + 1
  end
end

return function(_)
  spin()
  return {}
end
