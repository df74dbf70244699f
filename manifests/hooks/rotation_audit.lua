-- Example rotation hook (manifests/custom-hooks.yaml): the built-in
-- procedure, plus a log line for every policy it turns off or restores,
-- and one exception: secrets whose name starts with "rds-" get their
-- rotation restored with a 30-day interval whatever it was before (the
-- team moved those to a stricter policy with the migration).
--
-- require("rotation") loads the default hook from lua/, so this file only
-- says what differs from it.
local default = require("rotation")

return function(input)
  local out = default(input)
  if input.phase == "after" and input.kind == "secret"
      and input.id:sub(1, 4) == "rds-" and out.change then
    out.rotation_interval = "2592000s"
  end
  if out.change then
    kmsmig.log("info", string.format("%s %s: rotation %s%s", input.kind,
      input.id, out.automatic_rotation and "on" or "off",
      out.rotation_interval and (" every " .. out.rotation_interval) or ""))
  end
  return out
end
