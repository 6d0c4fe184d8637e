-- POST /v1/auth/token/get, the seed's shape: API key and auth token in the body.
--
-- The userId cycles over BENCH_USERS users (BENCH_PREFIX .. n, n = BENCH_START + i mod
-- BENCH_USERS), each with its organization ("org-" .. n mod 10) and email, so every mint
-- upserts a real user row.  BENCH_USERS=0 never cycles (every mint a new user: the soak).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local api_key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY")
local auth_token = assert(os.getenv("BENCH_AUTH_TOKEN"), "BENCH_AUTH_TOKEN")
local users = tonumber(os.getenv("BENCH_USERS") or "100")
local start = tonumber(os.getenv("BENCH_START") or "0")
local prefix = os.getenv("BENCH_PREFIX") or "user-"
local path = os.getenv("BENCH_PATH") or "/v1/auth/token/get"
local headers = { ["Content-Type"] = "application/json" }
local head = '{"data":{"apiKey":"' .. api_key .. '","authToken":"' .. auth_token .. '","userId":"'
local i = 0

function request()
   local n = users > 0 and start + i % users or start + i
   i = i + 1
   local id = prefix .. n
   local body = head .. id .. '","userProperties":{"organizationId":"org-' .. (n % 10) ..
      '","isAdmin":false,"email":"' .. id .. '@example.com"}}}'
   return wrk.format("POST", path, headers, body)
end
