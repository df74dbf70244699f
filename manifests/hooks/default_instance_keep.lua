-- Example default_instance hook (manifests/custom-hooks.yaml): keep the
-- region's current default instance when there is one and it is a
-- candidate, so applications that rely on the default keep their
-- instance; otherwise use the destination, as the built-in hook does.
local util = require("kmsmig.util")

return function(input)
  local by_id = util.by(input.candidates, "id")
  if input.current ~= nil and input.current ~= kmsmig.null
      and by_id[input.current] ~= nil then
    return { instance = input.current,
             reason = "keep the region's current default" }
  end
  return { instance = input.destination,
           reason = "no current default: the destination" }
end
