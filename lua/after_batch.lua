-- Default `after_batch` hook: a finished batch never stops the run; the
-- migrate stage has already recorded each resource's outcome.
return function(_)
  return { accept = true }
end
