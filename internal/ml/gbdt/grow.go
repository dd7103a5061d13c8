package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
)

// binStat is one histogram cell: the sums of gradients and hessians of a node's rows in one bin.
type binStat struct {
	g, h float64
	n    uint32
}

type gpair struct{ g, h float64 }

// split is a candidate split of a node; feat < 0 means none was found.
type split struct {
	gain     float64
	feat     int32
	bin      uint8 // numeric: bins <= bin go left
	missLeft bool
	cat      bool
	set      [4]uint64 // categorical: bins going left, bit missingBin included when missing goes left
	gl, hl   float64
	nl       int32
}

// tnode is a node of the tree being grown. Its rows are idx[start:end].
type tnode struct {
	start, end  int32
	depth       int32
	g, h        float64
	n           int32
	hist        int32 // histogram buffer held for the subtraction trick, -1 none
	sp          split
	left, right int32 // children, -1 for a leaf
	value       float64
}

const (
	jobHist     = iota // build one feature's histogram
	jobGrad            // compute one chunk's gradients
	jobResidual        // forest: one chunk's residuals from the prior
	// nodes with fewer row×feature cells than this build their histograms inline: handing 20
	// tiny tasks to other goroutines costs more than it saves.
	inlineCells = 50_000
	gradChunk   = 4096
	// histBudget bounds the memory of histograms kept for subtraction; beyond it (very wide
	// or very deep trees) a node rebuilds its children's histograms directly.
	histBudget = 64 << 20
)

// grower grows one tree at a time; its buffers live for a whole Fit and are reused by every tree.
type grower struct {
	d    *Dataset
	p    *Params
	pool *pool
	nf   int

	idx  []int32 // the tree's rows, partitioned in place: each node owns idx[start:end]
	tmp  []int32
	g, h []float64 // per dataset row, the current class's gradients
	gh   []gpair   // g, h gathered into idx order, interleaved: one memory stream for the histogram loop

	hists    [][]binStat // nf*256 cells each; the last two are scratch and never held by a node
	poolCap  int
	free     []int32
	nodes    []tnode
	heap     []int32
	feats    []int32 // features this tree may split on (feature fraction), ascending
	nodeFeat []int32 // forest: the features drawn for one node
	catBuf   []uint8
	rng      *rand.Rand

	// the histogram job being run by the pool
	jbuf   []binStat
	jstart int32
	jend   int32

	order, id []int32 // addTree's scratch
}

func newGrower(d *Dataset, p *Params, pl *pool, nTrain int) *grower {
	nf := len(d.names)
	per := nf * 256 * 24
	capacity := histBudget / per
	maxLeaves := p.MaxLeaves
	if maxLeaves <= 0 && p.MaxDepth > 0 && p.MaxDepth < 20 {
		maxLeaves = 1 << p.MaxDepth
	}
	if maxLeaves > 0 {
		capacity = min(capacity, maxLeaves+1)
	}
	capacity = max(capacity, 2)
	return &grower{
		d:       d,
		p:       p,
		pool:    pl,
		nf:      nf,
		idx:     make([]int32, 0, nTrain),
		tmp:     make([]int32, nTrain),
		gh:      make([]gpair, nTrain),
		hists:   make([][]binStat, capacity+2),
		poolCap: capacity,
		free:    make([]int32, 0, capacity),
		catBuf:  make([]uint8, 0, 256),
	}
}

func (gr *grower) buffer(b int32) []binStat {
	if gr.hists[b] == nil {
		gr.hists[b] = make([]binStat, gr.nf*256)
	}
	return gr.hists[b]
}

// alloc returns a free held buffer, or -1 when the budget is spent.
func (gr *grower) alloc() int32 {
	if n := len(gr.free); n > 0 {
		b := gr.free[n-1]
		gr.free = gr.free[:n-1]
		return b
	}
	return -1
}

func (gr *grower) release(b int32) {
	if b >= 0 && int(b) < gr.poolCap {
		gr.free = append(gr.free, b)
	}
}

func (gr *grower) scratch(i int) int32 { return int32(gr.poolCap + i) }

// do runs pool tasks: a feature's histogram or a chunk of gradients (see fitter.do).
func (gr *grower) do(kind, i int) {
	f := int(gr.feats[i])
	hs := (*[256]binStat)(gr.jbuf[f*256 : f*256+256])
	*hs = [256]binStat{}
	col := gr.d.bins[f]
	idx := gr.idx[gr.jstart:gr.jend]
	gh := gr.gh[gr.jstart:gr.jend]
	gh = gh[:len(idx)]
	// One goroutine sums a feature in row order, so the sums do not depend on scheduling.
	for k, r := range idx {
		c := &hs[col[r]]
		c.g += gh[k].g
		c.h += gh[k].h
		c.n++
	}
}

