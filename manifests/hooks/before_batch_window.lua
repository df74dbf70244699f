-- Example before_batch hook (manifests/custom-hooks.yaml): refuse to
-- submit a batch that would run outside the change window of 01:00-05:00
-- China time (UTC+8), when the batch runs now.  Scheduled batches carry
-- their own time and are always accepted.
return function(input)
  if input.when ~= nil and input.when ~= "now" then
    return { accept = true }
  end
  local hour = (tonumber(os.date("!%H")) + 8) % 24
  if hour >= 1 and hour < 5 then
    return { accept = true }
  end
  return { accept = false,
           reason = string.format("outside the change window (it is %02d:xx "
             .. "UTC+8; batches run 01:00-05:00)", hour) }
end
