-- Default `before_batch` hook: every planned batch is submitted as is.
return function(_)
  return { accept = true }
end