// build fills buffer b with the histograms of the tree's features over node ni's rows.
func (gr *grower) build(ni int32, b int32) {
	nd := &gr.nodes[ni]
	s, e := nd.start, nd.end
	for k := s; k < e; k++ {
		r := gr.idx[k]
		gr.gh[k] = gpair{gr.g[r], gr.h[r]}
	}
	gr.jbuf, gr.jstart, gr.jend = gr.buffer(b), s, e
	inline := int(e-s)*len(gr.feats) < inlineCells
	gr.pool.run(gr, jobHist, len(gr.feats), inline)
}

// subtract turns parent buffer pb into the sibling's histograms: parent − built child.
func (gr *grower) subtract(pb, cb int32) {
	p, c := gr.hists[pb], gr.hists[cb]
	for _, f := range gr.feats {
		ph := (*[256]binStat)(p[int(f)*256 : int(f)*256+256])
		ch := (*[256]binStat)(c[int(f)*256 : int(f)*256+256])
		for k := range ph {
			ph[k].g -= ch[k].g
			ph[k].h -= ch[k].h
			ph[k].n -= ch[k].n
		}
	}
}

// less orders the heap: best gain first (leaf-wise), or shallowest first (depth-wise); ties by node id.
func (gr *grower) less(a, b int32) bool {
	na, nb := &gr.nodes[a], &gr.nodes[b]
	if gr.p.DepthWise {
		if na.depth != nb.depth {
			return na.depth < nb.depth
		}
		return a < b
	}
	if na.sp.gain != nb.sp.gain {
		return na.sp.gain > nb.sp.gain
	}
	return a < b
}

func (gr *grower) push(ni int32) {
	h := append(gr.heap, ni)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !gr.less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	gr.heap = h
}

