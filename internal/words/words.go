package words

import (
	"strconv"
	"strings"
)

// Count returns n and noun, made plural with an "s" unless n is 1:
// "1 qube", "0 qubes", "2 firewall qubes".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Or joins words as a message lists the choices: "a, b or c".
func Or(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
