package cgroups

import "testing"

func TestValidPageSize(t *testing.T) {
	for s, want := range map[string]bool{"2MB": true, "1GB": true, "64KB": true, "16EB": true, "10MB": true,
		"": false, "MB": false, "0MB": false, "02MB": false, "2mb": false, "2M": false, "2XB": false, "2 MB": false, "1a0MB": false, "B": false} {
		if got := validPageSize(s); got != want {
			t.Errorf("validPageSize(%q) = %v, want %v", s, got, want)
		}
	}
}
