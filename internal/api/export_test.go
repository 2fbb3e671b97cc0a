package api

// For the external tests' benchmarks.
var (
	CPUTime   = cpuTime
	ReportCPU = reportCPU
)
