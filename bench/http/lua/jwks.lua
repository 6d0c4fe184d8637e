-- GET /w/{apiKey}/.well-known/jwks.json: the URL on the command line names the path.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
