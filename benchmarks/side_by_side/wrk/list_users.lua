-- GET /api/v1/users/?page=<random 1..SBS_PAGES>&per_page=20, admin token.
dofile(os.getenv("SBS_LUA_DIR") .. "/common.lua")

local pages = tonumber(os.getenv("SBS_PAGES"))

function request()
  local path = "/api/v1/users/?page=" .. math.random(1, pages) .. "&per_page=20"
  return wrk.format("GET", path, bearer)
end
