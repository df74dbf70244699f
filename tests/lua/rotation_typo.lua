-- A rotation hook with a misspelt field: it must fail, not read as "no
-- change".
return function(_)
  return { chagne = true }
end
