-- Through the engine's own call in plan mode: the write is refused before
-- anything is sent.
return function(_)
  local res, msg, code = kms.call("UpdateRotationPolicy",
    { KeyId = "key-1", EnableAutomaticRotation = false })
  return { change = false, refused = res == nil, msg = msg, code = code }
end
