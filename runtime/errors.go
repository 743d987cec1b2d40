package runtime

import "fmt"

func errTarget(t, pos, classes int) error {
	return fmt.Errorf("target %d at position %d is outside [0, %d)", t, pos, classes)
}
