-- wrk script for the serving bench: every request POSTs the file named by $PAYLOAD as
-- application/json, with "Authorization: Bearer $KEY" when KEY is set (mlflow serve runs
-- with key auth, so its figures include the key check a real deployment pays for).
--   PAYLOAD=payload.json KEY=... wrk -t2 -c16 -d10s --latency -s bench/peers/post.lua URL
local path = os.getenv("PAYLOAD")
if not path or path == "" then
  error("post.lua: set PAYLOAD to the JSON body file (bench/peers/make_model.py writes one)")
end
local f, err = io.open(path, "rb")
if not f then
  error("post.lua: PAYLOAD: " .. err)
end
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
