package serve

import (
	"math"
	"strconv"
	"sync"
)

// scratch is the per-request memory, pooled so a request allocates
// nothing for its rows, predictions or answer.
type scratch struct {
	body []byte
	x    []float64
	out  []float64
	seen []bool
	tmp  []byte
	key  []byte
	cols []int
	nan  []float64
	resp []byte
}

// nanRow returns n NaNs.
func (sc *scratch) nanRow(n int) []float64 {
	if len(sc.nan) != n {
		sc.nan = make([]float64, n)
		for i := range sc.nan {
			sc.nan[i] = math.NaN()
		}
	}
	return sc.nan
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{body: make([]byte, 0, 4096), resp: make([]byte, 0, 1024)}
}}

// maxPooled keeps one huge request from pinning its buffers forever.
const maxPooled = 1 << 20

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.body) > maxPooled || cap(sc.resp) > maxPooled || cap(sc.x) > maxPooled/8 {
		return
	}
	scratchPool.Put(sc)
}

// ClassicResponse is how /score answers the classic {"data"} body.
const (
	// ClassicString double-encodes, as Azure's AutoML scoring script
	// does: the body is a JSON string holding {"result": [...]}.
	ClassicString = "string"
	// ClassicObject answers the object {"result": [...]}.
	ClassicObject = "object"
)

// encode appends the answer for req to dst in the protocol's shape.
func (l *loaded) encode(dst []byte, req *request, out []float64, classic string) []byte {
	switch req.shape {
	case shapeClassic:
		if classic == ClassicObject {
			dst = append(dst, `{"result": `...)
			dst = l.appendResults(dst, req, out, false)
			return append(dst, '}')
		}
		dst = append(dst, `"{\"result\": `...)
		dst = l.appendResults(dst, req, out, true)
		return append(dst, `}"`...)
	case shapeInputs:
		dst = append(dst, `{"Results": `...)
		dst = l.appendResults(dst, req, out, false)
		return append(dst, '}')
	case shapeOIP:
		return l.appendOIP(dst, req, out)
	default: // MLflow forms
		dst = append(dst, `{"predictions": `...)
		dst = l.appendResults(dst, req, out, false)
		return append(dst, '}')
	}
}

// appendResults writes the prediction list with Python's json.dumps
// spacing; twice escapes labels for the double-encoded classic answer.
func (l *loaded) appendResults(dst []byte, req *request, out []float64, twice bool) []byte {
	dst = append(dst, '[')
	for r := 0; r < req.rows; r++ {
		if r > 0 {
			dst = append(dst, ", "...)
		}
		p := out[r*l.nout : (r+1)*l.nout]
		switch {
		case req.proba:
			dst = append(dst, '[')
			for k, v := range p {
				if k > 0 {
					dst = append(dst, ", "...)
				}
				dst = appendPyFloat(dst, v)
			}
			dst = append(dst, ']')
		case l.nout == 1:
			dst = appendPyFloat(dst, p[0])
		case twice:
			dst = append(dst, l.label2[argmax(p)]...)
		default:
			dst = append(dst, l.label1[argmax(p)]...)
		}
	}
	return append(dst, ']')
}

func (l *loaded) appendOIP(dst []byte, req *request, out []float64) []byte {
	dst = append(dst, `{"model_name":`...)
	dst = appendJSONString(dst, l.name)
	dst = append(dst, `,"model_version":"`...)
	dst = strconv.AppendInt(dst, int64(l.version), 10)
	dst = append(dst, '"')
	if req.oipID != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, req.oipID...)
	}
	dst = append(dst, `,"outputs":[`...)
	outs := req.outs[:req.nouts]
	if len(outs) == 0 {
		outs = []output{outPredict}
	}
	for k, o := range outs {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = l.appendTensor(dst, o, req.rows, out)
	}
	return append(dst, "]}"...)
}

// appendTensor writes one OIP output tensor.
func (l *loaded) appendTensor(dst []byte, o output, rows int, out []float64) []byte {
	dst = append(dst, `{"name":"`...)
	switch {
	case o == outProba:
		dst = append(dst, `predict_proba","shape":[`...)
		dst = strconv.AppendInt(dst, int64(rows), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(l.nout), 10)
		dst = append(dst, `],"datatype":"FP64","data":[`...)
		for i, v := range out[:rows*l.nout] {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendPyFloat(dst, v)
		}
	case l.nout == 1:
		dst = append(dst, `predict","shape":[`...)
		dst = strconv.AppendInt(dst, int64(rows), 10)
		dst = append(dst, `],"datatype":"FP64","data":[`...)
		for r := 0; r < rows; r++ {
			if r > 0 {
				dst = append(dst, ',')
			}
			dst = appendPyFloat(dst, out[r])
		}
	default:
		dst = append(dst, `predict","shape":[`...)
		dst = strconv.AppendInt(dst, int64(rows), 10)
		dst = append(dst, `],"datatype":"BYTES","data":[`...)
		for r := 0; r < rows; r++ {
			if r > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, l.label1[argmax(out[r*l.nout:(r+1)*l.nout])]...)
		}
	}
	return append(dst, "]}"...)
}
