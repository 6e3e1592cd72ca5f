-- GET /api/v1/users/<id>, id uniformly random in SBS_ID_MIN..SBS_ID_MAX, admin token.
dofile(os.getenv("SBS_LUA_DIR") .. "/common.lua")

local lowest = tonumber(os.getenv("SBS_ID_MIN"))
local highest = tonumber(os.getenv("SBS_ID_MAX"))

function request()
  return wrk.format("GET", "/api/v1/users/" .. math.random(lowest, highest), bearer)
end
