-- Chooses an instance that is not offered: the runtime must refuse it.
return { default_instance = function(_)
  return { instance = "kst-not-a-candidate" }
end }
