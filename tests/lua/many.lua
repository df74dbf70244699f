-- 200 cloud calls, one kmsmig.spawn thread each, then wait for all.
return function(input)
  local n = input.n or 200
  local threads = {}
  for i = 1, n do
    threads[i] = kmsmig.spawn(function(k)
      local res = assert(kms.call("Echo", { I = k }))
      return tonumber(res.Params.I)
    end, i)
  end
  local sum, ok = 0, 0
  for i = 1, n do
    local done, v = kmsmig.wait(threads[i])
    if done then
      ok = ok + 1
      sum = sum + v
    end
  end
  return { ok = ok, sum = sum }
end
