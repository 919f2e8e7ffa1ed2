package sim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// xmlNode is a parsed element of a request body.
type xmlNode struct {
	name     string
	attrs    map[string]string
	children []*xmlNode
	text     strings.Builder
}

// decodeXML reads a Coupa XML request body (<invoice-header><invoice-number>..</invoice-number>...) into
// record fields, honouring type="integer|boolean|decimal|array" and nil="true".
func decodeXML(data []byte) (obj, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if len(stack) > 64 {
				return nil, errors.New("elements nested too deeply")
			}
			n := &xmlNode{name: x.Name.Local, attrs: map[string]string{}}
			for _, a := range x.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				return nil, errors.New("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(x)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	o, ok := xmlValue(root).(obj)
	if !ok {
		return nil, errors.New("the root element must contain fields")
	}
	return o, nil
}

func xmlValue(n *xmlNode) any {
	if n.attrs["nil"] == "true" {
		return nil
	}
	if n.attrs["type"] == "array" {
		out := make([]any, 0, len(n.children))
		for _, c := range n.children {
			out = append(out, xmlValue(c))
		}
		return out
	}
	if len(n.children) > 0 {
		o := make(obj, 0, len(n.children))
		for _, c := range n.children {
			o = append(o, kv{c.name, xmlValue(c)})
		}
		return o
	}
	text := strings.TrimSpace(n.text.String())
	switch n.attrs["type"] {
	case "integer":
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return i
		}
	case "boolean":
		if b, err := parseBool(text); err == nil {
			return b
		}
	case "decimal", "float":
		return dec(text)
	}
	return text
}
