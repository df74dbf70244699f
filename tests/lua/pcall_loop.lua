-- An endless loop that tries to swallow the budget error with pcall.
return function(_)
  while true do
    pcall(function()
      while true do end
    end)
  end
end
