-- wrk script: POST $PAYLOAD as application/json, with "Authorization: Bearer $KEY" when KEY is set.
local f = assert(io.open(os.getenv("PAYLOAD"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
