-- Example post_check hook named by manifests/multi-account.yaml.
-- kmsmig validate only checks that this file exists; the hook API it is
-- written against is documented with the Lua bridge (docs/lua-api.md).
-- It fails the account's verification when a migrated key lost its
-- "team" tag.
return function(ctx)
  for _, key in ipairs(ctx.migrated_keys or {}) do
    if key.tags ~= nil and key.tags.team == nil then
      return false, "key " .. key.id .. " has no team tag after migration"
    end
  end
  return true
end
