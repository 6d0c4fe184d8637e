-- POST /v1/identify with tokens minted beforehand: BENCH_TOKENS_FILE holds one line per
-- user, "userId<TAB>organizationId<TAB>email<TAB>token"; the requests are built once at start
-- and rotated, each naming the user its token was minted for.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local api_key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY")
local path = assert(os.getenv("BENCH_TOKENS_FILE"), "BENCH_TOKENS_FILE")
local file = assert(io.open(path, "r"))
local headers = { ["Content-Type"] = "application/json" }
local requests = {}
for line in file:lines() do
   local user_id, org, email, token = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
   if user_id then
      local body = '{"apiKey":"' .. api_key .. '","authToken":"' .. token ..
         '","user":{"userId":"' .. user_id .. '","organizationId":"' .. org ..
         '","email":"' .. email .. '","name":"Bench ' .. user_id .. '"}}'
      requests[#requests + 1] = wrk.format("POST", "/v1/identify", headers, body)
   end
end
file:close()
assert(#requests > 0, "no tokens in BENCH_TOKENS_FILE")
local i = 0

function request()
   i = i % #requests + 1
   return requests[i]
end
