-- POST /api/v1/tokens, the second shape: "Authorization: Outseta API_KEY:AUTH_TOKEN" and
-- {"username": email} of an existing user; the email cycles over BENCH_USERS users
-- (BENCH_PREFIX .. n .. "@example.com", as mint_seed.lua and the harness's seeding write them).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local api_key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY")
local auth_token = assert(os.getenv("BENCH_AUTH_TOKEN"), "BENCH_AUTH_TOKEN")
local users = tonumber(os.getenv("BENCH_USERS") or "100")
local prefix = os.getenv("BENCH_PREFIX") or "user-"
local headers = {
   ["Content-Type"] = "application/json",
   ["Authorization"] = "Outseta " .. api_key .. ":" .. auth_token,
}
local i = 0

function request()
   local n = i % users
   i = i + 1
   return wrk.format("POST", "/api/v1/tokens", headers,
      '{"username":"' .. prefix .. n .. '@example.com"}')
end
