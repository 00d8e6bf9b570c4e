# Summarises interleaved before/after benchmark runs (make bench-cluster): for every benchmark and
# figure, the medians before and after and the median (range) of the per-run ratios after/before.
# Input: `go test -bench` lines prefixed with the variant and the run, such as
#   after run=3 BenchmarkClusterFanout/8-receivers-on-B-2  60000  28424 ns/op  6297 B/msg  ...
function median(list, n,   a, i, j, t) {
	for (i = 1; i <= n; i++) a[i] = list[i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
$1 ~ /^(before|after)$/ && $3 ~ /^Benchmark/ {
	v = $1; run = $2; sub(/^run=/, "", run)
	name = $3; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	for (i = 5; i < NF; i += 2) {
		unit = $(i+1)
		if (unit == "ns/op") continue
		k = name " " unit
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		val[k, v, run] = $i
		if (!((k, v) in n)) n[k, v] = 0
		list[k, v, ++n[k, v]] = $i
		runs[k, run] = 1
	}
}
END {
	for (c = 1; c <= nk; c++) {
		k = order[c]; nb = n[k, "before"]; na = n[k, "after"]
		for (i = 1; i <= nb; i++) b[i] = list[k, "before", i]
		for (i = 1; i <= na; i++) a[i] = list[k, "after", i]
		nq = 0
		for (kr in runs) {
			split(kr, p, SUBSEP)
			if (p[1] != k) continue
			if (((k, "before", p[2]) in val) && ((k, "after", p[2]) in val) && val[k, "before", p[2]] + 0 != 0)
				q[++nq] = val[k, "after", p[2]] / val[k, "before", p[2]]
		}
		lo = hi = q[1]; for (i = 1; i <= nq; i++) { if (q[i] < lo) lo = q[i]; if (q[i] > hi) hi = q[i] }
		printf "%-58s before %10.1f  after %10.1f  after/before %.2f (%.2f–%.2f, %d runs)\n",
			k, nb ? median(b, nb) : 0, na ? median(a, na) : 0, nq ? median(q, nq) : 0, lo, hi, nq
		delete b; delete a; delete q
	}
}
