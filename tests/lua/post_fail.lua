-- A post check that fails with a message.
return function(input)
  return { passed = false,
           messages = { "key " .. input.keys[1].id .. " lost its team tag" } }
end
