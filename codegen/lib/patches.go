package lib

// The window helpers of the IR's Im2Col and Col2Im. Generated packages get
// them (as mlc_patches.go) only when they use those ops, so that the others
// stay as they were.

// patchGeom is the geometry of im2col and col2im: the number of spatial
// axes r, then per axis (up to 3) the image size, kernel size, output
// positions, stride, dilation and begin pad.
type patchGeom [19]int

// patchWalk calls f(image index or −1 for padding, column index) for every
// element of the columns [nc, K…, O…] of nc images [D…].
func patchWalk(g patchGeom, nc int, f func(src, col int)) {
	r := g[0]
	var in, k, o, s, d, p [3]int
	kn, on, img := 1, 1, 1
	for i := range r {
		in[i], k[i], o[i], s[i], d[i], p[i] = g[1+6*i], g[2+6*i], g[3+6*i], g[4+6*i], g[5+6*i], g[6+6*i]
		kn, on, img = kn*k[i], on*o[i], img*in[i]
	}
	col := 0
	for c := range nc {
		for kk := range kn {
			for oo := range on {
				src := c * img
				kr, or := kk, oo
				stride := img
				for i := range r {
					// Axis i's kernel and output coordinates, outermost first.
					kdiv, odiv := 1, 1
					for j := i + 1; j < r; j++ {
						kdiv, odiv = kdiv*k[j], odiv*o[j]
					}
					ki, oi := kr/kdiv, or/odiv
					kr, or = kr%kdiv, or%odiv
					x := oi*s[i] + ki*d[i] - p[i]
					stride /= in[i]
					if x < 0 || x >= in[i] {
						src = -1
						break
					}
					src += x * stride
				}
				f(src, col)
				col++
			}
		}
	}
}

// im2col gathers kernel windows into columns (the IR's Im2Col).
func im2col[T float](out, x []T, nc int, g patchGeom, fill T) {
	patchWalk(g, nc, func(src, col int) {
		if src < 0 {
			out[col] = fill
		} else {
			out[col] = x[src]
		}
	})
}

// col2im adds columns back into images (the IR's Col2Im).
func col2im[T float](out, cols []T, nc int, g patchGeom) {
	clear(out)
	patchWalk(g, nc, func(src, col int) {
		if src >= 0 {
			out[src] += cols[col]
		}
	})
}
