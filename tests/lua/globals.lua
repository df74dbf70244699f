-- Counts its calls in a global: pipelines must not share it.
return function(_)
  calls = (calls or 0) + 1
  return { calls = calls }
end
