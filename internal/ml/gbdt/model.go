package gbdt

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Output transforms of the summed tree scores.
const (
	OutputSigmoid  = "sigmoid"  // binary boosting: p = 1/(1+e^-s)
	OutputSoftmax  = "softmax"  // multiclass boosting
	OutputIdentity = "identity" // regression
	OutputProba    = "proba"    // classification forest: scores are class probabilities already
)

// Tree is one tree as struct-of-arrays (docs/model-format.md#members). Internal nodes are numbered in
// breadth-first order from 0 (the root, when the tree has any split); Left and Right hold an
// internal node's index, or ^i (negative) for leaf i. A row goes left when its value is <=
// Threshold (numeric) or its category code is in the node's bitset (categorical), and to
// DefaultLeft's side when missing, or, for a categorical node, when the code is unseen.
type Tree struct {
	Feature     []int32   `json:"feature"`
	Threshold   []float64 `json:"threshold"`
	Left        []int32   `json:"left"`
	Right       []int32   `json:"right"`
	DefaultLeft []bool    `json:"default_left"`
	// CatOffset is -1 for a numeric node, else the offset in Model.CatBits of the node's bitset
	// over the feature's NumCodes category codes.
	CatOffset []int32   `json:"cat_offset"`
	Leaf      []float64 `json:"leaf"` // learning rate (and forest averaging) folded in
}

// Model is a fitted GBDT or forest. Its JSON (exported fields) is the whole model: thresholds
// are raw values and categorical splits bitsets over category codes, so inference needs no
// Dataset. Decode it with encoding/json; UnmarshalJSON repacks it for Predict.
type Model struct {
	Loss         string    `json:"loss"`
	NumClass     int       `json:"num_class"`
	Output       string    `json:"output"`
	Features     []string  `json:"features"`
	Categorical  []bool    `json:"categorical"`
	NumCodes     []int32   `json:"num_codes"` // categorical dictionary sizes; codes >= this are unseen
	BaseScore    []float64 `json:"base_score"`
	TreesPerIter int       `json:"trees_per_iteration"`
	Iters        int       `json:"iterations"`
	Gain         []float64 `json:"importance"` // total split gain per feature
	CatBits      []uint32  `json:"cat_bits"`
	Trees        []Tree    `json:"trees"`
	Params       Params    `json:"params"` // as fitted, Workers zeroed (it cannot change the model)

	packed []pnode // all trees, each in BFS order with children adjacent
	roots  []int32

	// Binned twins of the trees, kept after Fit (not serialized) so PredictRows on the training
	// Dataset can skip raw values.
	ds     *Dataset
	bnodes []bnode
	broots []int32
	bsets  [][4]uint64
	// splitGain[t][i] is tree t's internal node i's gain (for Importance after truncation).
	splitGain [][]float64
}

// pnode is a 16-byte inference node. left == 0 marks a leaf (the root is never a child) whose
// value is in v. Otherwise v is the threshold, or for a categorical node the bit offset's word
// index in CatBits; the children are left and left+1.
type pnode struct {
	v    float64
	feat uint32 // feature | flagCat | flagDefaultLeft
	left int32
}

const (
	flagCat         = 1 << 31
	flagDefaultLeft = 1 << 30
	featMask        = 1<<30 - 1
)

// bnode is the binned twin of a node, used on training rows.
type bnode struct {
	value    float64
	left     int32 // 0 = leaf; children left, left+1
	feat     int32
	set      int32 // categorical: index into bsets, else -1
	bin      uint8
	missLeft bool
}

// NumOutputs is K probabilities for classification (2 for binary: [1-p, p]), 1 for regression.
func (m *Model) NumOutputs() int {
	if m.Loss == "squared_error" {
		return 1
	}
	return m.NumClass
}

// Iterations is the number of boosting rounds kept (trees for a forest).
func (m *Model) Iterations() int { return m.Iters }

// Importance is the total split gain per feature, in Dataset feature order.
func (m *Model) Importance() []float64 { return slices.Clone(m.Gain) }

