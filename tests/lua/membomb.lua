-- Allocates until the state's memory cap stops it.
return function(_)
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = string.rep("x", 4096) .. i
  end
end
