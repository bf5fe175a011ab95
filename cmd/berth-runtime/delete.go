package main

func cmdDelete(g *globals, args []string) (int, error) {
	fs := newFlags("delete")
	force := fs.Bool("force", false, "kill a running container first; clean up after a crashed create")
	fs.BoolVar(force, "f", false, "kill a running container first")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("delete", pos, 1, -1, "[--force] <container-id>..."); err != nil {
		return 1, err
	}
	var first error
	for _, id := range pos {
		if err := g.runtime().Delete(id, *force); err != nil && first == nil {
			first = err
		}
	}
	return 0, first
}
