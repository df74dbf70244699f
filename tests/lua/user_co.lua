-- kms.call from a coroutine the hook made itself is refused clearly.
return function(_)
  local co = coroutine.create(function()
    return kms.call("Echo", {})
  end)
  local ok, err = coroutine.resume(co)
  return { ok = ok, err = err }
end
