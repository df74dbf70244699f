-- Default `default_instance` hook: the manifest's destination instance
-- becomes the region's default KMS 3.0 instance (the vendor recommends
-- ticking "set as default" for the instance the resources move into).
-- A region has one default; choosing another instance overwrites it.
return function(input)
  if type(input.destination) ~= "string" then
    error("default_instance: the input has no destination instance")
  end
  local reason = "the manifest's destination instance"
  if input.current == input.destination then
    reason = reason .. " (already the default)"
  end
  return { instance = input.destination, reason = reason }
end
