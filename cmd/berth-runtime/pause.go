package main

func cmdPause(g *globals, args []string) (int, error) {
	fs := newFlags("pause")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("pause", pos, 1, 1, "<container-id>"); err != nil {
		return 1, err
	}
	return 0, g.runtime().Pause(pos[0])
}

func cmdResume(g *globals, args []string) (int, error) {
	fs := newFlags("resume")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("resume", pos, 1, 1, "<container-id>"); err != nil {
		return 1, err
	}
	return 0, g.runtime().Resume(pos[0])
}
