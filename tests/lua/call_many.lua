-- kms.call_many: the same 200 calls as a list, results in order, with one
-- failing action to show how errors come back.
return function(input)
  local calls = {}
  for i = 1, (input.n or 200) do
    calls[i] = { "Echo", { I = i } }
  end
  calls[#calls + 1] = { action = "Fail", params = {} }
  local results, errors = kms.call_many(calls)
  local last = #calls
  return {
    n = #results,
    first = results[1].Params.I,
    failed = results[last] == false,
    code = errors[last].code,
    message = errors[last].message,
  }
end
