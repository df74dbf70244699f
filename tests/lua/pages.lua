-- kms.pages follows PageNumber until TotalCount items were collected.
return function(_)
  local keys = assert(kms.pages("ListKeys", { PageSize = 100 }, "Keys.Key"))
  return { n = #keys, first = keys[1].KeyId, last = keys[#keys].KeyId }
end
