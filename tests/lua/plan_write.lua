-- A write action in plan mode comes back as nil, message, code.
return function(_)
  local res, msg, code = kms.call("UpdateRotationPolicy",
    { KeyId = "key-1", EnableAutomaticRotation = false })
  local read = kms.call("DescribeKey", { KeyId = "key-1" })
  return { refused = res == nil, msg = msg, code = code,
           read_ok = read ~= nil }
end
