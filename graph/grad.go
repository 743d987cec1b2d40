package graph

// GradRule returns, for each operand of n, the gradient d loss/d operand given
// dy = d loss/d n, or nil where no gradient flows (integer and mask operands).
// New nodes are created through b, which marks them as backward nodes of n.
type GradRule func(b *Builder, n *Node, dy *Node) []*Node
