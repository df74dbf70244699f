-- Default `rotation` hook: the vendor's procedure (docs/hooks.md).
--
-- Before the migration ("before"), automatic rotation is turned off for
-- every key and secret that has it on: the console refuses to migrate a
-- resource while it may rotate.  After it ("after"), the input carries the
-- policy journalled before it was turned off, and this hook restores
-- exactly that policy, interval included.  Resources that had rotation
-- off are left alone both times.
return function(input)
  if input.phase == "before" then
    if input.automatic_rotation == true then
      return { change = true, automatic_rotation = false }
    end
    return { change = false }
  elseif input.phase == "after" then
    if input.automatic_rotation == true then
      return {
        change = true,
        automatic_rotation = true,
        rotation_interval = input.rotation_interval,
      }
    end
    return { change = false }
  end
  error("rotation: unknown phase '" .. tostring(input.phase)
    .. "' (expected \"before\" or \"after\")")
end
