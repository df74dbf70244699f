-- Calls the fake cloud once and reports what the hook saw.
return function(input)
  kmsmig.log("warn", "echo hook starts")
  print("printed", 1)
  local res, msg, code = kms.call("Echo",
    { B = 2, A = "x", C = true, T = { k = "v" } })
  return {
    input = input,
    res = res,
    msg = msg,
    code = code,
    account = kmsmig.account(),
    account_id = kmsmig.account_id(),
    region = kmsmig.region(),
    mode = kmsmig.mode(),
  }
end
