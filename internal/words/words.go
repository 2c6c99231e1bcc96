package words

import "strconv"

// Count returns n and noun, made plural with an "s" unless n is 1:
// "1 qube", "0 qubes", "2 firewall qubes".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
