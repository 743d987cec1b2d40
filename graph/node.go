package graph

import (
	"fmt"
	"strconv"
)

// Role says which part of a program a node belongs to.
type Role uint8

const (
	RoleForward  Role = iota // computed by the forward pass
	RoleInput                // fed by the caller on every call
	RoleParam                // trainable variable, lives across calls
	RoleState                // non-trainable variable (optimizer moments, step count, KV cache)
	RoleBackward             // computed by the backward pass; Of names the forward node it differentiates
	RoleUpdate               // optimizer update: writes variables, runs after backward
)

var roleNames = [...]string{RoleForward: "forward", RoleInput: "input", RoleParam: "param", RoleState: "state", RoleBackward: "backward", RoleUpdate: "update"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole parses a printed role name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return Role(r), nil
		}
	}
	return 0, fmt.Errorf("unknown role %q", s)
}

// Pos is a DSL source position, relative to the module root of the model's code.
type Pos struct {
	File string
	Line int
}

func (p Pos) IsValid() bool { return p.File != "" }

func (p Pos) String() string {
	if p.File == "" {
		return "?"
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Node is one SSA value: an op applied to earlier values.
type Node struct {
	ID     int     // dense index in Graph.Nodes after Renumber
	Op     Op      // what it computes
	Inputs []*Node // operands, all earlier in Graph.Nodes
	Type   Type    // dtype and static shape of the result
	Attrs  Attrs   // op parameters; only the op's declared attributes are meaningful
	Name   string  // name given in the DSL, "" if none
	Pos    Pos     // DSL call site
	Role   Role
	Of     *Node // for RoleBackward: the forward node this node helps differentiate
}

// Ref is how other nodes refer to n in the text form: v12.
func (n *Node) Ref() string { return "v" + strconv.Itoa(n.ID) }

// Label is the name if the DSL gave one, else the ref.
func (n *Node) Label() string {
	if n.Name != "" {
		return n.Name
	}
	return n.Ref()
}

// Info is the op-table entry of n's op.
func (n *Node) Info() *OpInfo { return n.Op.Info() }

// IsVariable reports whether n is a Param or State: storage that outlives a call.
func (n *Node) IsVariable() bool { return n.Op == OpParam || n.Op == OpState }
