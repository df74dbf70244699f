-- Returns a string: a hook must return a table.
return function(_)
  return "yes"
end
