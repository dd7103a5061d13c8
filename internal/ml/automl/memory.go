package automl

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
)

// The search's memory (docs/automl.md#memory): the data and its binned copies, a working set
// per concurrent fold fit, and the candidates, each an n×k OOF matrix plus its fold models.
// The candidates are the only part that grows with the search, so a Config.Memory bound is
// met first by keeping fewer of them and then by fitting fewer folds at once.

// DefaultMemoryFraction is the share of the machine's memory (MachineMemory) an automl step
// may use when it gives no memory: the rest is for the other step that may run beside it
// (--parallel 2) and the system.
const DefaultMemoryFraction = 0.5

// MachineMemory is the memory this process can have: the smaller of /proc/meminfo's MemTotal
// and the cgroup's limit (v2 memory.max, else v1 memory.limit_in_bytes); 0 when neither can
// be read (not Linux).
func MachineMemory() int64 {
	total := memTotal("/proc/meminfo")
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if l := cgroupLimit(p); l > 0 && (total == 0 || l < total) {
			total = l
		}
	}
	return total
}

func memTotal(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupLimit reads a cgroup memory limit file: "max" (v2) or a huge number (v1's way of
// saying none) is no limit.
func cgroupLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 || v >= 1<<60 {
		return 0
	}
	return v
}

// FormatBytes prints n in binary units, as the memory field accepts them.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 0, 64) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// dataBytes estimates what the search holds whatever its trials: the frame, the binned
// Datasets (one byte per cell for each of the three bin counts the space draws), the linear
// family's float copy, the target and the folds' row lists.
func (s *search) dataBytes() int64 {
	n, nf := int64(len(s.p.y)), int64(len(s.p.features))
	b := n*nf*(8+3+8) + n*8 + n*4*3
	if s.whole != nil {
		// The search's sample comes on top of all rows: their frame and target, and the one
		// binning of them a refit holds at a time.
		w := int64(len(s.whole.y))
		b += frameBytes(s.whole.frame) + w*8 + w*nf
	}
	return b
}

// fitBytes estimates one fold fit's working set: gradients, hessians and raw scores per row
// and output, the row indices, and its histograms (gbdt's histBudget caps them at 64 MiB).
func (s *search) fitBytes() int64 {
	n, nf, k := int64(len(s.p.y)), int64(len(s.p.features)), int64(s.p.k())
	hist := min(64<<20, 256*nf*256*16) // up to 256 leaves × features × 256 bins × 16 bytes
	return n*k*8*4 + n*4*2 + hist
}

// candidateBytes estimates a candidate's retained state: its OOF matrix and fold models.
func candidateBytes(t *trial) int64 {
	b := int64(len(t.oof)) * 8
	for _, m := range t.models {
		switch m := m.(type) {
		case *gbdt.Model:
			b += m.MemoryBytes()
		case *linear.Model:
			for _, w := range m.W {
				b += int64(len(w)) * 8
			}
		}
	}
	return b
}

// planMemory fits the concurrent fold fits into cfg.Memory before the search starts: with
// the data and a few candidates left room for, fewer folds are fitted at once when the
// working sets would not fit. It says so in the log.
func (s *search) planMemory() {
	mem := s.cfg.Memory
	if mem <= 0 {
		return
	}
	data, fit := s.dataBytes(), s.fitBytes()
	s.log("memory %s: data ≈ %s, one fold fit ≈ %s", FormatBytes(mem), FormatBytes(data), FormatBytes(fit))
	// Room for two candidates (an n×k matrix and, as a guess before any fit, as much again in
	// models) keeps an ensemble possible.
	cands := 2 * 2 * int64(len(s.p.y)) * int64(s.p.k()) * 8
	par := s.cfg.Parallel
	for par > 1 && data+int64(par)*fit+cands > mem {
		par--
	}
	if par < s.cfg.Parallel {
		s.log("memory %s: %d fold fits at once instead of %d", FormatBytes(mem), par, s.cfg.Parallel)
		s.cfg.Parallel = par
	}
	if data+fit+cands > mem {
		s.log("warning: memory %s is less than the data and one fold fit need (≈ %s): the search goes on, with the Go runtime's limit at %s",
			FormatBytes(mem), FormatBytes(data+fit+cands), FormatBytes(mem))
	}
}

// keepFor is how many candidates the memory bound leaves room for, between 1 and keepModels,
// estimated from the candidates' mean size (deterministic: node counts, not the heap).
func (s *search) keepFor(full []*trial) int {
	mem := s.cfg.Memory
	if mem <= 0 || len(full) == 0 {
		return keepModels
	}
	var sum int64
	for _, t := range full {
		sum += candidateBytes(t)
	}
	mean := max(1, sum/int64(len(full)))
	room := mem - s.dataBytes() - int64(s.cfg.Parallel)*s.fitBytes()
	keep := int(min(int64(keepModels), max(1, room/mean)))
	if keep < keepModels && keep != s.keptLogged {
		s.log("memory %s: keeping the best %d candidates for the ensemble instead of %d (≈ %s each)", FormatBytes(mem), keep, keepModels, FormatBytes(mean))
		s.keptLogged = keep
	}
	return keep
}

// memLimits holds the Go runtime's soft memory limit at the sum of the searches running in
// this process (a workflow may train two at once), and restores it when the last ends.
var memLimits struct {
	sync.Mutex
	active int64
	n      int
	prev   int64
}

// limitMemory sets the runtime's soft limit for a search of mem bytes: the GC then works
// harder near the bound instead of letting the heap double past it. The returned func undoes it.
func limitMemory(mem int64) func() {
	memLimits.Lock()
	defer memLimits.Unlock()
	if memLimits.n == 0 {
		memLimits.prev = debug.SetMemoryLimit(-1)
	}
	memLimits.n++
	memLimits.active += mem
	debug.SetMemoryLimit(min(memLimits.prev, memLimits.active))
	return func() {
		memLimits.Lock()
		defer memLimits.Unlock()
		memLimits.n--
		memLimits.active -= mem
		if memLimits.n == 0 {
			debug.SetMemoryLimit(memLimits.prev)
			return
		}
		debug.SetMemoryLimit(min(memLimits.prev, memLimits.active))
	}
}

// ParseMemory reads a memory size: an integer with an optional unit, B, KiB, MiB, GiB, TiB
// (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. "2GiB", "512MiB", "1500000000".
func ParseMemory(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. \"2GiB\", \"512MiB\")", s)
	}
	mult := map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, unit)
	}
	b := v * mult
	if b < 1 || b > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return int64(b), nil
}
