package par

import "testing"

func TestEach(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		got := make([]int, n)
		Each(n, func(i int) { got[i] += i + 1 })
		for i, v := range got {
			if v != i+1 {
				t.Fatalf("n=%d: slot %d = %d; want %d (each i once)", n, i, v, i+1)
			}
		}
	}
}