// Predict writes row x's outputs (NumOutputs of them) into out. x holds raw values in the
// Dataset's feature order: numbers, category codes as float64, NaN for missing. It allocates
// nothing and is safe for concurrent use.
func (m *Model) Predict(x []float64, out []float64) {
	m.mustBeReady()
	k := m.TreesPerIter
	out = out[:m.NumOutputs()]
	raw := out[:k]
	copy(raw, m.BaseScore)
	nodes := m.packed
	bits := m.CatBits
	codes := m.NumCodes
	for t, root := range m.roots {
		i := root
		for {
			n := &nodes[i]
			if n.left == 0 {
				raw[t%k] += n.v
				break
			}
			f := n.feat & featMask
			v := x[f]
			var left bool
			switch {
			case n.feat&flagCat != 0:
				if v >= 0 && v < float64(codes[f]) {
					c := int(v)
					left = bits[int(n.v)+c>>5]>>(c&31)&1 != 0
				} else {
					left = n.feat&flagDefaultLeft != 0
				}
			case v <= n.v:
				left = true
			case v != v:
				left = n.feat&flagDefaultLeft != 0
			}
			i = n.left
			if !left {
				i++
			}
		}
	}
	m.finish(out)
}

// finish turns raw scores (out[:TreesPerIter]) into the outputs.
func (m *Model) finish(out []float64) {
	switch m.Output {
	case OutputSigmoid:
		p := sigmoid(out[0])
		out[0], out[1] = 1-p, p
	case OutputSoftmax:
		softmax(out)
	case OutputProba:
		if m.NumClass == 2 {
			p := min(max(out[0], 0), 1)
			out[0], out[1] = 1-p, p
			return
		}
		var s float64
		for i, v := range out {
			v = min(max(v, 0), 1)
			out[i] = v
			s += v
		}
		if s > 0 {
			for i := range out {
				out[i] /= s
			}
		} else {
			for i := range out {
				out[i] = 1 / float64(len(out))
			}
		}
	}
}

func sigmoid(s float64) float64 {
	if s >= 0 {
		return 1 / (1 + math.Exp(-s))
	}
	e := math.Exp(s)
	return e / (1 + e)
}

func softmax(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	var s float64
	for i, x := range v {
		e := math.Exp(x - mx)
		v[i] = e
		s += e
	}
	for i := range v {
		v[i] /= s
	}
}

// PredictRows predicts Dataset rows into out (len(rows)*NumOutputs(), row-major). On the Dataset
// the model was fitted on it walks the binned trees (no raw values needed); the result is
// bit-identical to Predict on the rows' raw values.
func (m *Model) PredictRows(d *Dataset, rows []int32, out []float64) {
	no := m.NumOutputs()
	if d == m.ds && m.bnodes != nil {
		k := m.TreesPerIter
		for i, r := range rows {
			o := out[i*no : (i+1)*no]
			copy(o[:k], m.BaseScore)
			for t, root := range m.broots {
				o[t%k] += m.walkBinned(root, r)
			}
			m.finish(o)
		}
		return
	}
	x := make([]float64, len(d.names))
	for i, r := range rows {
		d.Row(int(r), x)
		m.Predict(x, out[i*no:(i+1)*no])
	}
}

func (m *Model) walkBinned(i int32, r int32) float64 {
	bins := m.ds.bins
	for {
		n := &m.bnodes[i]
		if n.left == 0 {
			return n.value
		}
		b := bins[n.feat][r]
		var left bool
		switch {
		case n.set >= 0:
			left = m.bsets[n.set][b>>6]>>(b&63)&1 != 0
		case b == missingBin:
			left = n.missLeft
		default:
			left = b <= n.bin
		}
		i = n.left
		if !left {
			i++
		}
	}
}

