-- wrk script: the same JSON POST every time (capacity checks of the fakes).
-- Usage: wrk ... -s static_post.lua URL -- '<json body>'

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = args[1] or "{}"
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
