-- Does not compile: `kmsmig validate` can say so before any run.
return function(input)
  if input.phase = "before" then
    return { change = false }
  end
end
