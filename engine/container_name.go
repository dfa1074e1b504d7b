package engine

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// validName reports whether name (without its "/") is one docker accepts:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+, so at least two characters.
func validName(name string) bool {
	if len(name) < 2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte("_.-", c) < 0) {
			return false
		}
	}
	return true
}

// checkName validates a name the user gave (with or without its "/") and
// returns it without the "/".
func checkName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	if !validName(n) {
		return "", Invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return n, nil
}

// nameConflict is docker's error for a name in use.
func nameConflict(name, id string) error {
	return Conflict("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, id)
}

// Words of the generated names: adjective_surname, as docker makes them
// (the surnames are of scientists and engineers).
var (
	nameAdjectives = []string{
		"agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "charming", "cheerful",
		"clever", "cool", "curious", "daring", "dazzling", "eager", "elastic", "elegant", "epic", "fervent",
		"festive", "focused", "friendly", "gallant", "gentle", "glad", "graceful", "happy", "hardy", "honest",
		"hopeful", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "mellow", "merry",
		"modest", "nervous", "nice", "patient", "peaceful", "placid", "polite", "proud", "quick", "quiet",
		"relaxed", "serene", "sharp", "shy", "silly", "sleepy", "smart", "steady", "stoic", "sweet",
		"tender", "trusting", "upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen",
	}
	nameSurnames = []string{
		"agnesi", "babbage", "bardeen", "bartik", "bell", "boole", "borg", "bose", "brahmagupta", "cannon",
		"carson", "cerf", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday", "fermat", "fermi",
		"feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hertz",
		"hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr", "lamport", "leakey", "lovelace", "maxwell",
		"mayer", "meitner", "mendel", "morse", "newton", "nobel", "noether", "pascal", "pasteur", "perlman",
		"planck", "poincare", "ramanujan", "ritchie", "shannon", "sinoussi", "stallman", "tesla", "thompson", "torvalds",
		"turing", "volta", "wilson", "wozniak", "wright", "yalow", "yonath",
	}
)

// generateName makes a docker-style random name; retry > 0 appends a
// digit, as docker does when the first tries were taken.
func generateName(retry int) string {
	name := nameAdjectives[rand.IntN(len(nameAdjectives))] + "_" + nameSurnames[rand.IntN(len(nameSurnames))]
	if retry > 0 {
		name += strconv.Itoa(rand.IntN(10))
	}
	return name
}