func (gr *grower) pop() int32 {
	h := gr.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && gr.less(h[l], h[m]) {
			m = l
		}
		if r < len(h) && gr.less(h[r], h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	gr.heap = h
	return top
}

// grow builds one tree over gr.idx (the tree's rows) with gradients gr.g, gr.h and returns
// the root's node id; nodes live in gr.nodes until the next call.
func (gr *grower) grow() {
	p := gr.p
	gr.nodes = gr.nodes[:0]
	gr.heap = gr.heap[:0]
	gr.free = gr.free[:0]
	for b := gr.poolCap - 1; b >= 0; b-- {
		gr.free = append(gr.free, int32(b))
	}
	gr.nodes = append(gr.nodes, tnode{start: 0, end: int32(len(gr.idx)), hist: -1, left: -1, right: -1})
	rb := gr.alloc()
	gr.build(0, rb)
	root := &gr.nodes[0]
	root.hist = rb
	hs := gr.hists[rb][int(gr.feats[0])*256:]
	for k := range 256 {
		root.g += hs[k].g
		root.h += hs[k].h
	}
	root.n = root.end - root.start
	leaves := 1
	if gr.splittable(0, leaves) && gr.evaluate(0, rb) {
		gr.push(0)
	} else {
		gr.release(rb)
		gr.nodes[0].hist = -1
	}
	for len(gr.heap) > 0 {
		if p.MaxLeaves > 0 && leaves >= p.MaxLeaves {
			break
		}
		ni := gr.pop()
		l, r := gr.splitNode(ni)
		leaves++
		pb := gr.nodes[ni].hist
		gr.nodes[ni].hist = -1
		okL, okR := gr.splittable(l, leaves), gr.splittable(r, leaves)
		if !okL && !okR {
			gr.release(pb)
			continue
		}
		small, large := l, r
		if gr.nodes[r].n < gr.nodes[l].n {
			small, large = r, l
		}
		sb := gr.alloc()
		if sb < 0 {
			sb = gr.scratch(0)
		}
		gr.build(small, sb)
		lb := pb
		if lb >= 0 {
			gr.subtract(lb, sb)
		} else {
			if lb = gr.alloc(); lb < 0 {
				lb = gr.scratch(1)
			}
			gr.build(large, lb)
		}
		bufs := [2]int32{sb, lb}
		for k, c := range [2]int32{small, large} {
			ok := okL
			if c == r {
				ok = okR
			}
			if ok && gr.evaluate(c, bufs[k]) {
				if bufs[k] < int32(gr.poolCap) {
					gr.nodes[c].hist = bufs[k]
				}
				gr.push(c)
			} else {
				gr.release(bufs[k])
			}
		}
	}
	for _, ni := range gr.heap {
		gr.release(gr.nodes[ni].hist)
		gr.nodes[ni].hist = -1
	}
	gr.heap = gr.heap[:0]
}

// splittable reports whether node ni may still be split, before looking at its histograms.
func (gr *grower) splittable(ni int32, leaves int) bool {
	p, nd := gr.p, &gr.nodes[ni]
	if p.MaxLeaves > 0 && leaves >= p.MaxLeaves {
		return false
	}
	if p.MaxDepth > 0 && int(nd.depth) >= p.MaxDepth {
		return false
	}
	return int(nd.n) >= 2*max(p.MinSamplesLeaf, 1)
}

// splitNode partitions node ni's rows by its split (stable, so children keep row order and
// their histograms sum in a fixed order) and appends its two children.
func (gr *grower) splitNode(ni int32) (int32, int32) {
	nd := gr.nodes[ni]
	sp := &nd.sp
	col := gr.d.bins[sp.feat]
	w, t := nd.start, 0
	for k := nd.start; k < nd.end; k++ {
		r := gr.idx[k]
		b := col[r]
		var left bool
		switch {
		case sp.cat:
			left = sp.set[b>>6]>>(b&63)&1 != 0
		case b == missingBin:
			left = sp.missLeft
		default:
			left = b <= sp.bin
		}
		if left {
			gr.idx[w] = r
			w++
		} else {
			gr.tmp[t] = r
			t++
		}
	}
	copy(gr.idx[w:nd.end], gr.tmp[:t])
	l := int32(len(gr.nodes))
	gr.nodes = append(gr.nodes,
		tnode{start: nd.start, end: w, depth: nd.depth + 1, g: sp.gl, h: sp.hl, n: w - nd.start, hist: -1, left: -1, right: -1},
		tnode{start: w, end: nd.end, depth: nd.depth + 1, g: nd.g - sp.gl, h: nd.h - sp.hl, n: nd.end - w, hist: -1, left: -1, right: -1})
	gr.nodes[ni].left, gr.nodes[ni].right = l, l+1
	return l, l + 1
}

// evaluate finds node ni's best split from the histograms in buffer b; false when none gains.
func (gr *grower) evaluate(ni int32, b int32) bool {
	nd := &gr.nodes[ni]
	nd.sp = split{feat: -1}
	feats := gr.feats
	if gr.p.Forest {
		// sqrt(features) drawn per node, tried in feature order so ties break the same way.
		m := int(math.Ceil(math.Sqrt(float64(len(gr.feats)))))
		gr.nodeFeat = append(gr.nodeFeat[:0], gr.feats...)
		for i := 0; i < m; i++ {
			k := i + gr.rng.IntN(len(gr.nodeFeat)-i)
			gr.nodeFeat[i], gr.nodeFeat[k] = gr.nodeFeat[k], gr.nodeFeat[i]
		}
		feats = gr.nodeFeat[:m]
		slices.Sort(feats)
	}
	buf := gr.hists[b]
	for _, f := range feats {
		hs := (*[256]binStat)(buf[int(f)*256 : int(f)*256+256])
		if gr.d.cat[f] {
			gr.categorical(nd, f, hs)
		} else {
			gr.numeric(nd, f, hs)
		}
	}
	return nd.sp.feat >= 0
}

func (gr *grower) numeric(nd *tnode, f int32, hs *[256]binStat) {
	p := gr.p
	nb := gr.d.nbins[f]
	miss := hs[missingBin]
	hasMiss := miss.n > 0
	last := nb - 2
	if hasMiss {
		last = nb - 1
	}
	if last < 0 {
		return
	}
	pick := -1
	if p.ExtraTrees {
		pick = gr.rng.IntN(last + 1)
	}
	minLeaf := uint32(max(p.MinSamplesLeaf, 1))
	lam := p.L2
	G, H, N := nd.g, nd.h, uint32(nd.n)
	parent := G * G / (H + lam)
	best := &nd.sp
	var gl, hl float64
	var nl uint32
	for b := 0; b <= last; b++ {
		gl += hs[b].g
		hl += hs[b].h
		nl += hs[b].n
		if pick >= 0 && b != pick {
			continue
		}
		if nl < minLeaf || hl < p.MinHessian {
			continue
		}
		nr, hr := N-nl, H-hl
		if nr < minLeaf || hr < p.MinHessian {
			break
		}
		gR := G - gl
		gain := gl*gl/(hl+lam) + gR*gR/(hr+lam) - parent
		if gain > best.gain {
			ml := false
			if !hasMiss {
				ml = nl > nr // no missing here: send unseen missing values to the larger child
			}
			*best = split{gain: gain, feat: f, bin: uint8(b), missLeft: ml, gl: gl, hl: hl, nl: int32(nl)}
		}
	}
	if !hasMiss {
		return
	}
	var gR, hr float64
	var nr uint32
	for b := nb - 1; b >= 1; b-- {
		gR += hs[b].g
		hr += hs[b].h
		nr += hs[b].n
		if pick >= 0 && b-1 != pick {
			continue
		}
		if nr < minLeaf || hr < p.MinHessian {
			continue
		}
		nl, hl := N-nr, H-hr
		if nl < minLeaf || hl < p.MinHessian {
			break
		}
		gl := G - gR
		gain := gl*gl/(hl+lam) + gR*gR/(hr+lam) - parent
		if gain > best.gain {
			*best = split{gain: gain, feat: f, bin: uint8(b - 1), missLeft: true, gl: gl, hl: hl, nl: int32(nl)}
		}
	}
}

// categorical finds a split of a categorical feature the LightGBM way (feature_histogram.cpp):
// one-vs-rest for few categories, else categories sorted by G/(H+cat_smooth) and scanned from
// both ends. Missing is one more category.
func (gr *grower) categorical(nd *tnode, f int32, hs *[256]binStat) {
	p := gr.p
	cats := gr.catBuf[:0]
	for b := 0; b < gr.d.nbins[f]; b++ {
		if hs[b].n > 0 {
			cats = append(cats, uint8(b))
		}
	}
	if hs[missingBin].n > 0 {
		cats = append(cats, missingBin)
	}
	if len(cats) < 2 {
		return
	}
	minLeaf := uint32(max(p.MinSamplesLeaf, 1))
	G, H, N := nd.g, nd.h, uint32(nd.n)
	parent := G * G / (H + p.L2)
	best := &nd.sp
	try := func(gl, hl float64, nl uint32, lam float64) (float64, bool) {
		nr, hr := N-nl, H-hl
		if nl < minLeaf || hl < p.MinHessian || nr < minLeaf || hr < p.MinHessian {
			return 0, false
		}
		gR := G - gl
		return gl*gl/(hl+lam) + gR*gR/(hr+lam) - parent, true
	}
	if len(cats) <= p.MaxCatToOnehot {
		pick := -1
		if p.ExtraTrees {
			pick = gr.rng.IntN(len(cats))
		}
		for k, c := range cats {
			if pick >= 0 && k != pick {
				continue
			}
			if gain, ok := try(hs[c].g, hs[c].h, hs[c].n, p.L2); ok && gain > best.gain {
				*best = split{gain: gain, feat: f, cat: true, gl: hs[c].g, hl: hs[c].h, nl: int32(hs[c].n)}
				best.set[c>>6] |= 1 << (c & 63)
				best.missLeft = c == missingBin
			}
		}
		return
	}
	// Categories too rare to rank reliably stay out of the left set (they go right).
	k := 0
	for _, c := range cats {
		if float64(hs[c].n) >= p.CatSmooth {
			cats[k] = c
			k++
		}
	}
	cats = cats[:k]
	if len(cats) < 2 {
		return
	}
	score := func(c uint8) float64 { return hs[c].g / (hs[c].h + p.CatSmooth) }
	slices.SortStableFunc(cats, func(a, b uint8) int {
		sa, sb := score(a), score(b)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	gr.catBuf = cats[:0]
	maxNum := min(p.MaxCatThreshold, (len(cats)+1)/2)
	lam := p.L2 + p.CatL2
	pick := -1
	if p.ExtraTrees {
		pick = gr.rng.IntN(2 * maxNum)
	}
	for dir := range 2 {
		var gl, hl float64
		var nl, group uint32
		for i := 0; i < len(cats) && i < maxNum; i++ {
			c := cats[i]
			if dir == 1 {
				c = cats[len(cats)-1-i]
			}
			gl += hs[c].g
			hl += hs[c].h
			nl += hs[c].n
			group += hs[c].n
			if nl < minLeaf || hl < p.MinHessian {
				continue
			}
			if nr := N - nl; nr < minLeaf || nr < uint32(p.MinDataPerGroup) || H-hl < p.MinHessian {
				break
			}
			if group < uint32(p.MinDataPerGroup) {
				continue
			}
			group = 0
			if pick >= 0 && dir*maxNum+i != pick {
				continue
			}
			if gain, ok := try(gl, hl, nl, lam); ok && gain > best.gain {
				*best = split{gain: gain, feat: f, cat: true, gl: gl, hl: hl, nl: int32(nl)}
				for j := 0; j <= i; j++ {
					c := cats[j]
					if dir == 1 {
						c = cats[len(cats)-1-j]
					}
					best.set[c>>6] |= 1 << (c & 63)
				}
				best.missLeft = best.set[missingBin>>6]>>(missingBin&63)&1 != 0
			}
		}
	}
}
