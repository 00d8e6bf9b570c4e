# Summarises interleaved relay-vs-forwarder benchmark runs (make bench-relay): for each case,
# the ratio relay/forwarder of msgs/s in every run where both ran back to back, then medians.
# Input: `go test -bench` lines such as
#   BenchmarkThroughput/broadcast/relay-2  40000  25000 ns/op  1734 B/msg  10.57 allocs/msg  48952 msgs/s ...
function metric(unit,   i) { for (i = 3; i <= NF; i++) if ($i == unit) return $(i-1); return "" }
function median(list, n,   a, i, j, t) {
	for (i = 1; i <= n; i++) a[i] = list[i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	side = name; sub(/.*\//, "", side)            # relay | forwarder
	kase = name; sub(/\/[^\/]*$/, "", kase); sub(/^Benchmark/, "", kase)
	if (!(kase in seen)) { seen[kase] = 1; order[++ncases] = kase }
	rate = metric("msgs/s"); allocs = metric("allocs/msg"); heap = metric("heap+stack-B/conn"); rss = metric("rss-B/conn")
	if (rate != "") { k = kase SUBSEP side; nr[k]++; r[k, nr[k]] = rate }
	if (allocs != "") { k = kase SUBSEP side; na[k]++; al[k, na[k]] = allocs }
	if (heap != "") { k = kase SUBSEP side; nh[k]++; hp[k, nh[k]] = heap; rs[k, nh[k]] = rss }
	if (side == "relay") last[kase] = rate
	if (side == "forwarder" && rate != "" && last[kase] != "") { nq[kase]++; q[kase, nq[kase]] = last[kase] / rate; last[kase] = "" }
}
function col(arr, k, n,   i, l) { for (i = 1; i <= n; i++) l[i] = arr[k, i]; return n ? median(l, n) : "" }
END {
	for (c = 1; c <= ncases; c++) {
		kase = order[c]; R = kase SUBSEP "relay"; F = kase SUBSEP "forwarder"
		if (nq[kase]) {
			for (i = 1; i <= nq[kase]; i++) { l[i] = q[kase, i] }
			lo = hi = l[1]; for (i = 1; i <= nq[kase]; i++) { if (l[i] < lo) lo = l[i]; if (l[i] > hi) hi = l[i] }
			printf "%-22s relay %8.0f msgs/s  forwarder %8.0f msgs/s  ratio median %.2f (%.2f–%.2f, %d pairs)  allocs/msg %s / %s\n",
				kase, col(r, R, nr[R]), col(r, F, nr[F]), median(l, nq[kase]), lo, hi, nq[kase], col(al, R, na[R]), col(al, F, na[F])
			delete l
		}
		if (nh[R]) printf "%-22s relay %6.0f B heap+stack %6.0f B RSS per connection; forwarder %6.0f / %6.0f (medians of %d)\n",
			kase, col(hp, R, nh[R]), col(rs, R, nh[R]), col(hp, F, nh[F]), col(rs, F, nh[F]), nh[R]
	}
}
