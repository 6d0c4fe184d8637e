-- POST /v1/auth/token/get with credentials that fail: the failure path of the throttle.
--
-- BENCH_FAIL picks what fails:
--   new-token        the real API key, a fresh random auth token on every request (each one
--                    a store read: the negative cache has never seen it);
--   same-token       the real API key, one wrong auth token repeated (the negative cache);
--   new-key-address  a fresh unknown API key and auth token on every request, each from a
--                    new client address in X-Forwarded-For (believed only when the server
--                    trusts 127.0.0.1 as a proxy: IDMINT_TRUSTED_PROXIES).
-- BENCH_START offsets the counter that makes tokens, keys and addresses unique (the harness
-- gives each wrk run its own).  The answers are counted by status (BENCH_STATUSES, report.lua).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local api_key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY")
local mode = os.getenv("BENCH_FAIL") or "new-token"
local start = tonumber(os.getenv("BENCH_START") or "0")
assert(mode == "new-token" or mode == "same-token" or mode == "new-key-address", mode)
math.randomseed(start)

local headers = { ["Content-Type"] = "application/json" }
local tail = '","userId":"user-0","userProperties":{"organizationId":"org-0",' ..
   '"isAdmin":false,"email":"user-0@example.com"}}}'

local function hex32()
   return string.format("%08x", math.random(0, 0x7fffffff))
end

-- 46 characters, as long as a real auth token ("sk_" and 43 base64url characters).
local function token(n)
   return string.format("sk_%011d", n % 100000000000) .. hex32() .. hex32() .. hex32() .. hex32()
end

local same = wrk.format("POST", "/v1/auth/token/get", headers,
   '{"data":{"apiKey":"' .. api_key .. '","authToken":"' .. token(start) .. tail)
local i = 0

function request()
   if mode == "same-token" then
      return same
   end
   i = i + 1
   local n = start + i
   if mode == "new-token" then
      return wrk.format("POST", "/v1/auth/token/get", headers,
         '{"data":{"apiKey":"' .. api_key .. '","authToken":"' .. token(n) .. tail)
   end
   local a = n % 16777216
   headers["X-Forwarded-For"] = string.format("10.%d.%d.%d",
      math.floor(a / 65536), math.floor(a / 256) % 256, a % 256)
   local key = string.format("pk_bench%010d", n % 10000000000) .. hex32() .. hex32():sub(1, 1)
   return wrk.format("POST", "/v1/auth/token/get", headers,
      '{"data":{"apiKey":"' .. key .. '","authToken":"' .. token(n) .. tail)
end
