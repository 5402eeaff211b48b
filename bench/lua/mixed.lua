-- Sustained mixed traffic for the RSS curve: 60 % GET, 30 % PATCH, 10 % upsert.
function request()
  local r = math.random()
  if r < 0.6 then
    return get_request()
  elseif r < 0.9 then
    return patch_request()
  end
  return upsert_request()
end
