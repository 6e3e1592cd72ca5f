-- POST /api/v1/auth/login as user2@example.com: one argon2id verify per request.
dofile(os.getenv("SBS_LUA_DIR") .. "/common.lua")

local body = '{"email": "user2@example.com", "password": "' .. os.getenv("SBS_USER_PASSWORD") .. '"}'

function request()
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
