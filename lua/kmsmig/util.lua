-- Helpers for hook authors: local M = require("kmsmig.util").
--
-- Everything here is plain Lua over the documented API (docs/hooks.md);
-- the functions that call the cloud must run inside a hook (they yield).
local M = {}

-- A map from item[field] to item, for lists such as the candidates of
-- default_instance: M.by(input.candidates, "id")["kst-..."].
function M.by(list, field)
  local out = {}
  for _, item in ipairs(list or {}) do
    if item[field] ~= nil then out[item[field]] = item end
  end
  return out
end

-- True when the list holds value.
function M.contains(list, value)
  for _, v in ipairs(list or {}) do
    if v == value then return true end
  end
  return false
end

-- The items of list for which pred(item) is true, in order.
function M.filter(list, pred)
  local out = kmsmig.array()
  for _, item in ipairs(list or {}) do
    if pred(item) then out[#out + 1] = item end
  end
  return out
end

local function tag_map(tags)
  local out = {}
  for _, t in ipairs(tags or {}) do out[t.TagKey] = t.TagValue end
  return out
end

-- The tags of a key as {TagKey = TagValue}, or nil, message, code.
function M.key_tags(key_id)
  local res, msg, code = kms.call("ListResourceTags", { KeyId = key_id })
  if res == nil then return nil, msg, code end
  return tag_map(res.Tags and res.Tags.Tag)
end

-- The tags of a secret as {TagKey = TagValue}, or nil, message, code.
function M.secret_tags(name)
  local res, msg, code = kms.call("DescribeSecret",
    { SecretName = name, FetchTags = true })
  if res == nil then return nil, msg, code end
  return tag_map(res.Tags and res.Tags.Tag)
end

-- Calls fn(item) for every item concurrently (one kmsmig.spawn thread
-- each) and returns the results in order; a thread that raised gives
-- false, and its error goes to the second list.
function M.map_concurrently(list, fn)
  local threads = {}
  for i, item in ipairs(list or {}) do
    threads[i] = kmsmig.spawn(fn, item)
  end
  local results, errors = kmsmig.array(), {}
  for i, t in ipairs(threads) do
    local ok, value = kmsmig.wait(t)
    if ok then
      results[i] = value == nil and false or value
    else
      results[i], errors[i] = false, value
    end
  end
  return results, errors
end

return M