// addTree appends the grower's current tree (leaf values already set) in both forms.
func (m *Model) addTree(gr *grower) {
	d := gr.d
	var t Tree
	// BFS over the grower's nodes: internal nodes and leaves numbered in visiting order.
	order := append(gr.order[:0], 0)
	for q := 0; q < len(order); q++ {
		if n := &gr.nodes[order[q]]; n.left >= 0 {
			order = append(order, n.left, n.right)
		}
	}
	id := slices.Grow(gr.id[:0], len(gr.nodes))[:len(gr.nodes)] // grower node -> internal index or ^leaf index
	gr.order, gr.id = order, id
	ni, nl := int32(0), int32(0)
	for _, o := range order {
		if gr.nodes[o].left >= 0 {
			id[o] = ni
			ni++
		} else {
			id[o] = ^nl
			nl++
		}
	}
	broot := int32(len(m.bnodes))
	m.broots = append(m.broots, broot)
	gains := make([]float64, 0, ni)
	for _, o := range order {
		n := &gr.nodes[o]
		bn := bnode{feat: -1, set: -1}
		if n.left < 0 {
			bn.value = n.value
			t.Leaf = append(t.Leaf, n.value)
			m.bnodes = append(m.bnodes, bn)
			continue
		}
		sp := &n.sp
		f := int(sp.feat)
		bn.feat, bn.bin, bn.missLeft = sp.feat, sp.bin, sp.missLeft
		t.Feature = append(t.Feature, sp.feat)
		gains = append(gains, sp.gain)
		t.Left = append(t.Left, id[n.left])
		t.Right = append(t.Right, id[n.right])
		t.DefaultLeft = append(t.DefaultLeft, sp.missLeft)
		if sp.cat {
			bn.set = int32(len(m.bsets))
			m.bsets = append(m.bsets, sp.set)
			off := int32(len(m.CatBits))
			words := make([]uint32, (d.numCodes[f]+31)/32)
			for c, b := range d.codeBin[f] {
				if sp.set[b>>6]>>(b&63)&1 != 0 {
					words[c>>5] |= 1 << (c & 31)
				}
			}
			m.CatBits = append(m.CatBits, words...)
			t.CatOffset = append(t.CatOffset, off)
			t.Threshold = append(t.Threshold, 0)
		} else {
			t.CatOffset = append(t.CatOffset, -1)
			thr := math.MaxFloat64 // all non-missing values left: the last bin has no upper edge
			if int(sp.bin) < len(d.edges[f]) {
				thr = d.edges[f][sp.bin]
			}
			t.Threshold = append(t.Threshold, thr)
		}
		m.bnodes = append(m.bnodes, bn)
	}
	// Children are adjacent in BFS order: the q-th internal node's children are the (2q+1)th
	// and (2q+2)th nodes after the root.
	q := int32(0)
	for i := broot; i < int32(len(m.bnodes)); i++ {
		if m.bnodes[i].feat >= 0 {
			m.bnodes[i].left = broot + 2*q + 1
			q++
		}
	}
	m.Trees = append(m.Trees, t)
	m.splitGain = append(m.splitGain, gains)
}

// pack builds the inference slice from the exported trees and checks them, so a hand-edited
// or truncated model fails at load rather than panicking in Predict.
func (m *Model) pack() error {
	nf := len(m.Features)
	if len(m.Categorical) != nf || len(m.NumCodes) != nf {
		return fmt.Errorf("gbdt model: %d features but %d categorical flags and %d code counts", nf, len(m.Categorical), len(m.NumCodes))
	}
	switch m.Output {
	case OutputSigmoid, OutputIdentity:
		if m.TreesPerIter != 1 {
			return fmt.Errorf("gbdt model: output %s needs 1 tree per iteration, got %d", m.Output, m.TreesPerIter)
		}
	case OutputSoftmax:
		if m.TreesPerIter != m.NumClass || m.NumClass < 2 {
			return fmt.Errorf("gbdt model: softmax over %d classes with %d trees per iteration", m.NumClass, m.TreesPerIter)
		}
	case OutputProba:
		if m.NumClass < 2 || (m.TreesPerIter != m.NumClass && !(m.NumClass == 2 && m.TreesPerIter == 1)) {
			return fmt.Errorf("gbdt model: proba over %d classes with %d trees per iteration", m.NumClass, m.TreesPerIter)
		}
	default:
		return fmt.Errorf("gbdt model: unknown output %q", m.Output)
	}
	if m.NumOutputs() < m.TreesPerIter || len(m.BaseScore) != m.TreesPerIter {
		return fmt.Errorf("gbdt model: %d base scores for %d trees per iteration", len(m.BaseScore), m.TreesPerIter)
	}
	if len(m.Trees)%m.TreesPerIter != 0 {
		return fmt.Errorf("gbdt model: %d trees is not a multiple of %d", len(m.Trees), m.TreesPerIter)
	}
	m.packed = m.packed[:0]
	m.roots = m.roots[:0]
	for ti := range m.Trees {
		t := &m.Trees[ti]
		ni := len(t.Feature)
		if len(t.Threshold) != ni || len(t.Left) != ni || len(t.Right) != ni || len(t.DefaultLeft) != ni ||
			len(t.CatOffset) != ni || len(t.Leaf) != ni+1 {
			return fmt.Errorf("gbdt model: tree %d: inconsistent array lengths", ti)
		}
		root := int32(len(m.packed))
		m.roots = append(m.roots, root)
		// BFS from the root; ref >= 0 an internal node, < 0 a leaf.
		queue := []int32{0}
		if ni == 0 {
			queue[0] = ^0
		}
		seen := 0
		for q := 0; q < len(queue); q++ {
			ref := queue[q]
			if ref < 0 {
				l := int(^ref)
				if l >= len(t.Leaf) {
					return fmt.Errorf("gbdt model: tree %d: leaf %d out of range", ti, l)
				}
				m.packed = append(m.packed, pnode{v: t.Leaf[l]})
				continue
			}
			if int(ref) >= ni || seen > ni {
				return fmt.Errorf("gbdt model: tree %d: node %d out of range or cyclic", ti, ref)
			}
			seen++
			f := t.Feature[ref]
			if f < 0 || int(f) >= nf {
				return fmt.Errorf("gbdt model: tree %d node %d: feature %d out of range", ti, ref, f)
			}
			pn := pnode{feat: uint32(f), left: root + int32(len(queue))}
			if t.DefaultLeft[ref] {
				pn.feat |= flagDefaultLeft
			}
			if off := t.CatOffset[ref]; off >= 0 {
				if !m.Categorical[f] || int(off)+(int(m.NumCodes[f])+31)/32 > len(m.CatBits) {
					return fmt.Errorf("gbdt model: tree %d node %d: bad categorical split", ti, ref)
				}
				pn.feat |= flagCat
				pn.v = float64(off)
			} else {
				pn.v = t.Threshold[ref]
			}
			m.packed = append(m.packed, pn)
			queue = append(queue, t.Left[ref], t.Right[ref])
		}
		if seen != ni || len(queue)-seen != ni+1 {
			return fmt.Errorf("gbdt model: tree %d: not a tree (%d of %d nodes reached)", ti, seen, ni)
		}
	}
	return nil
}

