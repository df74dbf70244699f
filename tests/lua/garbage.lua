-- A response that is not JSON comes back as nil, message, "EPARSE"; a
-- service error as nil, its message, its Code.
return function(_)
  local res, msg, code = kms.call("Garbage", {})
  local res2, msg2, code2 = kms.call("Fail", {})
  return { parsed = res ~= nil, msg = msg, code = code,
           failed = res2 == nil, msg2 = msg2, code2 = code2 }
end
