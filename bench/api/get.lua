-- wrk script for bench/api.sh: GET the URL given on the command line (with
-- its -H headers) as a static request; only adds the RESULT line.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
