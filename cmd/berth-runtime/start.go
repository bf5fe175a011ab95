package main

func cmdStart(g *globals, args []string) (int, error) {
	fs := newFlags("start")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("start", pos, 1, 1, "<container-id>"); err != nil {
		return 1, err
	}
	return 0, g.runtime().Start(pos[0])
}