// UnmarshalJSON decodes a model and readies it for Predict.
func (m *Model) UnmarshalJSON(b []byte) error {
	type plain Model
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Model(p)
	return m.pack()
}

// PredictBatch predicts n rows of x (row-major, len(Features) values per row, as Predict reads
// them) into out (n*NumOutputs(), row-major). It walks tree-outer, rows-inner so a tree's nodes
// stay in cache across rows, and adds each row's leaves in tree order exactly as Predict does,
// so every output is bit-identical to Predict's. It allocates nothing.
func (m *Model) PredictBatch(x []float64, n int, out []float64) {
	m.mustBeReady()
	no := m.NumOutputs()
	k := m.TreesPerIter
	nf := len(m.Features)
	x = x[:n*nf]
	out = out[:n*no]
	for r := 0; r < n; r++ {
		copy(out[r*no:r*no+k], m.BaseScore)
	}
	nodes := m.packed
	bits := m.CatBits
	codes := m.NumCodes
	for t, root := range m.roots {
		c := t % k
		for r := 0; r < n; r++ {
			row := x[r*nf : (r+1)*nf]
			i := root
			for {
				nd := &nodes[i]
				if nd.left == 0 {
					out[r*no+c] += nd.v
					break
				}
				f := nd.feat & featMask
				v := row[f]
				var left bool
				switch {
				case nd.feat&flagCat != 0:
					if v >= 0 && v < float64(codes[f]) {
						cc := int(v)
						left = bits[int(nd.v)+cc>>5]>>(cc&31)&1 != 0
					} else {
						left = nd.feat&flagDefaultLeft != 0
					}
				case v <= nd.v:
					left = true
				case v != v:
					left = nd.feat&flagDefaultLeft != 0
				}
				i = nd.left
				if !left {
					i++
				}
			}
		}
	}
	for r := 0; r < n; r++ {
		m.finish(out[r*no : (r+1)*no])
	}
}

// MemoryBytes estimates the bytes the model holds: its trees in both the exported and the
// inference form (and the binned twins until ReleaseTraining). AutoML budgets its retained
// fold models with it, so it counts nodes, not the runtime's heap, and is deterministic.
func (m *Model) MemoryBytes() int64 {
	const treeHeader = 7 * 24 // the seven slice headers of a Tree
	n := int64(len(m.CatBits))*4 + int64(len(m.packed))*16 + int64(len(m.roots))*4 +
		int64(len(m.bnodes))*24 + int64(len(m.broots))*4 + int64(len(m.bsets))*32
	for i := range m.Trees {
		t := &m.Trees[i]
		n += treeHeader + int64(len(t.Feature))*(4+8+4+4+1+4) + int64(len(t.Leaf))*8
	}
	return n
}
