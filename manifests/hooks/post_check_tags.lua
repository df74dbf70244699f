-- Example post_check hook (named by manifests/multi-account.yaml and
-- manifests/custom-hooks.yaml; the API is docs/hooks.md).
--
-- Fails the account's verification when a migrated key has no "team" tag
-- after the migration.  The tag lookups run concurrently, one
-- kmsmig.spawn thread per key, so a few hundred keys cost about one round
-- trip rather than one per key.
local util = require("kmsmig.util")

return function(input)
  local keys = input.keys or {}
  local tags, errors = util.map_concurrently(keys, function(key)
    local t, msg = util.key_tags(key.id)
    if t == nil then error("tags of " .. key.id .. ": " .. msg, 0) end
    return t
  end)
  local messages = kmsmig.array()
  for i, key in ipairs(keys) do
    if errors[i] ~= nil then
      messages[#messages + 1] = errors[i]
    elseif tags[i].team == nil then
      messages[#messages + 1] = "key " .. key.id
        .. " has no team tag after migration"
    end
  end
  return { passed = #messages == 0, messages = messages }
end
