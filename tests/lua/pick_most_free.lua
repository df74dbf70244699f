-- A custom default_instance hook: the candidate with the most free key
-- quota becomes the region default, whatever the destination is.
return function(input)
  local best
  for _, c in ipairs(input.candidates) do
    if best == nil or c.keys_free > best.keys_free then best = c end
  end
  return { instance = best.id, reason = "most free key quota" }
end
