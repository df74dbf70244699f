-- Fails three frames deep: the error names this file and line 4.
local function inner(t)
  -- the next line raises: t.missing is nil
  return t.missing.field
end

local function outer(t)
  local v = inner(t) -- not a tail call: outer stays in the traceback
  return v
end

return function(input)
  return { v = outer(input) }
end
