package network

import (
	"fmt"
	"os/exec"
	"strings"
)

// sharedChains are made by the plugins for every container and stay.
var sharedChains = map[string]bool{
	"CNI-HOSTPORT-DNAT": true, "CNI-HOSTPORT-SETMARK": true, "CNI-HOSTPORT-MASQ": true,
	"CNI-FORWARD": true, "CNI-ADMIN": true,
}

// purgeRules deletes every iptables rule whose comment names the container
// (the plugins tag their rules `name: "NET" id: "ID"`) and the per-container
// CNI chains those rules jump to. It is the safety net for a DEL that could
// not see the container's addresses (namespace already gone).
func purgeRules(containerID string, networks []string) error {
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil
	}
	markers := make([]string, 0, len(networks))
	for _, n := range networks {
		markers = append(markers, `name: "`+n+`" id: "`+containerID+`"`)
	}
	var firstErr error
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("iptables-save -t %s: %w", table, err)
			}
			continue
		}
		chains := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, containerID) {
				continue
			}
			args, err := splitRule(line)
			if err != nil || !ruleHasComment(args, markers) {
				continue
			}
			args[0] = "-D"
			for i := 0; i+1 < len(args); i++ {
				if args[i] == "-j" && strings.HasPrefix(args[i+1], "CNI-") && !sharedChains[args[i+1]] {
					chains[args[i+1]] = true
				}
			}
			if o, err := exec.Command("iptables", append([]string{"-w", "-t", table}, args...)...).CombinedOutput(); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("iptables -t %s %s: %v: %s", table, strings.Join(args, " "), err, strings.TrimSpace(string(o)))
			}
		}
		for c := range chains {
			_ = exec.Command("iptables", "-w", "-t", table, "-F", c).Run()
			_ = exec.Command("iptables", "-w", "-t", table, "-X", c).Run()
		}
	}
	return firstErr
}

func ruleHasComment(args []string, markers []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "--comment" {
			continue
		}
		for _, m := range markers {
			if strings.Contains(args[i+1], m) {
				return true
			}
		}
	}
	return false
}

// splitRule splits an iptables-save rule line into arguments: words are
// separated by spaces; double quotes group, and a backslash inside quotes
// escapes the next character.
func splitRule(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case c == ' ' && !inQuote:
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// purgeForwardRules deletes the firewall plugin's CNI-FORWARD rules for the
// given container addresses (CIDR form). The plugin needs the ADD result to
// find them on DEL; this covers a lost result cache. It must run while the
// addresses are still leased to the container, i.e. before the DEL.
func purgeForwardRules(cidrs []string) error {
	if len(cidrs) == 0 {
		return nil
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil
	}
	hosts := map[string]bool{}
	for _, c := range cidrs {
		if i := strings.IndexByte(c, '/'); i >= 0 {
			c = c[:i]
		}
		hosts[c+"/32"] = true
	}
	out, err := exec.Command("iptables-save", "-t", "filter").Output()
	if err != nil {
		return fmt.Errorf("iptables-save -t filter: %w", err)
	}
	var firstErr error
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A CNI-FORWARD ") {
			continue
		}
		args, err := splitRule(line)
		if err != nil {
			continue
		}
		match := false
		for i := 0; i+1 < len(args); i++ {
			if (args[i] == "-s" || args[i] == "-d") && hosts[args[i+1]] {
				match = true
			}
		}
		if !match {
			continue
		}
		args[0] = "-D"
		if o, err := exec.Command("iptables", append([]string{"-w", "-t", "filter"}, args...)...).CombinedOutput(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(o)))
		}
	}
	return firstErr
}
