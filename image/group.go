package image

import "fmt"

// LookupGroup resolves a group for --group-add: a number is used as it is
// (whether or not /etc/group names it), a name is looked up in rootfs's
// /etc/group (read inside rootfs). Docker's error when there is none.
func LookupGroup(rootfs, group string) (uint32, error) {
	if id, ok := parseID(group); ok {
		return id, nil
	}
	data, err := readUserDB(rootfs, groupFile)
	if err != nil {
		return 0, err
	}
	var gid uint32
	found := false
	forEachEntry(data, 3, func(f []string) bool {
		if f[0] == group {
			gid, found = parseID(f[2])
		}
		return !found
	})
	if !found {
		return 0, fmt.Errorf("Unable to find group %s: no matching entries in group file", group)
	}
	return gid, nil
}
