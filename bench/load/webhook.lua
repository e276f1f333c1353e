-- wrk script: Telegram updates with unique update ids, spread over many private chats.
-- Usage: wrk ... -s webhook.lua URL -- <first update id> <chats> <first chat id> <secret>
-- Each wrk thread gets its own id range, so ids never repeat within a run.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local next_id = 0
local chats = 1000
local first_chat = 100000

function init(args)
  local base = tonumber(args[1] or "1")
  chats = tonumber(args[2] or "1000")
  first_chat = tonumber(args[3] or "100000")
  next_id = base + (thread_index or 0) * 100000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = args[4] or "bench-secret"
end

local template = '{"update_id":%d,"message":{"message_id":%d,"date":1700000000,'
  .. '"chat":{"id":%d,"type":"private","first_name":"Load","username":"load%d"},'
  .. '"from":{"id":%d,"is_bot":false,"first_name":"Load","username":"load%d",'
  .. '"language_code":"en"},"text":"load test message %d"}}'

function request()
  local uid = next_id
  next_id = next_id + 1
  local chat = first_chat + (uid % chats)
  local body = string.format(template, uid, uid, chat, chat, chat, chat, uid)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
    .. '"write_errors":%d,"status_errors":%d,"timeout_errors":%d,'
    .. '"latency_p50_us":%d,"latency_p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))
end
