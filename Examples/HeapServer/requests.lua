-- wrk -s requests.lua: every request a different path. Nine in ten ask for one of 900 pages in turn (the cache keeps
-- each page it renders), one in ten opens a session (which leaks).
counter = 0
request = function()
  counter = counter + 1
  if counter % 10 == 0 then
    return wrk.format("GET", "/session/" .. counter)
  end
  return wrk.format("GET", "/page/" .. (counter % 1000))
end
