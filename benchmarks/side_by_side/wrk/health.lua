-- GET /health: the framework and server, no backend.
dofile(os.getenv("SBS_LUA_DIR") .. "/common.lua")

function request()
  return wrk.format("GET", "/health")
end
