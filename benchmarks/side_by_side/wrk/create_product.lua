-- POST /api/v1/products/, admin token; the sku is unique per request (run tag, thread,
-- counter) and matches ^[A-Z0-9-]{3,64}$.
dofile(os.getenv("SBS_LUA_DIR") .. "/common.lua")

local sent = 0

function request()
  sent = sent + 1
  local body = string.format(
    '{"name": "Bench product %d", "sku": "B-%s-%d-%d", "price_cents": %d}',
    sent, run_tag, thread_number or 0, sent, math.random(100, 100000))
  return wrk.format("POST", "/api/v1/products/", bearer_json, body)
end
